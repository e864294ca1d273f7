/**
 * The ML engine: TensorFlow.js setup (wasm by default, cpu fallback, custom kernels), the model
 * zoo, seeded training, the TF.js {@link Classifier} adapter, and the {@link Model} interface
 * with its one loader `loadModel` (image, text and tabular models); the export of the zoo's
 * models to ONNX, whose forward passes then run in ONNX Runtime.
 */
export { activeBackend, BACKEND_NAMES, type BackendName, initEngine } from './backend.js';
export type { Classifier } from './classifier.js';
export * from './feature-model-io.js';
export { registerCustomKernels } from './kernels/register.js';
export * from './model.js';
export {
  loadLayersModel,
  MODEL_JSON,
  type SaveLayersModelOptions,
  saveLayersModel,
  WEIGHTS_BIN,
} from './model-io.js';
export {
  type ExportedGraph,
  type ExportOptions,
  exportLayersModel,
  exportUnsupported,
} from './onnx/onnx-export.js';
export * from './tabular.js';
export * from './text-models.js';
export {
  INFERENCE_ENGINES,
  type InferenceEngine,
  TfClassifier,
  type TfClassifierMetadata,
  trainClassifier,
} from './tf-classifier.js';
export {
  checkDatasetFits,
  fitModel,
  resolveTrainOptions,
  type TrainHistory,
  type TrainOptions,
  type TrainProgress,
} from './train.js';
export {
  ARCH_NAMES,
  type ArchName,
  buildModel,
  LOGITS_LAYER,
  type ModelSpec,
  resolveModelSpec,
} from './zoo.js';
