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

/**
 * The records of the class (positions among them) that fail the removal test of a candidate's
 * pattern as deeply as the candidate does: they leave the class, the pattern takes more of it
 * from them than the control's does, and their fall is at least the median fall of the refined
 * candidate's records (`rows`).
 *
 * Why not the upper mode of the class's falls (the expanded set): where the poison is a small
 * share of its class, that mode mixes in clean records a global pattern pushes over a boundary
 * and dilutes the pattern its records share. Measured (docs/detectors.md, "Trigger transfer: the
 * removal test's core"), Fashion-MNIST mlp, 1% of "T-shirt/top": checkerboard, the upper mode
 * holds 100 records of which 29 carriers, its pattern moves 0.125 of the probes (the candidate's
 * 0.415, the control's 0.08); the core holds 8 carriers and moves 0.465. A natural sub-style's
 * pattern is the class's own semantics: the records that need it are many and do not share its
 * strokes (clean Fashion-MNIST "Ankle boot": a 204-record sub-style moving 0.605, its core 1,624
 * records moving 0.04; clean MNIST mlps: 0.005–0.055 on every tested candidate).
 */
export function coreFailures(
  test: PatternRemoval,
  control: PatternRemoval,
  rows: ArrayLike<number>,
): Int32Array {
  const count = test.drop.length;
  if (control.drop.length !== count) {
    throw new AntidoteError(
      'SHAPE_MISMATCH',
      `core failures: ${count} records and ${control.drop.length} control falls do not agree`,
    );
  }
  if (rows.length === 0) return new Int32Array(0);
  const falls = Float64Array.from(rows, (r) => test.drop[r]!).sort();
  const median = falls[falls.length >> 1]!;
  const out: number[] = [];
  for (let r = 0; r < count; r++) {
    if (test.leaves[r] && test.drop[r]! >= median && test.drop[r]! > control.drop[r]!) out.push(r);
  }
  return Int32Array.from(out);
}
