/**
 * The transfer-learning victim of Shafahi et al. 2018 ("Poison Frogs!", §3): the feature extractor
 * is frozen and only the last (logits) layer is retrained on the possibly poisoned training set.
 * Representations are computed once with the frozen network, then the logits layer's weights are
 * trained with Adam on them and written back.
 */
import * as tf from '@tensorflow/tfjs-core';
import { type Dataset, numRecords } from '../data/dataset.js';
import { checkDatasetFits, LOGITS_LAYER, type TfClassifier } from '../engine/index.js';
import { AntidoteError } from '../errors.js';
import { Rng } from '../util/rng.js';

/** Options of {@link retrainLastLayer}. */
export interface RetrainLastLayerOptions {
  readonly seed: number;
  /** Default 10. */
  readonly epochs?: number;
  /** Default 128. */
  readonly batchSize?: number;
  /** Adam learning rate; default 0.01. */
  readonly learningRate?: number;
}

/**
 * Retrains, in place, only the logits layer of `model` on `ds` (starting from its current
 * weights), with everything before it frozen. Returns the mean training loss of the last epoch.
 */
export async function retrainLastLayer(
  model: TfClassifier,
  ds: Dataset,
  options: RetrainLastLayerOptions,
): Promise<{ loss: number }> {
  checkDatasetFits(ds, model.inputShape, model.numClasses);
  const epochs = options.epochs ?? 10;
  const batchSize = options.batchSize ?? 128;
  const lr = options.learningRate ?? 0.01;
  if (!Number.isInteger(epochs) || epochs < 1 || !Number.isInteger(batchSize) || batchSize < 1) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `epochs and batch size must be positive integers, got ${epochs} and ${batchSize}`,
    );
  }
  if (!(lr > 0 && Number.isFinite(lr))) {
    throw new AntidoteError('INVALID_ARGUMENT', `learning rate must be positive, got ${lr}`);
  }
  const i = model.layerNames.indexOf(LOGITS_LAYER);
  if (i < 1) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `the model has no "${LOGITS_LAYER}" layer to retrain`,
    );
  }
  const n = numRecords(ds);
  if (n === 0) throw new AntidoteError('INVALID_ARGUMENT', 'cannot train on an empty dataset');
  const { data, dim } = await model.activations(ds.x, n, model.layerNames[i - 1]);
  const logits = model.model.getLayer(LOGITS_LAYER);
  const [w0, b0] = logits.getWeights();
  if (!w0 || !b0) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `the "${LOGITS_LAYER}" layer has no kernel and bias to retrain`,
    );
  }
  const [w, b] = tf.tidy(() => [tf.variable(tf.clone(w0)), tf.variable(tf.clone(b0))]);
  const optimizer = tf.train.adam(lr);
  const rng = new Rng(options.seed).fork('retrain-last-layer');
  const order = Int32Array.from({ length: n }, (_, j) => j);
  const fBuf = new Float32Array(batchSize * dim);
  const yBuf = new Int32Array(batchSize);
  let last = 0;
  try {
    for (let e = 0; e < epochs; e++) {
      rng.shuffle(order);
      let sum = 0;
      for (let from = 0; from < n; from += batchSize) {
        const m = Math.min(batchSize, n - from);
        for (let j = 0; j < m; j++) {
          const r = order[from + j]!;
          fBuf.set(data.subarray(r * dim, (r + 1) * dim), j * dim);
          yBuf[j] = ds.y[r]!;
        }
        const loss = tf.tidy(() => {
          const fb = tf.tensor2d(fBuf.subarray(0, m * dim), [m, dim]);
          const yb = tf.oneHot(tf.tensor1d(yBuf.subarray(0, m), 'int32'), model.numClasses);
          return optimizer.minimize(
            () => tf.losses.softmaxCrossEntropy(yb, tf.add(tf.matMul(fb, w), b)) as tf.Scalar,
            true,
            [w, b],
          )!;
        });
        sum += (await loss.data())[0]! * m;
        loss.dispose();
      }
      last = sum / n;
    }
    logits.setWeights([w, b]);
  } finally {
    w.dispose();
    b.dispose();
    optimizer.dispose();
  }
  return { loss: last };
}
