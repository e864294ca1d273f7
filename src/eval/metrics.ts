/**
 * Model metrics for poisoning experiments: clean accuracy, per-class accuracy, confusion matrix,
 * and for backdoors the attack success rate (ASR) and robust accuracy, as defined in
 * ../shared/DESIGN.md §3 and BackdoorBench (Wu et al. 2022, "BackdoorBench: A Comprehensive
 * Benchmark of Backdoor Learning"): both are measured on triggered test inputs whose true label is
 * not the attacker's target (and, for source-to-target, whose class is the source).
 *
 * Pure functions take predictions; the `evaluate*` wrappers ask a {@link Classifier}.
 */
import {
  type BackdoorTargeting,
  backdoorTargetOf,
  checkTargeting,
} from '../attacks/backdoor-plan.js';
import type { Trigger } from '../attacks/triggers.js';
import { type Dataset, numRecords, recordShape, recordSize } from '../data/dataset.js';
import type { Classifier } from '../engine/classifier.js';
import { AntidoteError } from '../errors.js';
import type { Rng } from '../util/rng.js';

/** Predicted classes for `n` records of `x`, asked of `model` in batches of `batchSize`. */
export async function predictInBatches(
  model: Classifier,
  x: Float32Array,
  n: number,
  batchSize = 1024,
): Promise<Int32Array> {
  if (n === 0) return new Int32Array(0);
  const size = x.length / n;
  if (!Number.isInteger(size)) {
    throw new AntidoteError('SHAPE_MISMATCH', `${x.length} values do not split into ${n} records`);
  }
  const inSize = model.inputShape.reduce((a, b) => a * b, 1);
  if (inSize !== size) {
    throw new AntidoteError(
      'SHAPE_MISMATCH',
      `model expects records of [${model.inputShape.join(', ')}] (${inSize} values), data has ${size} per record`,
    );
  }
  const out = new Int32Array(n);
  for (let s = 0; s < n; s += batchSize) {
    const m = Math.min(batchSize, n - s);
    out.set(await model.predict(x.subarray(s * size, (s + m) * size), m), s);
  }
  return out;
}

function checkSameLength(a: ArrayLike<number>, b: ArrayLike<number>) {
  if (a.length !== b.length) {
    throw new AntidoteError('SHAPE_MISMATCH', `${a.length} predictions but ${b.length} labels`);
  }
}

/** Share of records whose prediction equals the label; 0 for no records. */
export function accuracy(pred: ArrayLike<number>, y: ArrayLike<number>): number {
  checkSameLength(pred, y);
  if (y.length === 0) return 0;
  let ok = 0;
  for (let i = 0; i < y.length; i++) if (pred[i] === y[i]) ok++;
  return ok / y.length;
}

/** Confusion matrix `m[true][predicted]` (counts) over `k` classes. */
export function confusionMatrix(
  pred: ArrayLike<number>,
  y: ArrayLike<number>,
  k: number,
): number[][] {
  checkSameLength(pred, y);
  const m = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  for (let i = 0; i < y.length; i++) {
    const t = y[i]!;
    const p = pred[i]!;
    if (t < 0 || t >= k || p < 0 || p >= k) {
      throw new AntidoteError(
        'LABEL_OUT_OF_RANGE',
        `record ${i}: label ${t} / prediction ${p} outside [0, ${k})`,
      );
    }
    m[t]![p]!++;
  }
  return m;
}

/** Per-class accuracy (recall) from a confusion matrix; `null` for a class with no records. */
export function perClassAccuracy(confusion: readonly (readonly number[])[]): (number | null)[] {
  return confusion.map((row, c) => {
    const total = row.reduce((a, b) => a + b, 0);
    return total === 0 ? null : row[c]! / total;
  });
}

/** Accuracy lost by the poisoned model against the clean one, in [−1, 1] (positive = worse). */
export function accuracyDrop(cleanAccuracy: number, poisonedAccuracy: number): number {
  return cleanAccuracy - poisonedAccuracy;
}

/**
 * Attack success rate: share of attacked inputs (triggered, true label ≠ attacker's label)
 * classified as the attacker's label. `targets[i]` is the attacker's label of input i.
 */
export function attackSuccessRate(
  predTriggered: ArrayLike<number>,
  targets: ArrayLike<number>,
): number {
  return accuracy(predTriggered, targets);
}

/** Robust accuracy: share of attacked inputs still classified as their true label. */
export function robustAccuracy(predTriggered: ArrayLike<number>, yTrue: ArrayLike<number>): number {
  return accuracy(predTriggered, yTrue);
}

/** Metrics of a model on clean test data. */
export interface CleanMetrics {
  /** Records evaluated. */
  readonly n: number;
  readonly accuracy: number;
  readonly perClassAccuracy: (number | null)[];
  /** `confusion[true][predicted]`. */
  readonly confusion: number[][];
}

/** Clean accuracy, per-class accuracy and confusion matrix of `model` on `ds`. */
export async function evaluateClean(
  model: Classifier,
  ds: Dataset,
  options: { batchSize?: number } = {},
): Promise<CleanMetrics> {
  const n = numRecords(ds);
  const pred = await predictInBatches(model, ds.x, n, options.batchSize);
  const confusion = confusionMatrix(pred, ds.y, ds.classes.length);
  return {
    n,
    accuracy: accuracy(pred, ds.y),
    perClassAccuracy: perClassAccuracy(confusion),
    confusion,
  };
}

/** The attacked part of a test set with the trigger applied. */
export interface TriggeredTestSet {
  /** Triggered features, `[n, ...recordShape]`. */
  readonly x: Float32Array;
  readonly n: number;
  /** Positions of these records in the clean test set. */
  readonly indices: Int32Array;
  /** True labels. */
  readonly yTrue: Int32Array;
  /** The attacker's labels. */
  readonly targets: Int32Array;
}

/**
 * Stamps `trigger` on every test record the backdoor targets (true label ≠ attacker's label, and
 * the source class for source-to-target); random trigger positions come from `rng` in order.
 */
export function triggeredTestSet(
  ds: Dataset,
  trigger: Pick<Trigger, 'apply'>,
  targeting: BackdoorTargeting,
  rng: Rng,
): TriggeredTestSet {
  const k = ds.classes.length;
  checkTargeting(targeting, k);
  const shape = recordShape(ds);
  const size = recordSize(ds);
  const picked: number[] = [];
  const targets: number[] = [];
  for (let i = 0; i < numRecords(ds); i++) {
    const t = backdoorTargetOf(targeting, ds.y[i]!, k);
    if (t !== null) {
      picked.push(i);
      targets.push(t);
    }
  }
  const x = new Float32Array(picked.length * size);
  const yTrue = new Int32Array(picked.length);
  for (let j = 0; j < picked.length; j++) {
    const i = picked[j]!;
    x.set(trigger.apply(ds.x.subarray(i * size, (i + 1) * size), shape, rng), j * size);
    yTrue[j] = ds.y[i]!;
  }
  return {
    x,
    n: picked.length,
    indices: Int32Array.from(picked),
    yTrue,
    targets: Int32Array.from(targets),
  };
}

/** Backdoor metrics of a model. */
export interface BackdoorMetrics {
  /** Attacked (triggered) test inputs. */
  readonly attacked: number;
  /** Share of attacked inputs classified as the attacker's label. */
  readonly attackSuccessRate: number;
  /** Share of attacked inputs still classified as their true label. */
  readonly robustAccuracy: number;
}

/** ASR and robust accuracy of `model` under `trigger` on the test set `ds`. */
export async function evaluateBackdoor(
  model: Classifier,
  ds: Dataset,
  trigger: Pick<Trigger, 'apply'>,
  targeting: BackdoorTargeting,
  rng: Rng,
  options: { batchSize?: number } = {},
): Promise<BackdoorMetrics> {
  const t = triggeredTestSet(ds, trigger, targeting, rng);
  const pred = await predictInBatches(model, t.x, t.n, options.batchSize);
  return {
    attacked: t.n,
    attackSuccessRate: attackSuccessRate(pred, t.targets),
    robustAccuracy: robustAccuracy(pred, t.yTrue),
  };
}
