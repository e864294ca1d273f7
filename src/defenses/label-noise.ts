import { z } from 'zod';
import { type Dataset, numRecords, selectRecords } from '../data/dataset.js';
import type { Classifier } from '../engine/classifier.js';
import { AntidoteError } from '../errors.js';
import { Rng } from '../util/rng.js';
import { withShareStrength } from './calibration.js';
import {
  type ClassFinding,
  type DetectionProgress,
  type DetectionReport,
  fmt,
  type PoisonDetector,
} from './detector.js';
import { commonDetectorOptions, defineDetector } from './detector-entry.js';
import { checkModelMatchesData } from './representations.js';

/**
 * Confident learning (Northcutt, Jiang & Chuang 2021, "Confident Learning: Estimating Uncertainty
 * in Dataset Labels", JAIR 70), the label-noise detector for label-flipping attacks.
 *
 * The functional core is {@link findLabelIssues} over given labels and out-of-sample predicted
 * probabilities; {@link confidentLearningDetector} produces those probabilities by k-fold
 * cross-validation through a `trainFold` callback, so this module never trains a model itself.
 */

/** How {@link findLabelIssues} picks the issues. */
export type LabelIssueFilter = 'prune-by-noise-rate' | 'confident-joint' | 'both';

/** Options of {@link findLabelIssues}. */
export interface FindLabelIssuesOptions {
  /** Number of classes K; default: inferred from `probs.length / labels.length`. */
  readonly numClasses?: number;
  /** Default `prune-by-noise-rate` (the paper's "C_prune"). */
  readonly filterBy?: LabelIssueFilter;
  /**
   * Keep records whose given label is the model's prediction even if a filter picked them
   * (cleanlab does the same). Default true.
   */
  readonly keepAgreeing?: boolean;
}

/** Result of {@link findLabelIssues}. */
export interface LabelIssues {
  /** `[n]`, 1 = likely mislabelled. */
  readonly issues: Uint8Array;
  /** `[n]`, the predicted probability of the given label ("self-confidence"). */
  readonly selfConfidence: Float32Array;
  /** `[n]`, the label the record most likely should carry (confident class, else argmax). */
  readonly suggestedLabels: Int32Array;
  /** `[K]`, per-class thresholds t_j = mean p_j over records labelled j. */
  readonly thresholds: Float64Array;
  /** `[K][K]`, the confident joint C[given][true] (counts). */
  readonly confidentJoint: number[][];
  /** `[K][K]`, the calibrated joint Q[given][true] (sums to 1). */
  readonly joint: number[][];
  /** Estimated share of mislabelled records: 1 − trace(Q). */
  readonly noiseRate: number;
}

/**
 * Finds label issues from given labels and out-of-sample predicted probabilities.
 *
 * Shapes: `labels` is `[n]` with values in `[0, K)`; `probs` is `[n, K]` row-major, each row a
 * probability vector (rows are not renormalised). Returns one {@link LabelIssues} (the same shape
 * whatever the options). Steps: per-class thresholds t_j = mean self-confidence of class j; the
 * confident joint counts each record under (given i, true j*) where j* = argmax_{j: p_j ≥ t_j} p_j;
 * it is calibrated to the class counts and normalised to Q; `prune-by-noise-rate` then removes,
 * for every off-diagonal (i, j), the round(n·Q[i][j]) records labelled i with the largest margin
 * p_j − p_i; `confident-joint` takes the off-diagonal records of C; `both` intersects the two.
 */
export function findLabelIssues(
  labels: Int32Array,
  probs: Float32Array,
  options: FindLabelIssuesOptions = {},
): LabelIssues {
  const n = labels.length;
  if (n === 0) throw new AntidoteError('INVALID_ARGUMENT', 'findLabelIssues: no records');
  const k = options.numClasses ?? probs.length / n;
  if (!Number.isInteger(k) || k < 2 || probs.length !== n * k) {
    throw new AntidoteError(
      'SHAPE_MISMATCH',
      `probabilities hold ${probs.length} values, not [${n}, K] with K ≥ 2${options.numClasses ? ` (K = ${options.numClasses})` : ''}`,
    );
  }
  for (let i = 0; i < n; i++) {
    if (labels[i]! < 0 || labels[i]! >= k) {
      throw new AntidoteError(
        'LABEL_OUT_OF_RANGE',
        `record ${i} has label ${labels[i]}, outside [0, ${k})`,
        { record: i },
      );
    }
  }
  for (let i = 0; i < probs.length; i++) {
    if (!Number.isFinite(probs[i])) {
      throw new AntidoteError(
        'NON_FINITE_VALUE',
        `probability of record ${Math.floor(i / k)} is not finite`,
        { record: Math.floor(i / k) },
      );
    }
  }
  const filterBy = options.filterBy ?? 'prune-by-noise-rate';
  const counts = new Float64Array(k);
  const thresholds = new Float64Array(k);
  for (let i = 0; i < n; i++) {
    counts[labels[i]!]!++;
    thresholds[labels[i]!]! += probs[i * k + labels[i]!]!;
  }
  for (let j = 0; j < k; j++) {
    thresholds[j] = counts[j]! > 0 ? thresholds[j]! / counts[j]! : Number.POSITIVE_INFINITY;
  }
  const cj = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  const confidentTrue = new Int32Array(n).fill(-1);
  const suggestedLabels = new Int32Array(n);
  const selfConfidence = new Float32Array(n);
  const argmax = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = -1;
    let bestP = Number.NEGATIVE_INFINITY;
    let am = 0;
    for (let j = 0; j < k; j++) {
      const p = probs[i * k + j]!;
      if (p > probs[i * k + am]!) am = j;
      if (p >= thresholds[j]! && p > bestP) {
        bestP = p;
        best = j;
      }
    }
    argmax[i] = am;
    selfConfidence[i] = probs[i * k + labels[i]!]!;
    confidentTrue[i] = best;
    suggestedLabels[i] = best >= 0 ? best : am;
    if (best >= 0) cj[labels[i]!]![best]!++;
  }
  // Calibrate rows to the class counts, then normalise.
  const joint = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  let total = 0;
  for (let a = 0; a < k; a++) {
    const row = cj[a]!.reduce((s, v) => s + v, 0);
    for (let b = 0; b < k; b++) {
      joint[a]![b] = row > 0 ? (cj[a]![b]! / row) * counts[a]! : a === b ? counts[a]! : 0;
      total += joint[a]![b]!;
    }
  }
  let trace = 0;
  for (let a = 0; a < k; a++) {
    for (let b = 0; b < k; b++) joint[a]![b]! /= total;
    trace += joint[a]![a]!;
  }

  const byJoint = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    if (confidentTrue[i]! >= 0 && confidentTrue[i] !== labels[i]) byJoint[i] = 1;
  }
  const byPrune = new Uint8Array(n);
  if (filterBy !== 'confident-joint') {
    const members: number[][] = Array.from({ length: k }, () => []);
    for (let i = 0; i < n; i++) members[labels[i]!]!.push(i);
    for (let a = 0; a < k; a++) {
      const pool = members[a]!;
      let removedFromClass = 0;
      for (let b = 0; b < k; b++) {
        if (b === a) continue;
        const m = Math.round(n * joint[a]![b]!);
        if (m <= 0) continue;
        const margin = (i: number) => probs[i * k + b]! - probs[i * k + a]!;
        const order = [...pool].sort((p, q) => margin(q) - margin(p));
        for (let t = 0; t < Math.min(m, order.length); t++) {
          if (!byPrune[order[t]!]) removedFromClass++;
          byPrune[order[t]!] = 1;
        }
      }
      // Keep at least one record per class (cleanlab's min_examples_per_class).
      if (removedFromClass >= pool.length && pool.length > 0) {
        let keep = pool[0]!;
        for (const i of pool) if (selfConfidence[i]! > selfConfidence[keep]!) keep = i;
        byPrune[keep] = 0;
      }
    }
  }
  const keepAgreeing = options.keepAgreeing ?? true;
  const issues = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    let v =
      filterBy === 'confident-joint'
        ? byJoint[i]!
        : filterBy === 'both'
          ? byJoint[i]! & byPrune[i]!
          : byPrune[i]!;
    if (keepAgreeing && argmax[i] === labels[i]) v = 0;
    issues[i] = v!;
  }
  return {
    issues,
    selfConfidence,
    suggestedLabels,
    thresholds,
    confidentJoint: cj,
    joint,
    noiseRate: Math.max(0, 1 - trace),
  };
}

/**
 * Stratified k-fold assignment: fold of each record, classes spread evenly over the folds after a
 * seeded shuffle.
 */
export function stratifiedFolds(y: Int32Array, folds: number, rng: Rng): Int32Array {
  const fold = new Int32Array(y.length);
  const perm = rng.permutation(y.length);
  const next = new Map<number, number>();
  for (const i of perm) {
    const c = y[i]!;
    const f = next.get(c) ?? rng.int(folds);
    fold[i] = f;
    next.set(c, (f + 1) % folds);
  }
  return fold;
}

/** Options of the confident-learning detector. */
export interface ConfidentLearningOptions extends Omit<FindLabelIssuesOptions, 'numClasses'> {
  /**
   * Trains a fresh model on a training fold; enables out-of-sample probabilities (the paper's
   * setting). Without it the given model's in-sample probabilities are used, which under-reports
   * label noise the model has memorised: the report's params say which was used.
   */
  readonly trainFold?: (train: Dataset, fold: number) => Promise<Classifier>;
  /** Cross-validation folds. Default 5. */
  readonly folds?: number;
  /** Seed of the fold split. Default 0. */
  readonly seed?: number;
  /** Records per predict call. Default 2048. */
  readonly batchSize?: number;
  /** Progress per fold / batch. */
  readonly onProgress?: (p: DetectionProgress) => void;
}

async function predictAll(
  model: Classifier,
  ds: Dataset,
  idx: ArrayLike<number>,
  k: number,
  out: Float32Array,
  batch: number,
): Promise<void> {
  for (let s = 0; s < idx.length; s += batch) {
    const part = Array.from({ length: Math.min(batch, idx.length - s) }, (_, t) => idx[s + t]!);
    const sub = selectRecords(ds, part);
    const p = await model.predictProba(sub.x, part.length);
    const mk = model.numClasses;
    if (p.length !== part.length * mk) {
      throw new AntidoteError(
        'ENGINE_ERROR',
        `model returned ${p.length} probabilities for ${part.length} records of ${mk} classes`,
      );
    }
    for (let r = 0; r < part.length; r++) {
      for (let j = 0; j < k; j++) out[part[r]! * k + j] = p[r * mk + j]!;
    }
  }
}

/**
 * Out-of-sample class probabilities `[n, K]` by stratified k-fold cross-validation: each record's
 * probabilities come from a model trained (by `trainFold`) without its fold.
 */
export async function crossValidatedProbabilities(
  ds: Dataset,
  trainFold: (train: Dataset, fold: number) => Promise<Classifier>,
  options: {
    folds?: number;
    seed?: number;
    batchSize?: number;
    onProgress?: (p: DetectionProgress) => void;
  } = {},
): Promise<Float32Array> {
  const folds = options.folds ?? 5;
  if (!Number.isInteger(folds) || folds < 2) {
    throw new AntidoteError('INVALID_ARGUMENT', `folds must be an integer ≥ 2, got ${folds}`);
  }
  const n = numRecords(ds);
  if (n < folds) {
    throw new AntidoteError('INVALID_ARGUMENT', `cannot split ${n} records into ${folds} folds`);
  }
  const k = ds.classes.length;
  const fold = stratifiedFolds(ds.y, folds, new Rng(options.seed ?? 0));
  const probs = new Float32Array(n * k);
  for (let f = 0; f < folds; f++) {
    const train: number[] = [];
    const held: number[] = [];
    for (let i = 0; i < n; i++) (fold[i] === f ? held : train).push(i);
    options.onProgress?.({ stage: `fold ${f + 1}`, done: f, total: folds });
    const model = await trainFold(selectRecords(ds, train), f);
    checkModelMatchesData(ds, model);
    await predictAll(model, ds, held, k, probs, options.batchSize ?? 2048);
    (model as { dispose?: () => void }).dispose?.();
  }
  options.onProgress?.({ stage: 'folds', done: folds, total: folds });
  return probs;
}

/**
 * Turns {@link LabelIssues} into a {@link DetectionReport}: score = 1 − self-confidence, flags =
 * issues, suggested labels attached, per-class findings with the threshold and the confident
 * joint's row.
 */
export function labelIssuesReport(
  result: LabelIssues,
  y: Int32Array,
  classes: readonly string[],
  params: DetectionReport['params'],
): DetectionReport {
  const n = y.length;
  const k = classes.length;
  const scores = new Float32Array(n);
  for (let i = 0; i < n; i++) scores[i] = 1 - result.selfConfidence[i]!;
  const perClass: ClassFinding[] = [];
  for (let c = 0; c < k; c++) {
    let count = 0;
    let flagged = 0;
    const to = new Array<number>(k).fill(0);
    for (let i = 0; i < n; i++) {
      if (y[i] !== c) continue;
      count++;
      if (result.issues[i]) {
        flagged++;
        to[result.suggestedLabels[i]!]!++;
      }
    }
    let top = -1;
    for (let j = 0; j < k; j++)
      if (j !== c && to[j]! > 0 && (top < 0 || to[j]! > to[top]!)) top = j;
    const rowNoise =
      count > 0 ? 1 - result.joint[c]![c]! / Math.max(sumRow(result.joint[c]!), 1e-300) : 0;
    perClass.push({
      classIndex: c,
      className: classes[c]!,
      count,
      flagged,
      suspicious: flagged > 0,
      reason:
        flagged > 0
          ? `${flagged} of ${count} records look mislabelled (estimated noise in this label ${fmt(rowNoise)}; threshold t = ${fmt(result.thresholds[c]!)}${top >= 0 ? `; most likely true class "${classes[top]}"` : ''})`
          : `no confident label issue (threshold t = ${fmt(result.thresholds[c]!)})`,
      stats: {
        threshold: Number.isFinite(result.thresholds[c]) ? result.thresholds[c]! : null,
        confidentJointRow: result.confidentJoint[c]!,
        estimatedNoise: rowNoise,
      },
    });
  }
  return {
    method: 'confident-learning',
    scores,
    flagged: result.issues,
    perClass: withShareStrength(perClass),
    params: { ...params, estimatedNoiseRate: result.noiseRate },
    suggestedLabels: result.suggestedLabels,
  };
}

function sumRow(r: readonly number[]): number {
  let s = 0;
  for (const v of r) s += v;
  return s;
}

/** Confident learning as a {@link PoisonDetector}; see {@link ConfidentLearningOptions}. */
export const confidentLearningDetector: PoisonDetector<ConfidentLearningOptions> = {
  name: 'confident-learning',
  async detect(ds, model, options = {}) {
    checkModelMatchesData(ds, model);
    const n = numRecords(ds);
    const k = ds.classes.length;
    let probs: Float32Array;
    if (options.trainFold) {
      probs = await crossValidatedProbabilities(ds, options.trainFold, options);
    } else {
      probs = new Float32Array(n * k);
      const all = Int32Array.from({ length: n }, (_, i) => i);
      await predictAll(model, ds, all, k, probs, options.batchSize ?? 2048);
    }
    const result = findLabelIssues(ds.y, probs, {
      numClasses: k,
      ...(options.filterBy ? { filterBy: options.filterBy } : {}),
      ...(options.keepAgreeing !== undefined ? { keepAgreeing: options.keepAgreeing } : {}),
    });
    return labelIssuesReport(result, ds.y, ds.classes, {
      filterBy: options.filterBy ?? 'prune-by-noise-rate',
      probabilities: options.trainFold ? 'out-of-sample' : 'in-sample',
      folds: options.trainFold ? (options.folds ?? 5) : null,
      seed: options.seed ?? 0,
    });
  },
};

/**
 * Confident learning in the detector registry: `antidote scan --method cl`. With `folds > 0` and
 * a context that can retrain (`trainLike`), probabilities come from k-fold retraining.
 */
export const confidentLearningEntry = defineDetector({
  name: 'cl',
  title: 'Confident learning',
  paper:
    'Northcutt, Jiang & Chuang 2021, "Confident Learning: Estimating Uncertainty in Dataset Labels", JAIR 70',
  finds: 'label-noise',
  domains: ['features', 'text', 'tabular'],
  options: z.object({
    folds: z.int().default(0).meta({
      placeholder: '<n>',
      description:
        'confident learning: k-fold retraining for out-of-sample probabilities (0 = use the model in-sample)',
    }),
    epochs: z.int().optional().meta({
      placeholder: '<n>',
      description:
        "epochs per fold model (with --folds; default 2 for image models, the model's own for text and tabular)",
    }),
  }),
  run: (ds, model, options, context) => {
    const trainLike = context.trainLike;
    return confidentLearningDetector.detect(ds, model, {
      ...commonDetectorOptions(context),
      ...(options.folds > 0 && trainLike
        ? {
            folds: options.folds,
            trainFold: (train: Dataset, fold: number) =>
              trainLike(train, {
                seed: context.seed + fold,
                ...(options.epochs !== undefined ? { epochs: options.epochs } : {}),
              }),
          }
        : {}),
    });
  },
});
