/**
 * The model loader: one {@link loadModel} for every model Antidote reads, returning the
 * {@link Model} interface (`./model-interface.ts`) every caller holds a model by, and the
 * narrowing to the runtime models for the few methods that need their internals.
 */
import { AntidoteError } from '../errors.js';
import type { DifferentiableImageModel } from './differentiable.js';
import { FeatureModel } from './feature-model-io.js';
import type { Model } from './model-interface.js';
import { modelDirOf, modelDomain } from './model-summary.js';
import { hasOnnxOptions, type OnnxLoadOptions } from './onnx/onnx-preprocess.js';
import { TfClassifier } from './tf-classifier.js';
import { TfFeatureModel } from './tf-feature-model.js';
import { TfImageModel } from './tf-image-model.js';

export type {
  DifferentiableImageModel,
  DifferentiableModel,
  LogitsModel,
} from './differentiable.js';
export {
  checkModelReadsData,
  checkSameColumns,
  derivedMeta,
  modelDataMismatch,
} from './model-data.js';
export { type ModelInput, parseModelRecords } from './model-input.js';
export type {
  DisposableClassifier,
  Model,
  ModelCapabilities,
  ModelDomain,
  TrainLikeOptions,
} from './model-interface.js';
export { type ModelSummary, modelDomain, readModelSummary } from './model-summary.js';
export { TfFeatureModel } from './tf-feature-model.js';
export { TfImageModel } from './tf-image-model.js';

/** Options of {@link loadModel}. */
export interface LoadModelOptions {
  /** Layout and normalisation overrides of an ONNX model (`INVALID_ARGUMENT` for others). */
  readonly onnx?: OnnxLoadOptions;
}

/**
 * Loads the model at `path`, whatever it is: an image model of the zoo, or a text or tabular
 * model (told apart by `model.json`'s `antidote` metadata), as a {@link Model}. `path` is a
 * model directory or its `model.json`. Errors: `NOT_FOUND` when there is no `model.json`;
 * `INVALID_FORMAT` for a file that is not a model and for malformed metadata; those of
 * `TfClassifier.load` / `FeatureModel.load`. A `.onnx` file loads as an `OnnxModel` (float input)
 * or an `OnnxTextModel` (token ids), with `options.onnx` applied; `INVALID_ARGUMENT` when
 * `options.onnx` sets anything for another model.
 */
export async function loadModel(path: string, options: LoadModelOptions = {}): Promise<Model> {
  // ONNX models (issue 17): onnxruntime-node loads only when one is asked for.
  if (path.toLowerCase().endsWith('.onnx')) {
    return (await import('./onnx/onnx-load.js')).loadOnnxModel(path, options.onnx);
  }
  if (hasOnnxOptions(options.onnx)) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `--layout, --scale, --mean and --std apply to ONNX models (.onnx files); ${path} is not one`,
      { path },
    );
  }
  const dir = await modelDirOf(path);
  const domain = await modelDomain(dir);
  if (domain === 'image') return new TfImageModel(await TfClassifier.load(dir), dir);
  return new TfFeatureModel(await FeatureModel.load(dir), dir);
}

/**
 * The TF.js zoo classifier of an image model, for the methods that need its internals
 * (fine-pruning, Neural Cleanse on the CLI, fine-tuning). `INVALID_ARGUMENT` naming `purpose`
 * for any other model.
 */
export function requireImageModel(model: Model, purpose: string): TfClassifier {
  if (model instanceof TfImageModel) return model.tf;
  throw new AntidoteError(
    'INVALID_ARGUMENT',
    `${purpose} needs an image model; ${model.path || 'this model'} is a ${model.domain} model (${model.kind})`,
    { path: model.path },
  );
}

/**
 * A differentiable image model behind `model` (logits as a TF.js function of raw HWC records),
 * for Neural Cleanse and the gradient attacks: a zoo image model's `TfClassifier`, or the graph
 * of an ONNX model imported into the engine (`OnnxModel.differentiable`, loaded lazily).
 * `INVALID_ARGUMENT` naming `purpose` for a text or tabular model and for a model without input
 * gradients (an ONNX model with an op Antidote cannot import, named).
 */
export async function requireDifferentiable(
  model: Model,
  purpose: string,
): Promise<DifferentiableImageModel> {
  if (model instanceof TfImageModel) return model.tf;
  if (model.kind === 'onnx' && model.capabilities.pixels) {
    const { OnnxModel } = await import('./onnx/onnx-model.js');
    if (model instanceof OnnxModel) {
      if (model.notImportable === undefined) return model.differentiable();
      throw new AntidoteError(
        'INVALID_ARGUMENT',
        `${purpose} needs input gradients; ${model.path} uses ${model.notImportable}, which Antidote cannot import (docs/onnx.md lists the ops it can)`,
        { path: model.path },
      );
    }
  }
  return requireImageModel(model, purpose);
}

/**
 * The text or tabular model behind `model`, for what only they have (raw-text prediction for
 * keyword discovery, the tokenizer). `INVALID_ARGUMENT` naming `purpose` for any other model.
 */
export function requireFeatureModel(model: Model, purpose: string): FeatureModel {
  if (model instanceof TfFeatureModel) return model.feature;
  throw new AntidoteError(
    'INVALID_ARGUMENT',
    `${purpose} needs a text or tabular model; ${model.path || 'this model'} is an ${model.domain} model (${model.kind})`,
    { path: model.path },
  );
}
