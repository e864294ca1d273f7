/**
 * What a caller may set on a model's inference (threads, runtime) and how each setting is
 * checked, apart from the engine's modules so that a model handle that has not loaded TF.js yet
 * (`./deferred-image-model.ts`) checks them as a loaded model does (issue 22: a distributed
 * scan's coordinator never runs the model).
 */
import { AntidoteError } from '../errors.js';

/** Most threads a training run or a classifier may use (beyond the cores there is nothing to gain). */
export const MAX_ENGINE_THREADS = 16;

/**
 * Checks an inference thread count of a model: `INVALID_ARGUMENT` outside `[1,`
 * {@link MAX_ENGINE_THREADS}`]`.
 */
export function checkInferenceThreads(threads: number): void {
  if (!Number.isInteger(threads) || threads < 1 || threads > MAX_ENGINE_THREADS) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `inference threads must be an integer in [1, ${MAX_ENGINE_THREADS}], got ${threads}`,
    );
  }
}

/**
 * Which runtime runs a `TfClassifier`'s forward passes (`predictProba`, `predict`,
 * `activations`; input gradients always run in TF.js):
 * - `auto` (default): ONNX Runtime on the model exported to ONNX (`./onnx/onnx-export.ts`) when
 *   every layer exports, TF.js otherwise (silently, also when ONNX Runtime fails to load it);
 * - `onnx`: ONNX Runtime, or `INVALID_ARGUMENT` naming the layer that does not export;
 * - `tfjs`: the engine's own kernels (TF.js, the worker pool with `TfClassifier.useThreads`).
 *
 * Both give the same values up to float rounding (within 1e-5); ONNX Runtime is several times
 * faster on one core (issue 16's speed target; docs/speed.md).
 */
export type InferenceEngine = 'auto' | 'onnx' | 'tfjs';

/** Every {@link InferenceEngine}, for CLI choices and validation. */
export const INFERENCE_ENGINES: readonly InferenceEngine[] = ['auto', 'onnx', 'tfjs'];

/** Checks an inference runtime's name: `INVALID_ARGUMENT` for one not in {@link INFERENCE_ENGINES}. */
export function checkInferenceEngine(engine: InferenceEngine): void {
  if (!INFERENCE_ENGINES.includes(engine)) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `unknown inference engine "${engine}" (expected ${INFERENCE_ENGINES.join(', ')})`,
    );
  }
}
