import { z } from 'zod';
import { type Dataset, numRecords, recordSize } from '../data/dataset.js';
import type { Classifier } from '../engine/classifier.js';
import { AntidoteError } from '../errors.js';
import { Rng } from '../util/rng.js';
import { type DetectionReport, indicesByClass, STRONG_EVIDENCE } from './detector.js';
import { defineDetector } from './detector-entry.js';
import {
  lowLossIsolation,
  recordLosses,
  type TrainingDynamicsOptions,
  trainingDynamicsNotRun,
} from './training-dynamics.js';

/**
 * Confusion training (Qi, Xie, Wang, Wu, Mittal & Li 2023, "Towards A Proactive ML Approach for
 * Detecting Backdoor Poison Samples", USENIX Security; official code
 * github.com/Unispac/Fight-Poison-With-Poison).
 *
 * A model trained on poisoned data learns two kinds of correlation: the benign one (what a digit
 * looks like → its label) and the backdoor (trigger → target). Confusion training poisons the
 * data once more, on purpose, to break the first and keep the second: it trains on the inspected
 * records together with *confusion records* — a small clean base set whose labels are redrawn at
 * random (never the true one) every time it is seen. Benign features then predict nothing, so
 * the clean inspected records stop being fitted; the trigger never occurs in the base set, so the
 * poison keeps its label. Records whose given label the confused model still predicts are the
 * poison.
 *
 * The paper pretrains a model on the data, then trains it further with confusion batches
 * (mixed-batch SGD, confusion factor λ 25–50, 2,000–6,000 iterations per round, 8 rounds of
 * distillation, on a GPU). Here, so that it runs on a CPU through the scan's `trainLike`:
 *
 * 1. A fresh model like the scanned one is pretrained on the round's records (`epochs`, default
 *    the model's own): it learns the backdoor. It is then trained further (`fit`, where the fresh
 *    classifier has one: the zoo's image models) for `confusionEpochs` at `learningRate` on those
 *    records plus `confusion` × as many confusion records (copies of the base set, each copy with
 *    freshly drawn wrong labels: the paper's redrawn confusion batches). A classifier without
 *    `fit` is instead trained once, from scratch, on the mixture (`params.fineTuned` false).
 * 2. Every record's loss −ln p(y|x) is measured under the confused model. With `distill` shares,
 *    as in the paper's distillation, the next round trains on that share of records of lowest
 *    loss (at least 2% of each class), which concentrates the poison. Default: one round.
 * 3. The last round's losses are judged like training dynamics ({@link lowLossIsolation}): per
 *    class, a record is isolated when its log loss lies more than `isolationZ` robust SDs below
 *    the class median; a class whose isolated share is an outlier among the classes (modified
 *    z-score ≥ `threshold`, default {@link STRONG_EVIDENCE}) is flagged with its isolated records.
 *    The paper's own final step (a likelihood-ratio test in the confused model's features) is
 *    replaced by this among-classes null, shared with `abl`.
 *
 * Measured on 12,000 MNIST records (bench/clean-label-detection.mjs, `docs/detectors.md`): it finds
 * Turner et al.'s clean-label backdoor (F1 0.89, where no other detector finds it) and a BadNets
 * patch (F1 0.89). It does not find SIG, Adaptive-Blend, Adaptive-Patch 0.3% or WaNet at these CPU
 * budgets: SIG's poison is separated only partly (median loss 0.48 against 1.21 for the clean
 * target records), not enough for the 3.5-SD cut.
 *
 * The base set is the scan's trusted clean subset (`scan --trusted DATA`), which the scan appends
 * to the data: those records serve as confusion records and are scored like the rest (they are
 * confused by construction, so the trusted-subset check cannot contradict a finding). Without a
 * trusted subset the base set is drawn from the scanned data itself (`baseSize` records per class,
 * seeded, among the half of each class that the first pretrained model fits least well, since
 * poison is learned faster than its class): base records that are themselves poison then teach the trigger a wrong label, which
 * weakens the finding of a class whose poison is a large share of it; the report says so.
 *
 * Scores: the negated within-class modified z-score of the confused model's log loss (higher =
 * fitted more easily than its class). The detector retrains, so it is not a default detector; a
 * model that cannot be retrained gives a "not run" report.
 */
export interface ConfusionTrainingOptions
  extends Pick<
    TrainingDynamicsOptions,
    'trainLike' | 'isolationZ' | 'threshold' | 'seed' | 'batchSize' | 'onProgress'
  > {
  /**
   * The clean base set whose records are relabelled at random: the trusted subset. When it is the
   * tail of `ds` (as the scan appends it), those records are not also trained as inspected ones.
   * Absent: `baseSize` records per class drawn from `ds`.
   */
  readonly base?: Dataset;
  /** Records per class of a base set drawn from the data. Default 50. */
  readonly baseSize?: number;
  /** Confusion records per inspected record in each round's training set (λ). Default
   * {@link DEFAULT_CONFUSION}. */
  readonly confusion?: number;
  /**
   * Share of the inspected records (lowest loss first) each round after the first trains on; one
   * round per entry plus the first. Default `[]` (one round: on MNIST a second round on the lowest-loss
   * third did not separate the poison further).
   */
  readonly distill?: readonly number[];
  /** Epochs of each pretrained model. Default: what `trainLike` defaults to (the model's own). */
  readonly epochs?: number;
  /** Epochs of confusion training after pretraining, on the records plus the confusion ones.
   * Default {@link DEFAULT_CONFUSION_EPOCHS}. */
  readonly confusionEpochs?: number;
  /** Learning rate of confusion training. Default {@link DEFAULT_CONFUSION_LR}. */
  readonly learningRate?: number;
}

/** Default confusion factor λ: relabelled base records per inspected record. */
export const DEFAULT_CONFUSION = 2;
/** Default epochs of confusion training after pretraining. */
export const DEFAULT_CONFUSION_EPOCHS = 2;
/**
 * Default learning rate of confusion training: a fifth of the zoo's Adam default, so that
 * confusion unlearns the benign features without erasing the backdoor (on MNIST at 1e-3 the
 * confused model's ASR fell from 1.00 to 0.65; at 2e-4 it stayed at 0.99).
 */
export const DEFAULT_CONFUSION_LR = 2e-4;

/** Minimum share of each class kept by a distillation step (the paper keeps 2% of each class). */
const MIN_CLASS_SHARE = 0.02;

/**
 * `copies` copies of `base` (records `baseIdx` of `ds`), each record given a label drawn uniformly
 * among the classes other than its own, fresh for every copy.
 */
function confusionRecords(ds: Dataset, baseIdx: Int32Array, copies: number, rng: Rng): Dataset {
  const size = recordSize(ds);
  const k = ds.classes.length;
  const m = baseIdx.length * copies;
  const x = new Float32Array(m * size);
  const y = new Int32Array(m);
  let r = 0;
  for (let c = 0; c < copies; c++) {
    for (const i of baseIdx) {
      x.set(ds.x.subarray(i * size, (i + 1) * size), r * size);
      const label = rng.int(k - 1);
      y[r] = label >= ds.y[i]! ? label + 1 : label;
      r++;
    }
  }
  return {
    x,
    shape: [m, ...ds.shape.slice(1)],
    y,
    classes: ds.classes,
    ids: Array.from({ length: m }, (_, j) => `confusion-${j}`),
  };
}

/** The records `idx` of `ds` followed by `extra` (a new dataset, ids kept apart). */
function trainingSet(ds: Dataset, idx: Int32Array, extra: Dataset): Dataset {
  const size = recordSize(ds);
  const n = idx.length;
  const m = extra.y.length;
  const x = new Float32Array((n + m) * size);
  const y = new Int32Array(n + m);
  for (let t = 0; t < n; t++) {
    const i = idx[t]!;
    x.set(ds.x.subarray(i * size, (i + 1) * size), t * size);
    y[t] = ds.y[i]!;
  }
  x.set(extra.x, n * size);
  y.set(extra.y, n);
  return {
    x,
    shape: [n + m, ...ds.shape.slice(1)],
    y,
    classes: ds.classes,
    ids: Array.from({ length: n + m }, (_, j) => (j < n ? `r${idx[j]}` : `c${j - n}`)),
  };
}

/** Whether the last records of `ds` are exactly `base` (the scan appends its trusted subset). */
function baseIsTail(ds: Dataset, base: Dataset): boolean {
  const n = numRecords(ds);
  const b = numRecords(base);
  if (b > n || recordSize(base) !== recordSize(ds)) return false;
  const from = (n - b) * recordSize(ds);
  for (let j = 0; j < base.x.length; j++) if (ds.x[from + j] !== base.x[j]) return false;
  for (let j = 0; j < b; j++) if (ds.y[n - b + j] !== base.y[j]) return false;
  return true;
}

/**
 * `perClass` records of each class of the first `n` records of `ds`, seeded, in index order, drawn
 * among the class's records whose loss under the pretrained model (`losses`) is at least the
 * class median: poison is learned faster than its class (the premise of `abl`), so this half
 * holds little of it.
 */
function drawBase(
  y: Int32Array,
  n: number,
  k: number,
  perClass: number,
  losses: Float64Array,
  rng: Rng,
): Int32Array {
  const byClass = indicesByClass(y.subarray(0, n), k);
  const out: number[] = [];
  for (const idx of byClass) {
    const sorted = Array.from(idx).sort((a, b) => losses[a]! - losses[b]! || a - b);
    const upper = sorted.slice(Math.floor(sorted.length / 2));
    const take = Math.min(perClass, upper.length);
    for (const j of rng.sample(upper.length, take)) out.push(upper[j]!);
  }
  return Int32Array.from(out.sort((a, b) => a - b));
}

/**
 * The `share` of the records `pool` of lowest loss, plus the lowest-loss {@link MIN_CLASS_SHARE}
 * of each class (the paper's per-class floor), in index order.
 */
function distillLowLoss(
  losses: Float64Array,
  y: Int32Array,
  pool: Int32Array,
  k: number,
  share: number,
): Int32Array {
  const order = Array.from(pool).sort((a, b) => losses[a]! - losses[b]! || a - b);
  const keep = new Set(order.slice(0, Math.max(1, Math.round(share * order.length))));
  const byClass: number[][] = Array.from({ length: k }, () => []);
  for (const i of order) byClass[y[i]!]!.push(i);
  for (const idx of byClass) {
    const floor = Math.ceil(MIN_CLASS_SHARE * idx.length);
    for (const i of idx.slice(0, floor)) keep.add(i);
  }
  return Int32Array.from([...keep].sort((a, b) => a - b));
}

/** A classifier that can be trained further in place (`TfClassifier.fit`). */
interface FineTunable {
  fit(
    ds: Dataset,
    options: { readonly seed: number; readonly epochs?: number; readonly learningRate?: number },
  ): Promise<unknown>;
}

function isFineTunable(m: Classifier): m is Classifier & FineTunable {
  return typeof (m as Partial<FineTunable>).fit === 'function';
}

/**
 * One round's confused model: as in the paper, a model pretrained on the round's records (records
 * `current` of `ds`: it learns the backdoor, and the benign features) and then trained further on
 * them mixed with the confusion records (`mixture`, built once the pretrained model exists), which
 * unlearns the benign features. A model that cannot be trained further (no `fit`) is trained once,
 * from scratch, on the mixture instead.
 */
async function confusedModel(
  ds: Dataset,
  current: Int32Array,
  mixture: (pretrained: Classifier) => Promise<Dataset>,
  round: number,
  options: ConfusionTrainingOptions,
): Promise<{ classifier: Classifier; fineTuned: boolean }> {
  const seed = (options.seed ?? 0) + round;
  const epochs = options.epochs !== undefined ? { epochs: options.epochs } : {};
  const pretrained = await options.trainLike(
    current.length === numRecords(ds) ? ds : trainingSet(ds, current, emptyLike(ds)),
    { seed, ...epochs },
  );
  let mixed: Dataset;
  try {
    mixed = await mixture(pretrained);
  } catch (e) {
    (pretrained as Partial<{ dispose(): void }>).dispose?.();
    throw e;
  }
  if (!isFineTunable(pretrained)) {
    (pretrained as Partial<{ dispose(): void }>).dispose?.();
    return { classifier: await options.trainLike(mixed, { seed, ...epochs }), fineTuned: false };
  }
  try {
    await pretrained.fit(mixed, {
      seed: seed + 1000,
      epochs: options.confusionEpochs ?? DEFAULT_CONFUSION_EPOCHS,
      learningRate: options.learningRate ?? DEFAULT_CONFUSION_LR,
    });
  } catch (e) {
    (pretrained as Partial<{ dispose(): void }>).dispose?.();
    throw e;
  }
  return { classifier: pretrained, fineTuned: true };
}

/** A dataset of no records shaped like `ds`. */
function emptyLike(ds: Dataset): Dataset {
  return {
    x: new Float32Array(0),
    shape: [0, ...ds.shape.slice(1)],
    y: new Int32Array(0),
    classes: ds.classes,
    ids: [],
  };
}

/** Checks the numeric options; `INVALID_ARGUMENT` naming the bad one. */
function checkOptions(o: ConfusionTrainingOptions): void {
  const bad = (what: string) => {
    throw new AntidoteError('INVALID_ARGUMENT', `confusion training: ${what}`);
  };
  if (o.baseSize !== undefined && !(Number.isInteger(o.baseSize) && o.baseSize >= 1)) {
    bad(`baseSize must be a positive integer, got ${o.baseSize}`);
  }
  if (o.confusion !== undefined && !(o.confusion > 0 && Number.isFinite(o.confusion))) {
    bad(`confusion must be > 0, got ${o.confusion}`);
  }
  for (const s of o.distill ?? []) {
    if (!(s > 0 && s < 1)) bad(`every distill share must lie in (0, 1), got ${s}`);
  }
  if (o.epochs !== undefined && !(Number.isInteger(o.epochs) && o.epochs >= 1)) {
    bad(`epochs must be a positive integer, got ${o.epochs}`);
  }
  if (o.batchSize !== undefined && !(Number.isInteger(o.batchSize) && o.batchSize >= 1)) {
    bad(`batchSize must be a positive integer, got ${o.batchSize}`);
  }
}

/**
 * Confusion-training detection (see the module comment): trains `1 + distill.length` confused
 * models through `options.trainLike` and flags, in the classes where they stand out, the records
 * the last one still fits. Disposes every fresh model it can.
 */
export async function confusionTraining(
  ds: Dataset,
  options: ConfusionTrainingOptions,
): Promise<DetectionReport> {
  checkOptions(options);
  const n = numRecords(ds);
  const k = ds.classes.length;
  const seed = options.seed ?? 0;
  const confusion = options.confusion ?? DEFAULT_CONFUSION;
  const distill = options.distill ?? [];
  const batchSize = options.batchSize ?? 1024;
  const rng = new Rng(seed).fork('confusion-training');
  const base = options.base;
  const tail = base !== undefined && baseIsTail(ds, base);
  if (base && !tail && (base.classes.length !== k || recordSize(base) !== recordSize(ds))) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      'confusion training: the base set must have the data’s classes and record shape',
    );
  }
  if (k < 2) {
    throw new AntidoteError('INVALID_ARGUMENT', 'confusion training needs at least 2 classes');
  }
  // The inspected records, and the base set as records of `pool` (ds, or ds + a separate base).
  const inspected = tail ? n - numRecords(base!) : n;
  const pool =
    base && !tail
      ? trainingSet(
          ds,
          Int32Array.from({ length: n }, (_, i) => i),
          base,
        )
      : ds;
  let baseIdx: Int32Array = base
    ? Int32Array.from({ length: numRecords(base) }, (_, j) => (tail ? inspected : n) + j)
    : new Int32Array(0);
  if (base && baseIdx.length === 0) {
    throw new AntidoteError('INVALID_ARGUMENT', 'confusion training: the base set is empty');
  }
  let current: Int32Array = Int32Array.from({ length: inspected }, (_, i) => i);
  const rounds = distill.length + 1;
  let losses: Float64Array = new Float64Array(n);
  let fineTuned = true;
  for (let round = 0; round < rounds; round++) {
    options.onProgress?.({ stage: 'train', done: round, total: rounds });
    const mixture = async (pretrained: Classifier) => {
      if (baseIdx.length === 0) {
        // No trusted subset: the base set is drawn once, from the slower-learned half of each class.
        const pre = await recordLosses(ds, pretrained, batchSize);
        baseIdx = drawBase(ds.y, n, k, options.baseSize ?? 50, pre, rng.fork('base'));
      }
      const copies = Math.max(1, Math.round((confusion * current.length) / baseIdx.length));
      const shuffled = confusionRecords(pool, baseIdx, copies, rng.fork(`round-${round}`));
      return trainingSet(ds, current, shuffled);
    };
    const model = await confusedModel(ds, current, mixture, round, options);
    if (!model.fineTuned) fineTuned = false;
    try {
      losses = await recordLosses(ds, model.classifier, batchSize, options.onProgress);
    } finally {
      (model.classifier as Partial<{ dispose(): void }>).dispose?.();
    }
    if (round + 1 < rounds) {
      const all = Int32Array.from({ length: inspected }, (_, i) => i);
      current = distillLowLoss(losses, ds.y, all, k, distill[round]!);
    }
  }
  options.onProgress?.({ stage: 'train', done: rounds, total: rounds });
  const judged = lowLossIsolation(losses, ds.y, ds.classes, options);
  const baseWhat = base
    ? `base set: ${numRecords(base)} trusted records`
    : `base set: ${baseIdx.length} records drawn from the slower-learned half of each class of the scanned data (no trusted subset: poison drawn into it weakens the finding)`;
  return {
    ...judged,
    method: 'confusion-training',
    perClass: judged.perClass.map((f) => ({
      ...f,
      reason: `confused model (${baseWhat}): ${f.reason.replace('learned unusually fast', 'still fitted')}`,
      stats: { ...f.stats, baseRecords: baseIdx.length, baseFromData: !base },
    })),
    params: {
      rounds,
      confusion,
      distill: [...distill],
      ...(options.epochs !== undefined ? { epochs: options.epochs } : {}),
      isolationZ: options.isolationZ ?? 3.5,
      threshold: options.threshold ?? STRONG_EVIDENCE,
      seed,
      baseRecords: baseIdx.length,
      baseFromData: !base,
      fineTuned,
      ran: true,
    },
  };
}

/** The report of a confusion-training scan that could not run (a model that cannot be retrained). */
function confusionTrainingNotRun(ds: Dataset, why: string): DetectionReport {
  return { ...trainingDynamicsNotRun(ds, why), method: 'confusion-training' };
}

/** Confusion training in the detector registry: `antidote scan --method ct [--trusted DATA]`. */
export const confusionTrainingEntry = defineDetector({
  name: 'ct',
  title: 'Confusion training',
  paper:
    'Qi, Xie, Wang, Wu, Mittal & Li 2023, "Towards A Proactive ML Approach for Detecting Backdoor Poison Samples", USENIX Security',
  finds: 'backdoor',
  domains: ['features', 'text', 'tabular'],
  options: z.object({
    ctEpochs: z.int().positive().optional().meta({
      placeholder: '<n>',
      description: "ct: epochs of each confused model (default: the model's own)",
    }),
    ctConfusion: z.number().positive().default(DEFAULT_CONFUSION).meta({
      placeholder: '<x>',
      description: 'ct: randomly relabelled base records per inspected record in each round',
    }),
    ctBasePerClass: z.int().positive().default(50).meta({
      placeholder: '<n>',
      description:
        'ct: base records per class drawn from the data when no --trusted subset is given',
    }),
  }),
  run: async (ds, _model, options, context) =>
    context.trainLike
      ? confusionTraining(ds, {
          trainLike: context.trainLike,
          ...(context.trusted ? { base: context.trusted } : {}),
          baseSize: options.ctBasePerClass,
          confusion: options.ctConfusion,
          ...(options.ctEpochs !== undefined ? { epochs: options.ctEpochs } : {}),
          seed: context.seed,
          ...(context.onProgress ? { onProgress: context.onProgress } : {}),
        })
      : confusionTrainingNotRun(
          ds,
          'this model cannot be retrained (e.g. an ONNX model), and confusion training trains fresh models like it',
        ),
});
