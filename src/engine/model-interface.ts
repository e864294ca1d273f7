/**
 * One model, whatever it reads and whatever runs it: the interface the CLI, the audit, the gate,
 * the registry and the server hold a loaded model by (`loadModel` in `./model.ts` returns one).
 *
 * A {@link Model} wraps a {@link Classifier} over the model's own representation (pixels for
 * image models, TF-IDF or bag-of-words vectors for text models, standardised one-hot rows for
 * tabular models) with what turns raw records into that representation ({@link Model.featurize}).
 * Callers featurize once and hand `classifier` plus the featurized records to detectors and
 * metrics, which never need to know the domain. Adapters: `TfImageModel` (a zoo `TfClassifier`),
 * `TfFeatureModel` (a text or tabular `FeatureModel`); next an ONNX adapter (issue 17), whose
 * `featurize` will turn HWC images into its NCHW tensors. See ../shared/DESIGN.md §2.
 */
import type { Dataset } from '../data/dataset.js';
import type { LoadedDataset } from '../data/load.js';
import type { Classifier } from './classifier.js';
import type { ModelInput } from './model-input.js';

export type { ModelInput } from './model-input.js';

/** What a model reads: images (and schema-less feature arrays), text, or tabular rows. */
export type ModelDomain = 'image' | 'text' | 'tabular';

/** What a model can do beyond predicting, so that callers ask instead of testing its domain. */
export interface ModelCapabilities {
  /** Inference can be split over worker threads ({@link Model.useThreads} changes something). */
  readonly threads: boolean;
  /** {@link Model.trainLike} trains fresh models of this architecture (folds, retraining). */
  readonly training: boolean;
  /** The classifier gives input gradients (`Classifier.lossGradient`: PGD, Neural Cleanse). */
  readonly gradients: boolean;
  /**
   * Records are images (HWC pixel arrays) that image-space methods may blend and stamp: STRIP
   * superimposition, Neural Cleanse masks, image triggers. False for text and tabular models.
   */
  readonly pixels: boolean;
}

/** A {@link Classifier} that owns weights and must be freed. */
export interface DisposableClassifier extends Classifier {
  /** Frees the weights. */
  dispose(): void;
}

/** Options of {@link Model.trainLike}. */
export interface TrainLikeOptions {
  readonly seed: number;
  /** Default: the epochs of the model's last recorded training run. */
  readonly epochs?: number;
  readonly batchSize?: number;
  readonly learningRate?: number;
  /**
   * Fine-tuning an imported ONNX graph: batch normalization in training mode (`'train'`, the
   * default: batch statistics, running ones updated) or `'frozen'` (running statistics kept);
   * see docs/onnx.md. Other models ignore it.
   */
  readonly batchNorm?: 'train' | 'frozen';
}

/** A loaded model of any domain and runtime (see the module comment). */
export interface Model {
  /** What the model reads. Prefer {@link Model.input} and {@link Model.capabilities}. */
  readonly domain: ModelDomain;
  /** Architecture or kind (`cnn`, `mlp`, `tfidf-logistic`, `logistic`, …). */
  readonly kind: string;
  /** Class names, in output order. */
  readonly classes: readonly string[];
  /** The directory or file it was loaded from (`''` for a model that exists only in memory). */
  readonly path: string;
  /**
   * The files that make up the model (absolute paths: `model.json`, `weights.bin`, a featurizer
   * file; later one `.onnx` file), for hashing, signing and the registry. Provenance and
   * signature files beside them are not included.
   */
  readonly files: readonly string[];
  /** The raw records it reads (the server parses requests with it; see `parseModelRecords`). */
  readonly input: ModelInput;
  readonly capabilities: ModelCapabilities;
  /** The classifier over the model's own representation (what detectors and metrics get). */
  readonly classifier: Classifier;
  /** Training runs that produced the weights, oldest first (`[]` when none is recorded). */
  readonly training: ReadonlyArray<Record<string, unknown>>;
  /**
   * How raw records are prepared for the model where a sidecar or the caller decides it (ONNX
   * models: layout, normalisation, tokenisation; `OnnxPreprocessing`), as JSON data that reports
   * record; absent where the model's own files fix it.
   */
  readonly preprocessing?: object;
  /**
   * Raw records in the model's representation (labels, ids, sources and text kept): identity for
   * image models (after checking the record shape), vectorized text, encoded tabular rows.
   * `SHAPE_MISMATCH` / `INVALID_ARGUMENT` for records it cannot read.
   */
  featurize(ds: Dataset): Dataset;
  /**
   * Checks that the model reads the records of `loaded` (and, for text and tabular models, names
   * the same classes and columns): `INVALID_ARGUMENT` saying what to train instead.
   */
  checkReads(loaded: LoadedDataset): void;
  /** Class probabilities of raw records, `[N, K]` (featurized first). */
  predictProba(ds: Dataset): Promise<Float32Array>;
  /** Predicted class of each raw record. */
  predict(ds: Dataset): Promise<Int32Array>;
  /**
   * Threads inference splits large inputs over, where {@link ModelCapabilities.threads}
   * (elsewhere validated and ignored: one thread). `INVALID_ARGUMENT` outside `[1, max]`.
   */
  useThreads(threads: number): this;
  /**
   * A fresh classifier of this architecture trained on records already in the model's
   * representation (e.g. cross-validation folds), with the recorded training options unless
   * overridden. `INVALID_STATE` where {@link ModelCapabilities.training} is false.
   */
  trainLike(features: Dataset, options: TrainLikeOptions): Promise<DisposableClassifier>;
  /** Frees the weights (and inference threads). */
  dispose(): void;
}
