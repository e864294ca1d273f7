/**
 * The {@link M.Model} adapter of the zoo's image models (`TfClassifier`, TF.js): records are read
 * as they are (HWC images, or schema-less feature rows), inference may use worker threads, and
 * the model trains, fine-tunes and gives input gradients.
 */
import { join } from 'node:path';
import { type Dataset, numRecords } from '../data/dataset.js';
import type { LoadedDataset } from '../data/load.js';
import { featurizeImageRecords, ZOO_IMAGE_CAPABILITIES } from './deferred-image-model.js';
import { checkModelReadsData } from './model-data.js';
import type * as M from './model-interface.js';
import { MODEL_JSON, WEIGHTS_BIN } from './model-summary.js';
import { type TfClassifier, trainClassifier } from './tf-classifier.js';
import { checkDatasetFits } from './train.js';

/** Reads a number from a recorded training run. */
function recorded(run: Record<string, unknown> | undefined, key: string): number | undefined {
  const v = run?.[key];
  return typeof v === 'number' ? v : undefined;
}

/** A zoo image model (`TfClassifier`) as a {@link M.Model}. */
export class TfImageModel implements M.Model {
  readonly domain = 'image' as const;
  readonly capabilities = ZOO_IMAGE_CAPABILITIES;
  readonly input: M.ModelInput;
  readonly files: readonly string[];

  constructor(
    /** The TF.js classifier (the model's own API: fit, save, spec, layers). */
    readonly tf: TfClassifier,
    /** The directory it was loaded from (`''` when in memory only). */
    readonly path = '',
  ) {
    this.input = { kind: 'tensor', shape: [...tf.inputShape] };
    this.files = path ? [join(path, MODEL_JSON), join(path, WEIGHTS_BIN)] : [];
  }

  get kind(): string {
    return this.tf.spec.arch;
  }

  get classes(): readonly string[] {
    return this.tf.classes;
  }

  get classifier(): TfClassifier {
    return this.tf;
  }

  get training(): ReadonlyArray<Record<string, unknown>> {
    return this.tf.metadata.training;
  }

  /** `ds` itself, once its records are checked to have the model's input shape. */
  featurize(ds: Dataset): Dataset {
    return featurizeImageRecords(ds, this.tf.inputShape);
  }

  checkReads(loaded: LoadedDataset): void {
    checkModelReadsData(this, this.path, loaded);
  }

  /** Class probabilities; `SHAPE_MISMATCH` unless the records and classes fit the model. */
  async predictProba(ds: Dataset): Promise<Float32Array> {
    checkDatasetFits(ds, this.tf.inputShape, this.tf.numClasses);
    return this.tf.predictProba(ds.x, numRecords(ds));
  }

  async predict(ds: Dataset): Promise<Int32Array> {
    checkDatasetFits(ds, this.tf.inputShape, this.tf.numClasses);
    return this.tf.predict(ds.x, numRecords(ds));
  }

  useThreads(threads: number): this {
    this.tf.useThreads(threads);
    return this;
  }

  /** A fresh model of the same spec, trained with the last recorded run's options unless given. */
  trainLike(features: Dataset, options: M.TrainLikeOptions): Promise<M.DisposableClassifier> {
    const runs = this.training;
    const last = runs[runs.length - 1];
    const epochs = options.epochs ?? recorded(last, 'epochs');
    const batchSize = options.batchSize ?? recorded(last, 'batchSize');
    const learningRate = options.learningRate ?? recorded(last, 'learningRate');
    return trainClassifier(features, {
      model: this.tf.spec,
      seed: options.seed,
      ...(epochs !== undefined ? { epochs } : {}),
      ...(batchSize !== undefined ? { batchSize } : {}),
      ...(learningRate !== undefined ? { learningRate } : {}),
    });
  }

  dispose(): void {
    this.tf.dispose();
  }
}
