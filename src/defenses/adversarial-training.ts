/**
 * PGD adversarial training (Madry, Makelov, Schmidt, Tsipras & Vladu 2018, "Towards Deep Learning
 * Models Resistant to Adversarial Attacks", ICLR) as a training option: every mini-batch (or a
 * share of it) is replaced by L∞ PGD adversarial examples against the current weights before the
 * Adam step. Robust features are harder to hijack with small perturbations, which blunts
 * feature-collision poisons and the perturbation half of clean-label backdoors.
 */
import * as tf from '@tensorflow/tfjs-core';
import { type PgdOptions, pgdTensor, resolvePgdOptions } from '../attacks/pgd.js';
import { type Dataset, numRecords, recordShape, recordSize } from '../data/dataset.js';
import { checkDatasetFits, type TfClassifier } from '../engine/index.js';
import { AntidoteError } from '../errors.js';
import { Rng } from '../util/rng.js';

/** Options of {@link adversarialFit}. */
export interface AdversarialTrainingOptions {
  /** Seeds the shuffling and the PGD random starts. */
  readonly seed: number;
  /** The PGD attack trained against (ε, steps, step size). */
  readonly pgd: PgdOptions;
  /** Share of each batch replaced by adversarial examples, in (0, 1]; default 1 (Madry et al.). */
  readonly adversarialShare?: number;
  /** Default 2. */
  readonly epochs?: number;
  /** Default 64. */
  readonly batchSize?: number;
  /** Adam learning rate; default 0.001. */
  readonly learningRate?: number;
  /** Called after every epoch with the mean loss and the accuracy on the (adversarial) batches. */
  readonly onProgress?: (p: {
    epoch: number;
    epochs: number;
    loss: number;
    accuracy: number;
  }) => void;
}

/** Per-epoch loss and accuracy on the training batches as trained (adversarial share included). */
export interface AdversarialTrainingHistory {
  readonly epochs: ReadonlyArray<{ epoch: number; loss: number; accuracy: number }>;
  readonly seconds: number;
}

/**
 * Trains `model` in place with PGD adversarial training on `ds`. Same data, options and seed give
 * the same weights on the same backend. Leaves no tensors behind.
 */
export async function adversarialFit(
  model: TfClassifier,
  ds: Dataset,
  options: AdversarialTrainingOptions,
): Promise<AdversarialTrainingHistory> {
  checkDatasetFits(ds, model.inputShape, model.numClasses);
  const pgd = resolvePgdOptions(options.pgd);
  const share = options.adversarialShare ?? 1;
  const epochs = options.epochs ?? 2;
  const batchSize = options.batchSize ?? 64;
  const lr = options.learningRate ?? 0.001;
  const bad = (field: string, v: unknown, what: string) =>
    new AntidoteError(
      'INVALID_ARGUMENT',
      `adversarial training ${field} must be ${what}, got ${v}`,
      {
        field,
      },
    );
  if (!(share > 0 && share <= 1)) throw bad('adversarialShare', share, 'in (0, 1]');
  if (!Number.isInteger(epochs) || epochs < 1) throw bad('epochs', epochs, 'a positive integer');
  if (!Number.isInteger(batchSize) || batchSize < 1) throw bad('batchSize', batchSize, '≥ 1');
  if (!(lr > 0 && Number.isFinite(lr))) throw bad('learningRate', lr, 'positive');
  if (!Number.isSafeInteger(options.seed)) throw bad('seed', options.seed, 'an integer');
  const n = numRecords(ds);
  if (n === 0) throw new AntidoteError('INVALID_ARGUMENT', 'cannot train on an empty dataset');
  const started = performance.now();
  const shape = recordShape(ds);
  const size = recordSize(ds);
  const k = model.numClasses;
  const rng = new Rng(options.seed);
  const shuffle = rng.fork('shuffle');
  const noiseRng = rng.fork('pgd');
  const optimizer = tf.train.adam(lr);
  const vars = model.model.trainableWeights.map((w) => w.read() as tf.Variable);
  const xBuf = new Float32Array(batchSize * size);
  const yBuf = new Int32Array(batchSize);
  const history: Array<{ epoch: number; loss: number; accuracy: number }> = [];
  const order = Int32Array.from({ length: n }, (_, i) => i);
  try {
    for (let epoch = 1; epoch <= epochs; epoch++) {
      shuffle.shuffle(order);
      let lossSum = 0;
      let hits = 0;
      for (let from = 0; from < n; from += batchSize) {
        const m = Math.min(batchSize, n - from);
        for (let i = 0; i < m; i++) {
          const r = order[from + i]!;
          xBuf.set(ds.x.subarray(r * size, (r + 1) * size), i * size);
          yBuf[i] = ds.y[r]!;
        }
        const nAdv = Math.max(1, Math.round(share * m));
        let noise: Float32Array | undefined;
        if (pgd.randomStart && pgd.epsilon > 0) {
          noise = new Float32Array(nAdv * size);
          for (let i = 0; i < noise.length; i++)
            noise[i] = noiseRng.uniform(-pgd.epsilon, pgd.epsilon);
        }
        const [loss, correct] = tf.tidy(() => {
          const xb = tf.tensor(xBuf.subarray(0, m * size), [m, ...shape]);
          const yb = tf.tensor1d(yBuf.subarray(0, m), 'int32');
          const xa = tf.slice(xb, 0, nAdv);
          const ya = tf.slice(yb, 0, nAdv) as tf.Tensor1D;
          const start = noise ? tf.tensor(noise, [nAdv, ...shape]) : undefined;
          const adv = pgdTensor(model.model, xa, ya, k, pgd, start, 1);
          const mixed = nAdv < m ? tf.concat([adv, tf.slice(xb, nAdv)], 0) : adv;
          let logits: tf.Tensor2D | undefined;
          const cost = optimizer.minimize(
            () => {
              logits = tf.keep(model.model.apply(mixed, { training: true }) as tf.Tensor2D);
              return tf.losses.softmaxCrossEntropy(tf.oneHot(yb, k), logits) as tf.Scalar;
            },
            true,
            vars,
          );
          const c = tf.sum(tf.cast(tf.equal(tf.argMax(logits!, 1), yb), 'int32'));
          const out: [number, number] = [cost!.dataSync()[0]!, c.dataSync()[0]!];
          logits!.dispose();
          return out;
        });
        lossSum += loss! * m;
        hits += correct!;
      }
      const h = { epoch, loss: lossSum / n, accuracy: hits / n };
      history.push(h);
      options.onProgress?.({ ...h, epochs });
      await new Promise((resolve) => setImmediate(resolve));
    }
  } finally {
    optimizer.dispose();
  }
  return { epochs: history, seconds: (performance.now() - started) / 1000 };
}
