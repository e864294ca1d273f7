/**
 * The {@link M.Model} adapter of text and tabular models (`FeatureModel`, TF.js): raw records are
 * vectorized (text) or encoded (tabular rows) by the model's fitted featurizer, and the
 * classifier reads the vectors. One inference thread; no input gradients.
 */
import { join } from 'node:path';
import type { Dataset } from '../data/dataset.js';
import type { LoadedDataset } from '../data/load.js';
import { checkInferenceThreads } from './data-parallel.js';
import { TF_FEATURE_MODEL } from './feature-model-guard.js';
import { type FeatureModel, PREPROCESSOR_FILE, VECTORIZER_FILE } from './feature-model-io.js';
import { checkModelReadsData } from './model-data.js';
import type * as M from './model-interface.js';
import { MODEL_JSON, WEIGHTS_BIN } from './model-summary.js';
import type { LayersClassifier } from './text-models.js';

const CAPABILITIES: M.ModelCapabilities = Object.freeze({
  threads: false,
  training: true,
  gradients: false,
  pixels: false,
});

/** A text or tabular model (`FeatureModel`) as a {@link M.Model}. */
export class TfFeatureModel implements M.Model {
  /** Its brand (`isTfFeatureModel` tells it without importing this module). */
  readonly [TF_FEATURE_MODEL] = true;
  readonly capabilities = CAPABILITIES;
  readonly input: M.ModelInput;
  readonly files: readonly string[];

  constructor(
    /** The text or tabular model (its own API: featurizer, tokenizer, texts, save). */
    readonly feature: FeatureModel,
    /** The directory it was loaded from (`''` when in memory only). */
    readonly path = '',
  ) {
    const columns = feature.columns;
    this.input = columns ? { kind: 'tabular', columns } : { kind: 'text' };
    const featurizer = feature.domain === 'text' ? VECTORIZER_FILE : PREPROCESSOR_FILE;
    this.files = path ? [MODEL_JSON, WEIGHTS_BIN, featurizer].map((f) => join(path, f)) : [];
  }

  get domain(): 'text' | 'tabular' {
    return this.feature.domain;
  }

  get kind(): string {
    return this.feature.kind;
  }

  get classes(): readonly string[] {
    return this.feature.classes;
  }

  get classifier(): LayersClassifier {
    return this.feature.classifier;
  }

  get training(): ReadonlyArray<Record<string, unknown>> {
    return this.feature.training;
  }

  featurize(ds: Dataset): Dataset {
    return this.feature.featurize(ds);
  }

  checkReads(loaded: LoadedDataset): void {
    checkModelReadsData(this, this.path, loaded);
  }

  predictProba(ds: Dataset): Promise<Float32Array> {
    return this.feature.predictProbaRaw(ds);
  }

  predict(ds: Dataset): Promise<Int32Array> {
    return this.feature.predictRaw(ds);
  }

  /** Validated like the image models' but inference stays on this thread. */
  useThreads(threads: number): this {
    checkInferenceThreads(threads);
    return this;
  }

  trainLike(features: Dataset, options: M.TrainLikeOptions): Promise<M.DisposableClassifier> {
    return this.feature.trainLike(features, options);
  }

  dispose(): void {
    this.feature.dispose();
  }
}
