import type { Classifier } from '../engine/classifier.js';
import { AntidoteError } from '../errors.js';
import { rowArgmax } from '../numeric/argmax.js';
import { splitAtTail, twoModeSplit } from './two-mode-split.js';

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
  /**
   * Per record, 1 when the model does not assign it to the class even as it is: a poisoned
   * record the model did not fit (the attack failed on it) can still owe the pattern much of its
   * probability of the class (see {@link removalCarriers}).
   */
  readonly unassigned: Uint8Array;
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
  const unassigned = new Uint8Array(count);
  for (let r = 0; r < count; r++) {
    const p0 = Math.max(before[r * k + classIndex]!, PROBABILITY_FLOOR);
    const p1 = Math.max(after[r * k + classIndex]!, PROBABILITY_FLOOR);
    drop[r] = Math.log(p0) - Math.log(p1);
    leaves[r] = was[r] === classIndex && now[r] !== classIndex ? 1 : 0;
    unassigned[r] = was[r] === classIndex ? 0 : 1;
  }
  return { drop, leaves, unassigned };
}

/**
 * Two removal tests of control patterns as one: per record, the larger fall (and leaving where
 * either leaves). Trigger transfer's removal test compares each record's fall under a candidate's
 * pattern with the larger of the control's pattern's and of that pattern scaled to the
 * candidate's norm. `SHAPE_MISMATCH` when their sizes differ.
 */
export function strongerControl(a: PatternRemoval, b: PatternRemoval): PatternRemoval {
  const count = a.drop.length;
  if (b.drop.length !== count) {
    throw new AntidoteError(
      'SHAPE_MISMATCH',
      `stronger control: ${count} and ${b.drop.length} records do not agree`,
    );
  }
  return {
    drop: Float64Array.from(a.drop, (v, r) => Math.max(v, b.drop[r]!)),
    leaves: Uint8Array.from(a.leaves, (v, r) => v | b.leaves[r]!),
    unassigned: a.unassigned,
  };
}

/**
 * The records that fail the removal test of a candidate's pattern (positions among the class's
 * records): they leave the class when the pattern is removed (`trigger.leaves`) or the model does
 * not assign them to it even with the pattern (`trigger.unassigned`), their fall lies in the
 * upper mode of the class's falls (`upper`, 1 there), and the pattern takes more of the class
 * from them than the control's pattern does (`trigger.drop > control.drop`; the control is the
 * pattern of a random subset of the class, its own semantics, removed the same way).
 *
 * The paired comparison, not "keeps the class under the control": a record whose label rests on
 * a trigger is near a boundary once the trigger is gone, so removing the class's semantics can
 * send it out too; it is a carrier when the trigger's removal hurts it more. A fragile clean record
 * near a boundary falls at least as far under the class's semantics as under a pattern it does not
 * carry. Measured (issue 16, Fashion-MNIST mlp, pixel trigger at 10% of "Pullover", 667 carriers):
 * the control's removal sends 1,869 clean records and 62 carriers out of the class, and excluding
 * every record it sends out missed 54 carriers that fail the pattern's removal test.
 *
 * The records the model does not assign to the class: where the attack works on only part of
 * the poison, the carriers it did not fit are labelled with the class but read as their source
 * class, so they cannot leave it; the pattern still carries their probability of the class
 * (Fashion-MNIST mlp, pixel trigger at 5% of "T-shirt/top", ASR 0.67: 83 of the 316 carriers,
 * their falls 2.5–5.0 against 0.4–1.6 for the 48 clean ones beside them; checkerboard at 1%,
 * seed 2: 21 of 61). What separates them from the clean records the model misreads is the fall
 * itself: see {@link fallModes}.
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
    const fails = trigger.leaves[r] || trigger.unassigned[r];
    if (fails && upper[r] && trigger.drop[r]! > control.drop[r]!) out.push(r);
  }
  return Int32Array.from(out);
}

/** The failing records of {@link removalCarriers} in two groups by the pattern's own effect. */
export interface FallModes {
  /** The records of the upper group (all of them where the split is a heavy tail or too small). */
  readonly upper: Int32Array;
  /** The records of the lower group (none there). */
  readonly lower: Int32Array;
}

/**
 * The failing records `failing` (positions among the class's records, from
 * {@link removalCarriers}) split by the pattern's own effect on each, its fall beyond the
 * control's (`trigger.drop − control.drop`), where two Gaussians with their own variances fit
 * best (`twoModeSplit`); all of them upper where that split is a heavy tail (`splitAtTail`) or
 * there are too few to split.
 *
 * Two kinds of record fail: carriers, from which removing the trigger takes the class by far
 * more than removing the class's own semantics does, and fragile clean records near a boundary,
 * which any pattern of the class's semantics pushes over it, the trigger's by a little more.
 * The class's upper mode of falls (which the unaffected bulk sets) holds both: at 1–5% of a class
 * the fragile records are about as many as the carriers the test adds. Measured (issue 16,
 * Fashion-MNIST mlp, all-to-one at 5% and 1% of "T-shirt/top", the records that fail; quartiles
 * of the effect): pixel at 5%, 286 carriers 1.8/2.7/3.4 and 164 clean records −0.1/0.0/0.2, the
 * upper group 286 carriers and 35 clean records; blend α 0.2 at 1%, 55 and 152, upper 55 and 10;
 * checkerboard at 1%, 59 and 58, upper 57 and 9. A split only proposes the groups (a skewed
 * single mode splits too, and on an mlp the carriers of different source classes can fall
 * apart): the caller keeps the lower group where its own pattern carries the trigger.
 */
export function fallModes(
  trigger: PatternRemoval,
  control: PatternRemoval,
  failing: Int32Array,
): FallModes {
  const none = new Int32Array(0);
  const n = failing.length;
  const effects = Float64Array.from(failing, (r) => trigger.drop[r]! - control.drop[r]!);
  const split = twoModeSplit(effects, 2, true);
  if (!split || splitAtTail(split, n, 2)) return { upper: failing, lower: none };
  const sides = (from: number, to: number) =>
    Int32Array.from(split.order.subarray(from, to), (t) => failing[t]!).sort();
  return { upper: sides(split.cut, n), lower: sides(0, split.cut) };
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
