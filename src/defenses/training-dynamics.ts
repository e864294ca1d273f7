import { z } from 'zod';
import { type Dataset, numRecords, recordSize } from '../data/dataset.js';
import type { Classifier } from '../engine/classifier.js';
import { AntidoteError } from '../errors.js';
import { anomalyAmongClasses, modifiedZScores } from '../numeric/anomaly-index.js';
import { median } from '../numeric/order-statistics.js';
import {
  type ClassFinding,
  type DetectionProgress,
  type DetectionReport,
  fmt,
  indicesByClass,
  STRONG_EVIDENCE,
} from './detector.js';
import { defineDetector } from './detector-entry.js';

/**
 * Training dynamics: anti-backdoor learning's isolation (Li, Lyu, Koren, Lyu, Li & Ma 2021,
 * "Anti-Backdoor Learning: Training Clean Models on Poisoned Data", NeurIPS).
 *
 * Backdoored records are learned much faster than clean ones: the trigger is a simpler feature
 * than the class itself, so after an epoch or two their training loss is already near zero. ABL
 * isolates the records of lowest loss early in training. Here:
 *
 * 1. A fresh model like the scanned one is trained on the data for `epochs` (default 1) through
 *    the caller's `trainLike` (the scanned model itself has long learned everything).
 * 2. Each record's loss −ln p(y|x) is measured; per class, on the log scale, a record is
 *    *isolated* when its loss lies more than `isolationZ` (default 3.5) robust standard
 *    deviations below the class's median (modified z-score, Iglewicz & Hoaglin): unusually fast
 *    learning for its class, whatever the class's difficulty.
 * 3. The class statistic is its share of isolated records, judged against the other classes by
 *    the modified z-score (median/MAD, the scale floored at the share's binomial standard error):
 *    {@link ClassFinding.strength}. A class at least `threshold` (default
 *    {@link STRONG_EVIDENCE}) is flagged, with its isolated records.
 *
 * Scores: the negated within-class modified z-score of the log loss (higher = learned faster than
 * its class). The detector retrains, so it is not among the default detectors. Without a
 * `trainLike` (a model that cannot be retrained) the registry entry returns a report that says
 * "not run" in every class, with no strength ({@link trainingDynamicsNotRun}).
 * Like SCAn it needs at least 3 classes for its null; poison in most classes hides itself.
 */
export interface TrainingDynamicsOptions {
  /** Trains a fresh model like the scanned one (required). */
  readonly trainLike: (
    train: Dataset,
    options: { readonly seed: number; readonly epochs?: number },
  ) => Promise<Classifier>;
  /** Epochs of the fresh model. Default 1. */
  readonly epochs?: number;
  /** Robust SDs below the class median (log loss) from which a record is isolated. Default 3.5. */
  readonly isolationZ?: number;
  /** Class strength from which a class is flagged. Default {@link STRONG_EVIDENCE}. */
  readonly threshold?: number;
  /** Seed of the fresh model. Default 0. */
  readonly seed?: number;
  /** Records per forward pass. Default 1024. */
  readonly batchSize?: number;
  /** Progress: `train`, then `losses`. */
  readonly onProgress?: (p: DetectionProgress) => void;
}

/** Losses below this are indistinguishable in float32 probabilities (1 − p ≈ 6e−8). */
const LOSS_FLOOR = 1e-7;

/** Per-record cross-entropy −ln p(y|x) of `model` on `ds`, floored at {@link LOSS_FLOOR}. */
export async function recordLosses(
  ds: Dataset,
  model: Classifier,
  batchSize = 1024,
  onProgress?: (p: DetectionProgress) => void,
): Promise<Float64Array> {
  const n = numRecords(ds);
  const size = recordSize(ds);
  const k = model.numClasses;
  const out = new Float64Array(n);
  for (let start = 0; start < n; start += batchSize) {
    const m = Math.min(batchSize, n - start);
    const p = await model.predictProba(ds.x.subarray(start * size, (start + m) * size), m);
    if (p.length !== m * k) {
      throw new AntidoteError(
        'ENGINE_ERROR',
        `model returned ${p.length} probabilities for ${m} records of ${k} classes`,
      );
    }
    for (let r = 0; r < m; r++) {
      const py = p[r * k + ds.y[start + r]!]!;
      out[start + r] = Math.max(-Math.log(Math.max(py, 1e-300)), LOSS_FLOOR);
    }
    onProgress?.({ stage: 'losses', done: start + m, total: n });
  }
  return out;
}

/**
 * The class-level decision of {@link trainingDynamics} on given per-record losses (exposed for
 * tests and for losses measured elsewhere, e.g. ABL's own isolation epochs).
 */
export function lowLossIsolation(
  losses: Float64Array,
  y: Int32Array,
  classes: readonly string[],
  options: Pick<TrainingDynamicsOptions, 'isolationZ' | 'threshold'> = {},
): Omit<DetectionReport, 'params'> {
  const n = y.length;
  if (losses.length !== n) {
    throw new AntidoteError('SHAPE_MISMATCH', `${losses.length} losses for ${n} records`);
  }
  const isolationZ = options.isolationZ ?? 3.5;
  const threshold = options.threshold ?? STRONG_EVIDENCE;
  if (!(isolationZ > 0) || !(threshold > 0)) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `training dynamics: isolationZ and threshold must be > 0, got ${isolationZ} and ${threshold}`,
    );
  }
  const k = classes.length;
  const byClass = indicesByClass(y, k);
  const scores = new Float32Array(n);
  const isolated = new Uint8Array(n);
  const share = new Float64Array(k);
  const stats: Array<{ median: number; scale: number; isolated: number }> = [];
  for (let c = 0; c < k; c++) {
    const idx = byClass[c]!;
    if (idx.length === 0) {
      stats.push({ median: Number.NaN, scale: 0, isolated: 0 });
      continue;
    }
    const logs = Array.from(idx, (i) => Math.log(losses[i]!));
    const r = modifiedZScores(logs);
    let count = 0;
    for (let t = 0; t < idx.length; t++) {
      const zt = r.z[t]!;
      scores[idx[t]!] = -zt;
      if (zt <= -isolationZ) {
        isolated[idx[t]!] = 1;
        count++;
      }
    }
    share[c] = count / idx.length;
    stats.push({ median: Math.exp(r.median), scale: r.scale, isolated: count });
  }
  const judged = Array.from({ length: k }, (_, c) => c).filter((c) => byClass[c]!.length > 0);
  // The noise of a share: its binomial standard error at the typical share.
  const typical = judged.length > 0 ? median(judged.map((c) => share[c]!)) : 0;
  const noise =
    judged.length > 0
      ? median(
          judged.map((c) => {
            const nc = byClass[c]!.length;
            const p = Math.max(typical, 1 / nc);
            return Math.sqrt((p * (1 - p)) / nc);
          }),
        )
      : 0;
  const robust = anomalyAmongClasses(
    judged.map((c) => share[c]!),
    noise,
  );
  const flagged = new Uint8Array(n);
  const perClass: ClassFinding[] = [];
  for (let c = 0; c < k; c++) {
    const idx = byClass[c]!;
    const s = stats[c]!;
    const pos = judged.indexOf(c);
    const zc = robust && pos >= 0 ? robust.z[pos]! : 0;
    const strength = Math.max(0, zc);
    const suspicious = robust !== undefined && strength >= threshold && s.isolated > 0;
    if (suspicious) for (const i of idx) flagged[i] = isolated[i]!;
    const what = `${s.isolated} of ${idx.length} records (${fmt(100 * share[c]!)}%) learned unusually fast (loss more than ${isolationZ} robust SDs below the class median ${fmt(s.median)})`;
    perClass.push({
      classIndex: c,
      className: classes[c]!,
      count: idx.length,
      flagged: suspicious ? s.isolated : 0,
      suspicious,
      strength,
      reason: !robust
        ? `${what}; fewer than 3 classes: no cross-class null, not judged`
        : `${what}; anomaly index ${fmt(zc)} ${suspicious ? '≥' : '<'} ${fmt(threshold)} among ${judged.length} classes (median share ${fmt(100 * robust.median)}%)${suspicious ? ': isolated records flagged' : ': left alone'}`,
      stats: {
        isolated: s.isolated,
        isolatedShare: share[c]!,
        medianLoss: s.median,
        anomalyIndex: zc,
        medianShare: robust?.median ?? null,
        scale: robust?.scale ?? null,
        samplingError: noise,
        threshold,
      },
    });
  }
  return { method: 'training-dynamics', scores, flagged, perClass };
}

/**
 * Training-dynamics detection (ABL isolation, see the module comment): trains a fresh model for
 * `epochs` with `options.trainLike`, measures every record's loss and isolates the records each
 * class learned unusually fast. Disposes the fresh model when it can be disposed.
 */
export async function trainingDynamics(
  ds: Dataset,
  options: TrainingDynamicsOptions,
): Promise<DetectionReport> {
  const epochs = options.epochs ?? 1;
  const seed = options.seed ?? 0;
  const batchSize = options.batchSize ?? 1024;
  if (!Number.isInteger(epochs) || epochs < 1) {
    throw new AntidoteError('INVALID_ARGUMENT', `epochs must be a positive integer, got ${epochs}`);
  }
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `batchSize must be a positive integer, got ${batchSize}`,
    );
  }
  options.onProgress?.({ stage: 'train', done: 0, total: 1 });
  const model = await options.trainLike(ds, { seed, epochs });
  options.onProgress?.({ stage: 'train', done: 1, total: 1 });
  let losses: Float64Array;
  try {
    losses = await recordLosses(ds, model, batchSize, options.onProgress);
  } finally {
    (model as Partial<{ dispose(): void }>).dispose?.();
  }
  const result = lowLossIsolation(losses, ds.y, ds.classes, options);
  return {
    ...result,
    params: {
      epochs,
      isolationZ: options.isolationZ ?? 3.5,
      threshold: options.threshold ?? STRONG_EVIDENCE,
      seed,
      ran: true,
    },
  };
}

/**
 * The report of a training-dynamics scan that could not run (the scanned model cannot be
 * retrained, e.g. an ONNX model): nothing flagged, every score 0, and every class finding says
 * so, with no `strength` (the evidence was not graded, which is not the same as none found) and
 * `params.ran` false. Returned rather than thrown so that `antidote scan --method all` still runs
 * the other detectors on such models.
 */
export function trainingDynamicsNotRun(ds: Dataset, why: string): DetectionReport {
  const n = ds.y.length;
  const byClass = indicesByClass(ds.y, ds.classes.length);
  return {
    method: 'training-dynamics',
    scores: new Float32Array(n),
    flagged: new Uint8Array(n),
    perClass: ds.classes.map((className, c) => ({
      classIndex: c,
      className,
      count: byClass[c]!.length,
      flagged: 0,
      suspicious: false,
      reason: `not run: ${why}`,
      stats: { ran: false },
    })),
    params: { ran: false },
  };
}

/** Training dynamics (ABL isolation) in the detector registry: `antidote scan --method abl`. */
export const trainingDynamicsEntry = defineDetector({
  name: 'abl',
  title: 'Training dynamics (anti-backdoor learning isolation)',
  paper:
    'Li, Lyu, Koren, Lyu, Li & Ma 2021, "Anti-Backdoor Learning: Training Clean Models on Poisoned Data", NeurIPS',
  finds: 'backdoor',
  domains: ['features', 'text', 'tabular'],
  options: z.object({
    ablEpochs: z.int().positive().default(1).meta({
      placeholder: '<n>',
      description: 'abl: epochs of the fresh model whose early losses isolate fast-learned records',
    }),
  }),
  run: async (ds, _model, options, context) =>
    context.trainLike
      ? trainingDynamics(ds, {
          trainLike: context.trainLike,
          epochs: options.ablEpochs,
          seed: context.seed,
          ...(context.onProgress ? { onProgress: context.onProgress } : {}),
        })
      : trainingDynamicsNotRun(
          ds,
          'this model cannot be retrained (e.g. an ONNX model), and training dynamics needs a fresh model like it',
        ),
});
