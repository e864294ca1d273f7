/**
 * What gradient-based methods (PGD, Neural Cleanse, feature collision) need of a model: a
 * differentiable TF.js function from a batch of records to logits. A zoo `TfClassifier` gives
 * its `tfl.LayersModel`; an imported ONNX graph (`./onnx/onnx-tf-graph.ts`) gives the same
 * `apply`, so those methods run on either.
 */
import type * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';

/** A differentiable model: `apply(x)` returns the logits `[n, K]` of the records `x`. */
export interface LogitsModel {
  apply(inputs: tf.Tensor, kwargs?: { training?: boolean }): ReturnType<tfl.LayersModel['apply']>;
}

/** A {@link LogitsModel} with the record shape it reads and its number of classes. */
export interface DifferentiableModel {
  readonly model: LogitsModel;
  /** One record's shape (HWC for images). */
  readonly inputShape: readonly number[];
  readonly numClasses: number;
}

/**
 * A differentiable image model of raw records with its class names and predictions (what
 * `antidote inspect` and the clean-label backdoor's surrogate need).
 */
export interface DifferentiableImageModel extends DifferentiableModel {
  readonly classes: readonly string[];
  /** Predicted class of each of the `n` records of `x` (`[n, ...inputShape]`). */
  predict(x: Float32Array, n: number): Promise<Int32Array>;
}

/**
 * A differentiable image model whose named layers' activations are TF.js functions of its
 * records (feature collision), as an imported ONNX graph gives them; a zoo `TfClassifier`
 * gives the same through its `tfl.LayersModel`.
 */
export interface LayeredModel extends DifferentiableImageModel {
  /** Layers (tensor names) whose activations may be asked for, input to output. */
  readonly layerNames: readonly string[];
  /** The penultimate layer. */
  readonly defaultLayer: string;
  /** Activations of `layer` for the records `x`, `[n, ...]`, differentiable. */
  layerOutput(x: tf.Tensor, layer: string): tf.Tensor;
}
