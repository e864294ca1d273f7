/**
 * Backdoor unlearning (Wang et al. 2019, "Neural Cleanse", §6.2): fine-tune the model on clean
 * records of which a share carries the reversed trigger while keeping its *true* label, so the
 * model learns that the trigger means nothing.
 */
import type { Dataset } from '../data/dataset.js';
import type { TrainHistory } from '../engine/index.js';
import { AntidoteError } from '../errors.js';
import { Rng } from '../util/rng.js';
import type { ReversedTrigger } from './neural-cleanse.js';
import { stampReversedTrigger } from './neural-cleanse.js';

/** Options of {@link unlearnBackdoor}. */
export interface UnlearningOptions {
  readonly seed: number;
  /** Share of the clean records stamped with the reversed trigger; default 0.2 (the paper's). */
  readonly fraction?: number;
  /** Fine-tuning epochs; default 2. */
  readonly epochs?: number;
  /** Default 32. */
  readonly batchSize?: number;
  /** Adam learning rate; default 0.001. */
  readonly learningRate?: number;
  /**
   * Raw records (HWC images, where the trigger is stamped) to the model's own representation,
   * e.g. `OnnxModel.featurize` for an NCHW ONNX model; default: the records as they are.
   */
  readonly featurize?: (ds: Dataset) => Dataset;
}

/**
 * A model fine-tuned in place by {@link unlearnBackdoor}: a zoo `TfClassifier`, or an ONNX
 * model's imported graph (`OnnxTfClassifier`); `H` is what its `fit` returns.
 */
export interface FineTunable<H> {
  fit(
    ds: Dataset,
    options: { seed: number; epochs: number; batchSize: number; learningRate: number },
  ): Promise<H>;
}

/**
 * The unlearning set: `clean` with a seeded share `fraction` of its records stamped with the
 * reversed trigger (labels unchanged). Returns a new dataset.
 */
export function unlearningDataset(
  clean: Dataset,
  trigger: Pick<ReversedTrigger, 'mask' | 'pattern'>,
  fraction: number,
  seed: number,
): Dataset {
  if (!(fraction > 0 && fraction <= 1)) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `unlearning fraction must be in (0, 1], got ${fraction}`,
      {
        field: 'fraction',
      },
    );
  }
  const n = clean.shape[0]!;
  const size = clean.x.length / Math.max(n, 1);
  const k = Math.round(fraction * n);
  const pick = new Rng(seed).fork('unlearning').sample(n, k);
  const x = clean.x.slice();
  const picked = new Float32Array(k * size);
  for (let i = 0; i < k; i++)
    picked.set(clean.x.subarray(pick[i]! * size, (pick[i]! + 1) * size), i * size);
  const stamped = stampReversedTrigger(picked, k, trigger);
  for (let i = 0; i < k; i++) x.set(stamped.subarray(i * size, (i + 1) * size), pick[i]! * size);
  return { ...clean, x };
}

/**
 * Unlearns a backdoor in place: fine-tunes `model` on {@link unlearningDataset} (featurized by
 * `options.featurize`, if given). Returns the fine-tuning history.
 */
export async function unlearnBackdoor<H = TrainHistory>(
  model: FineTunable<H>,
  clean: Dataset,
  trigger: Pick<ReversedTrigger, 'mask' | 'pattern'>,
  options: UnlearningOptions,
): Promise<H> {
  const stamped = unlearningDataset(clean, trigger, options.fraction ?? 0.2, options.seed);
  const ds = options.featurize ? options.featurize(stamped) : stamped;
  return model.fit(ds, {
    seed: options.seed,
    epochs: options.epochs ?? 2,
    batchSize: options.batchSize ?? 32,
    learningRate: options.learningRate ?? 0.001,
  });
}
