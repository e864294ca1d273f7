/**
 * The training loss, in its own module so that the training loop (`train.ts`), the data-parallel
 * step (`data-parallel-step.ts`) and inference ops can share it without importing each other.
 */
import * as tf from '@tensorflow/tfjs-core';

/** Softmax cross-entropy of `logits` against integer `labels`, summed over the batch. */
export function crossEntropySum(
  logits: tf.Tensor2D,
  labels: tf.Tensor1D,
  numClasses: number,
): tf.Scalar {
  return tf.tidy(() => {
    const oneHot = tf.oneHot(labels, numClasses);
    const logProbs = tf.logSoftmax(logits);
    return tf.neg(tf.sum(tf.mul(oneHot, logProbs))) as tf.Scalar;
  });
}
