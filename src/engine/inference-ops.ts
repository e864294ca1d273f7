/**
 * The batched inference computations behind {@link TfClassifier}'s `predictProba`, `activations`
 * and `lossGradient`, as plain functions of a model, so that the trainer's thread and the
 * inference workers (`inference-pool.ts`) run the very same code.
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { leanGradients, leanPlan } from './lean-backprop.js';
import { crossEntropySum } from './loss.js';

/** What an inference pass computes per record. */
export type InferenceOp = 'proba' | 'activations' | 'inputGradient';

/** One inference pass over `n` records of `x` (row-major, `inputShape` each). */
export interface InferenceRequest {
  readonly op: InferenceOp;
  readonly x: Float32Array;
  readonly n: number;
  readonly inputShape: readonly number[];
  /** Values per output record: classes (proba), the layer's width, or the record size. */
  readonly outDim: number;
  /** True labels, for `inputGradient`. */
  readonly y?: Int32Array;
  /** Records per forward pass. */
  readonly batchSize: number;
}

/**
 * Runs `req` with `model` (for `activations`, the sub-model ending at the layer). Returns
 * `[n, outDim]`. Leaves no tensors behind.
 */
export function runInference(
  model: tfl.LayersModel,
  req: InferenceRequest,
  numClasses: number,
): Float32Array {
  const size = req.inputShape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(req.n * req.outDim);
  for (let from = 0; from < req.n; from += req.batchSize) {
    const m = Math.min(req.batchSize, req.n - from);
    const result = tf.tidy(() => {
      const xb = tf.tensor(req.x.subarray(from * size, (from + m) * size), [m, ...req.inputShape]);
      if (req.op === 'proba') {
        return tf.softmax(model.apply(xb, { training: false }) as tf.Tensor2D);
      }
      if (req.op === 'activations') return model.apply(xb, { training: false }) as tf.Tensor;
      const labels = (req.y as Int32Array).subarray(from, from + m);
      const plan = leanPlan(model);
      if (plan) {
        return leanGradients(plan, xb, labels, 1, { weights: false, input: true }).dx as tf.Tensor;
      }
      const yb = tf.tensor1d(labels, 'int32');
      const f = (input: tf.Tensor) =>
        crossEntropySum(model.apply(input, { training: false }) as tf.Tensor2D, yb, numClasses);
      return tf.grad(f)(xb);
    });
    out.set(result.dataSync() as Float32Array, from * req.outDim);
    result.dispose();
  }
  return out;
}
