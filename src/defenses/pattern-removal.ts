import type { Classifier } from '../engine/classifier.js';
import { AntidoteError } from '../errors.js';
import { rowArgmax } from '../numeric/argmax.js';

/**
 * The per-record causal removal test of a trigger pattern (issue 16, trigger transfer's
 * expansion; docs/detectors.md, "Trigger transfer: the per-record removal test"): an estimated
 * input-space pattern is subtracted from every record of the class it is suspected of serving
 * (clipped to the data's range), and the model is asked again. A record that carries the trigger
 * (a "3" with the trigger, labelled "0") loses the class once the pattern is gone; a clean record
 * of the class, which never carried it, keeps it. One forward pass of the class's records per
 * pattern, plus one (shared) of the records as they are.
 */
export interface PatternRemoval {
  /**
   * Per record, how much the model's log-probability of the class falls when the pattern is
   * removed: log p(c | x) − log p(c | clip(x − pattern)) (probabilities floored at 1e-12).
   */
  readonly drop: Float64Array;
  /** Per record, 1 when the model assigns it to the class as it is and to another class without the pattern. */
  readonly leaves: Uint8Array;
}

/** Floor of the probabilities whose logarithms are compared. */
const PROBABILITY_FLOOR = 1e-12;

/**
 * {@link PatternRemoval} of `pattern` on `count` records `x` of class `classIndex`, whose class
 * probabilities as they are (one forward pass, shared by the class's patterns) are `before`; the patterned-out
 * records are clipped to `[lo, hi]`. `SHAPE_MISMATCH` when the sizes disagree.
 */
export async function patternRemoval(
  model: Classifier,
  x: Float32Array,
  count: number,
  before: Float32Array,
  pattern: ArrayLike<number>,
  classIndex: number,
  lo: number,
  hi: number,
): Promise<PatternRemoval> {
  const size = pattern.length;
  if (x.length !== count * size || count === 0 || before.length % count !== 0) {
    throw new AntidoteError(
      'SHAPE_MISMATCH',
      `pattern removal: ${x.length} values, ${count} records, a pattern of ${size} and ${before.length} probabilities do not agree`,
    );
  }
  const k = before.length / count;
  const removed = new Float32Array(x.length);
  for (let r = 0; r < count; r++) {
    const o = r * size;
    for (let j = 0; j < size; j++) {
      removed[o + j] = Math.max(lo, Math.min(hi, x[o + j]! - pattern[j]!));
    }
  }
  const after = await model.predictProba(removed, count);
  const was = rowArgmax(before, count, k);
  const now = rowArgmax(after, count, k);
  const drop = new Float64Array(count);
  const leaves = new Uint8Array(count);
  for (let r = 0; r < count; r++) {
    const p0 = Math.max(before[r * k + classIndex]!, PROBABILITY_FLOOR);
    const p1 = Math.max(after[r * k + classIndex]!, PROBABILITY_FLOOR);
    drop[r] = Math.log(p0) - Math.log(p1);
    leaves[r] = was[r] === classIndex && now[r] !== classIndex ? 1 : 0;
  }
  return { drop, leaves };
}

/**
 * The records that fail the removal test of a candidate's pattern (positions among the class's
 * records): they leave the class when the pattern is removed (`trigger.leaves`), their fall lies
 * in the upper mode of the class's falls (`upper`, 1 there), and the pattern takes more of the
 * class from them than the control's pattern does (`trigger.drop > control.drop`; the control is
 * the pattern of a random subset of the class, its own semantics, removed the same way).
 *
 * The paired comparison, not "keeps the class under the control": a record whose label rests on
 * a trigger is near a boundary once the trigger is gone, so removing the class's semantics can
 * send it out too; it is a carrier when the trigger's removal hurts it more. A fragile clean record
 * near a boundary falls at least as far under the class's semantics as under a pattern it does not
 * carry. Measured (issue 16, Fashion-MNIST mlp, pixel trigger at 10% of "Pullover", 667 carriers):
 * the control's removal sends 1,869 clean records and 62 carriers out of the class, and excluding
 * every record it sends out missed 54 carriers that fail the pattern's removal test.
 */
export function removalCarriers(
  trigger: PatternRemoval,
  control: PatternRemoval,
  upper: ArrayLike<number>,
): Int32Array {
  const count = trigger.drop.length;
  if (control.drop.length !== count || upper.length !== count) {
    throw new AntidoteError(
      'SHAPE_MISMATCH',
      `removal carriers: ${count} records, ${control.drop.length} control falls and ${upper.length} upper-mode marks do not agree`,
    );
  }
  const out: number[] = [];
  for (let r = 0; r < count; r++) {
    if (trigger.leaves[r] && upper[r] && trigger.drop[r]! > control.drop[r]!) out.push(r);
  }
  return Int32Array.from(out);
}
