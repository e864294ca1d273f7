import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { type Dataset, numRecords, recordShape, recordSize } from '../data/dataset.js';
import { AntidoteError } from '../errors.js';
import { Rng } from '../util/rng.js';
import { GradientWorkerPool, MAX_ENGINE_THREADS } from './data-parallel.js';
import { applyOwn, contiguousShards, FusedAdam, shardGradients } from './data-parallel-step.js';
import { crossEntropySum } from './loss.js';
import type { ArchName, ModelSpec } from './zoo.js';

/** Progress of a training run, reported after every batch and at the end of every epoch. */
export interface TrainProgress {
  /** 1-based epoch. */
  readonly epoch: number;
  readonly epochs: number;
  /** 1-based batch within the epoch. */
  readonly batch: number;
  readonly batches: number;
  /** Mean training loss over the epoch so far. */
  readonly loss: number;
  /** Training accuracy over the epoch so far. */
  readonly accuracy: number;
  /** Validation loss and accuracy, on the last batch of an epoch when a validation split is set. */
  readonly valLoss?: number;
  readonly valAccuracy?: number;
  /** True on the report that ends an epoch. */
  readonly epochEnd: boolean;
}

/** Options of a training run (all but `model` also apply to fine-tuning). */
export interface TrainOptions {
  /** Architecture (name or spec). Ignored when fine-tuning an existing model. */
  readonly model: ArchName | ModelSpec;
  /** Seeds weight initialisation, the validation split and shuffling. */
  readonly seed: number;
  /** Passes over the training data; default 2. */
  readonly epochs?: number;
  /** Records per gradient step; default 64. */
  readonly batchSize?: number;
  /** Adam learning rate; default 0.001. */
  readonly learningRate?: number;
  /** Share of records held out (seeded) for validation, in [0, 1); default 0. */
  readonly validationSplit?: number;
  /**
   * Stop when the validation loss (training loss without a split) has not improved for this many
   * epochs, and restore the best weights. Default: no early stopping.
   */
  readonly earlyStoppingPatience?: number;
  /**
   * Threads computing gradients (default 1): with more, every batch is split into that many
   * shards and all but the first go to `worker_threads` replicas (see `data-parallel.ts`).
   * Results are reproducible for a given seed and thread count.
   */
  readonly threads?: number;
  /** Called after every batch; must not throw. */
  readonly onProgress?: (p: TrainProgress) => void;
}

/** Per-epoch metrics of a finished training run. */
export interface TrainHistory {
  readonly epochs: ReadonlyArray<{
    epoch: number;
    loss: number;
    accuracy: number;
    valLoss?: number;
    valAccuracy?: number;
  }>;
  /** Epoch whose weights were kept (differs from the last with early stopping). */
  readonly bestEpoch: number;
  readonly stoppedEarly: boolean;
  readonly samples: number;
  readonly seconds: number;
}

/** Validates the training options, returning them with defaults filled in. */
export function resolveTrainOptions(o: Omit<TrainOptions, 'model'>) {
  const epochs = o.epochs ?? 2;
  const batchSize = o.batchSize ?? 64;
  const learningRate = o.learningRate ?? 0.001;
  const validationSplit = o.validationSplit ?? 0;
  const check = (ok: boolean, msg: string) => {
    if (!ok) throw new AntidoteError('INVALID_ARGUMENT', msg);
  };
  check(Number.isSafeInteger(o.seed), `seed must be an integer, got ${o.seed}`);
  check(
    Number.isInteger(epochs) && epochs >= 1,
    `epochs must be a positive integer, got ${epochs}`,
  );
  check(
    Number.isInteger(batchSize) && batchSize >= 1,
    `batch size must be a positive integer, got ${batchSize}`,
  );
  check(
    learningRate > 0 && Number.isFinite(learningRate),
    `learning rate must be positive, got ${learningRate}`,
  );
  check(
    validationSplit >= 0 && validationSplit < 1,
    `validation split must be in [0, 1), got ${validationSplit}`,
  );
  if (o.earlyStoppingPatience !== undefined) {
    check(
      Number.isInteger(o.earlyStoppingPatience) && o.earlyStoppingPatience >= 1,
      `early-stopping patience must be a positive integer, got ${o.earlyStoppingPatience}`,
    );
  }
  const threads = o.threads ?? 1;
  check(
    Number.isInteger(threads) && threads >= 1 && threads <= MAX_ENGINE_THREADS,
    `threads must be an integer in [1, ${MAX_ENGINE_THREADS}], got ${threads}`,
  );
  return { ...o, epochs, batchSize, learningRate, validationSplit, threads };
}

/** Checks that `ds` fits a model with `inputShape` and `numClasses` outputs. */
export function checkDatasetFits(
  ds: Dataset,
  inputShape: readonly number[],
  numClasses: number,
): void {
  const shape = recordShape(ds);
  if (shape.length !== inputShape.length || shape.some((d, i) => d !== inputShape[i])) {
    throw new AntidoteError(
      'SHAPE_MISMATCH',
      `the model expects records of shape [${inputShape.join(', ')}], the data has [${shape.join(', ')}]`,
    );
  }
  if (ds.classes.length !== numClasses) {
    throw new AntidoteError(
      'SHAPE_MISMATCH',
      `the model has ${numClasses} classes, the data has ${ds.classes.length}`,
    );
  }
}

/** Copies the records at `order[from..to)` into `xOut`/`yOut` (a batch). */
function fillBatch(
  ds: Dataset,
  order: Int32Array,
  from: number,
  to: number,
  xOut: Float32Array,
  yOut: Int32Array,
) {
  const size = recordSize(ds);
  for (let i = from; i < to; i++) {
    const r = order[i]!;
    xOut.set(ds.x.subarray(r * size, (r + 1) * size), (i - from) * size);
    yOut[i - from] = ds.y[r]!;
  }
}

/**
 * Trains `model` in place on `ds` with Adam and seeded shuffling: the same model, data and seed
 * give the same weights, bit for bit, on the same backend. Leaves no tensors behind.
 */
export async function fitModel(
  model: tfl.LayersModel,
  ds: Dataset,
  numClasses: number,
  options: Omit<TrainOptions, 'model'>,
): Promise<TrainHistory> {
  const o = resolveTrainOptions(options);
  const started = performance.now();
  const n = numRecords(ds);
  if (n === 0) throw new AntidoteError('INVALID_ARGUMENT', 'cannot train on an empty dataset');
  const rng = new Rng(o.seed);
  const split = rng.fork('validation-split').permutation(n);
  const nVal = Math.floor(n * o.validationSplit);
  const valIdx = split.slice(n - nVal);
  const trainIdx = nVal > 0 ? split.slice(0, n - nVal).sort() : split.sort();
  const nTrain = trainIdx.length;
  if (nTrain === 0)
    throw new AntidoteError('INVALID_ARGUMENT', 'the validation split leaves no training records');
  const shuffleRng = rng.fork('shuffle');
  const shape = recordShape(ds);
  const size = recordSize(ds);
  const batches = Math.ceil(nTrain / o.batchSize);
  const xBuf = new Float32Array(o.batchSize * size);
  const yBuf = new Int32Array(o.batchSize);
  const optimizer = new FusedAdam(o.learningRate);
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const pool =
    o.threads > 1
      ? await GradientWorkerPool.start(model, vars, o.threads - 1, {
          inputShape: shape,
          numClasses,
          maxShard: Math.ceil(o.batchSize / o.threads),
          learningRate: o.learningRate,
        })
      : undefined;
  const history: Array<{
    epoch: number;
    loss: number;
    accuracy: number;
    valLoss?: number;
    valAccuracy?: number;
  }> = [];
  let best = Number.POSITIVE_INFINITY;
  let bestEpoch = 0;
  let bestWeights: tf.Tensor[] | undefined;
  let stoppedEarly = false;
  try {
    for (let epoch = 1; epoch <= o.epochs; epoch++) {
      const order = shuffleRng.shuffle(trainIdx.slice());
      let lossSum = 0;
      let correct = 0;
      let seen = 0;
      for (let b = 0; b < batches; b++) {
        const from = b * o.batchSize;
        const to = Math.min(from + o.batchSize, nTrain);
        const m = to - from;
        fillBatch(ds, order, from, to, xBuf, yBuf);
        const [batchLoss, batchCorrect] = pool
          ? parallelStep(pool, optimizer, model, vars, xBuf, yBuf, m, shape, numClasses)
          : tf.tidy(() => {
              const own = shardGradients(model, vars, xBuf, yBuf, m, shape, numClasses, 1 / m);
              applyOwn(optimizer, vars, own.grads);
              return [own.loss, own.hits];
            });
        lossSum += batchLoss * m;
        correct += batchCorrect;
        seen += m;
        const last = b === batches - 1;
        let val: { loss: number; accuracy: number } | undefined;
        if (last && nVal > 0) val = evaluateOn(model, ds, valIdx, numClasses, o.batchSize * 4);
        o.onProgress?.({
          epoch,
          epochs: o.epochs,
          batch: b + 1,
          batches,
          loss: lossSum / seen,
          accuracy: correct / seen,
          ...(val ? { valLoss: val.loss, valAccuracy: val.accuracy } : {}),
          epochEnd: last,
        });
        if (last) {
          history.push({
            epoch,
            loss: lossSum / seen,
            accuracy: correct / seen,
            ...(val ? { valLoss: val.loss, valAccuracy: val.accuracy } : {}),
          });
        }
      }
      if (o.earlyStoppingPatience !== undefined) {
        const h = history[history.length - 1]!;
        const monitored = h.valLoss ?? h.loss;
        if (monitored < best) {
          best = monitored;
          bestEpoch = epoch;
          for (const t of bestWeights ?? []) t.dispose();
          bestWeights = vars.map((v) => tf.clone(v));
        } else if (epoch - bestEpoch >= o.earlyStoppingPatience) {
          stoppedEarly = true;
          break;
        }
      } else {
        bestEpoch = epoch;
      }
      // Let other work (progress rendering, signals) run between epochs.
      await new Promise((resolve) => setImmediate(resolve));
    }
    if (bestWeights && bestEpoch !== history.length) {
      vars.forEach((v, i) => {
        v.assign(bestWeights![i]!);
      });
    }
  } finally {
    for (const t of bestWeights ?? []) t.dispose();
    optimizer.dispose();
    await pool?.close();
  }
  return {
    epochs: history,
    bestEpoch,
    stoppedEarly,
    samples: nTrain * history.length,
    seconds: (performance.now() - started) / 1000,
  };
}

/**
 * One data-parallel step: the workers take shards 1…, the trainer shard 0; every participant
 * publishes its gradient (its shard's loss sum over the batch size), sums all of them in shard
 * order and applies the sum itself (see `data-parallel.ts`). Returns the batch's mean loss and
 * hits.
 */
function parallelStep(
  pool: GradientWorkerPool,
  optimizer: FusedAdam,
  model: tfl.LayersModel,
  vars: readonly tf.Variable[],
  xBuf: Float32Array,
  yBuf: Int32Array,
  m: number,
  shape: readonly number[],
  numClasses: number,
): [number, number] {
  const size = shape.reduce((a, b) => a * b, 1);
  const { sizes, starts } = contiguousShards(m, pool.size + 1);
  const scale = 1 / m;
  const step = pool.beginStep(
    sizes.slice(1).map((q, w) => {
      const from = starts[w + 1]!;
      return {
        x: xBuf.subarray(from * size, (from + q) * size),
        y: yBuf.subarray(from, from + q),
        m: q,
      };
    }),
    scale,
  );
  return tf.tidy(() => {
    const own = shardGradients(model, vars, xBuf, yBuf, sizes[0]!, shape, numClasses, scale);
    const others = pool.endStep(optimizer, own.grads, step);
    return [own.loss + others.loss, own.hits + others.hits] as [number, number];
  });
}

/** Mean loss and accuracy of `model` on the records `indices` of `ds`. */
function evaluateOn(
  model: tfl.LayersModel,
  ds: Dataset,
  indices: Int32Array,
  numClasses: number,
  batchSize: number,
): { loss: number; accuracy: number } {
  const shape = recordShape(ds);
  const size = recordSize(ds);
  const xBuf = new Float32Array(batchSize * size);
  const yBuf = new Int32Array(batchSize);
  let loss = 0;
  let correct = 0;
  for (let from = 0; from < indices.length; from += batchSize) {
    const to = Math.min(from + batchSize, indices.length);
    const m = to - from;
    fillBatch(ds, indices, from, to, xBuf, yBuf);
    const [l, c] = tf.tidy(() => {
      const xb = tf.tensor(xBuf.subarray(0, m * size), [m, ...shape]);
      const yb = tf.tensor1d(yBuf.subarray(0, m), 'int32');
      const logits = model.apply(xb, { training: false }) as tf.Tensor2D;
      const hits = tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), yb), 'int32'));
      return [crossEntropySum(logits, yb, numClasses).dataSync()[0]!, hits.dataSync()[0]!] as [
        number,
        number,
      ];
    });
    loss += l;
    correct += c;
  }
  return { loss: loss / indices.length, accuracy: correct / indices.length };
}
