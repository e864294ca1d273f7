/**
 * What defenses and metrics may ask of a model, whatever runs it (TF.js today, ONNX later).
 * All arrays are row-major; `n` is the number of records in `x`.
 */
export interface Classifier {
  /** Shape of one input record, e.g. `[28, 28, 1]` or `[57]`. */
  readonly inputShape: readonly number[];
  /** Number of output classes K. */
  readonly numClasses: number;
  /** Names of the layers whose activations can be asked for, input to output. */
  readonly layerNames: readonly string[];
  /** Class probabilities, `[n, K]`. */
  predictProba(x: Float32Array, n: number): Promise<Float32Array>;
  /** Predicted class per record (argmax of {@link Classifier.predictProba}). */
  predict(x: Float32Array, n: number): Promise<Int32Array>;
  /**
   * Flattened activations of `layer` (default: the penultimate layer), `[n, dim]`.
   */
  activations(
    x: Float32Array,
    n: number,
    layer?: string,
  ): Promise<{ data: Float32Array; dim: number }>;
  /**
   * The activations of `layer` (as {@link Classifier.activations}) and the class probabilities (as
   * {@link Classifier.predictProba}) from one forward pass. Optional: callers that need both ask
   * for each when a classifier lacks it (`defenses/representations.ts`).
   */
  activationsAndProba?(
    x: Float32Array,
    n: number,
    layer?: string,
  ): Promise<{ data: Float32Array; dim: number; probabilities: Float32Array }>;
  /** Gradient of the cross-entropy loss w.r.t. the input, same layout as `x`. */
  lossGradient?(x: Float32Array, y: Int32Array): Promise<Float32Array>;
}
