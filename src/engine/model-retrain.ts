/**
 * Training a fresh model like a loaded one on raw records (`antidote mitigate --retrain`): same
 * architecture and, for text and tabular models, a featurizer of the same settings refitted on
 * the new records. What {@link Model.trainLike} does on records already featurized, this does
 * from the records themselves, so that the result is a complete model directory.
 */
import type { LoadedDataset } from '../data/load.js';
import { AntidoteError } from '../errors.js';
import { FeatureModel } from './feature-model-io.js';
import type { Model, TrainLikeOptions } from './model-interface.js';
import type { OnnxLoadOptions, OnnxPreprocessing } from './onnx/onnx-preprocess.js';
import { trainClassifier } from './tf-classifier.js';
import { TfFeatureModel } from './tf-feature-model.js';
import { TfImageModel } from './tf-image-model.js';
import type { TrainOptions } from './train.js';

/** The options of a training run to repeat (those a run records, its seed required). */
export type RetrainSettings = Pick<
  TrainOptions,
  'seed' | 'epochs' | 'batchSize' | 'learningRate' | 'validationSplit' | 'earlyStoppingPatience'
>;

/** A freshly trained model, to be saved as a model directory. */
export interface RetrainedModel {
  /** Saves the model directory atomically; `ALREADY_EXISTS` unless `overwrite`. */
  save(dir: string, options: { overwrite?: boolean }): Promise<void>;
  dispose(): void;
}

/** Trains a fresh model on the records of a loaded dataset (see {@link retrainerLike}). */
export type Retrainer = (loaded: LoadedDataset) => Promise<RetrainedModel>;

/**
 * The layout and normalisation an ONNX model was loaded with (`OnnxModel.preprocessing`: from
 * its shape and sidecar, or from the command's flags), to load it the same way again.
 */
function onnxLoadOptionsOf(model: Model): OnnxLoadOptions {
  const p = model.preprocessing as Partial<OnnxPreprocessing> | undefined;
  const layout = p?.layout === 'nchw' || p?.layout === 'nhwc' ? p.layout : undefined;
  const norm = p?.normalization;
  return {
    ...(layout ? { layout } : {}),
    ...(norm ? { scale: norm.scale, mean: norm.mean, std: norm.std } : {}),
  };
}

/**
 * A trainer of fresh models like `model`, with `settings`: a zoo image model of the same spec,
 * or a text or tabular model of the same kind, sizes and (text) vectorizer options as its last
 * recorded run; an ONNX model whose ops import is fine-tuned from its weights instead (saved as
 * a `.onnx` file and its sidecar: `./onnx/onnx-fine-tune.ts`; its batch normalization as
 * `fineTuning.batchNorm` says). It keeps what it needs, so `model` may be disposed of before
 * it runs.
 * `INVALID_STATE` for a model that Antidote cannot train.
 */
export function retrainerLike(
  model: Model,
  settings: RetrainSettings,
  fineTuning: Pick<TrainLikeOptions, 'batchNorm'> = {},
): Retrainer {
  if (model instanceof TfImageModel) {
    const spec = model.tf.spec;
    return (loaded) => trainClassifier(loaded.dataset, { model: spec, ...settings });
  }
  if (model instanceof TfFeatureModel) {
    const m = model.feature;
    const vectorizer = m.training[m.training.length - 1]?.vectorizer;
    const options = {
      kind: m.kind,
      ...settings,
      ...(m.spec.hidden ? { hidden: m.spec.hidden } : {}),
      ...(m.spec.embeddingDim ? { embeddingDim: m.spec.embeddingDim } : {}),
      ...(vectorizer && typeof vectorizer === 'object' ? { vectorizer } : {}),
    };
    return (loaded) =>
      FeatureModel.train(
        { dataset: loaded.dataset, ...(loaded.columns ? { columns: loaded.columns } : {}) },
        options,
      );
  }
  if (model.kind === 'onnx' && model.capabilities.training && model.path) {
    // Fine-tuned from its imported weights, written back as ONNX (loaded lazily).
    const path = model.path;
    const load = onnxLoadOptionsOf(model);
    return async (loaded) =>
      (await import('./onnx/onnx-fine-tune.js')).fineTuneOnnx(
        path,
        loaded.dataset,
        { ...settings, ...fineTuning },
        load,
      );
  }
  throw new AntidoteError(
    'INVALID_STATE',
    `${model.path || 'this model'} (a ${model.domain} ${model.kind} model) cannot be retrained by Antidote`,
    { path: model.path },
  );
}
