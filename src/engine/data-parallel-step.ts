/**
 * The part of a data-parallel step every participant runs identically (`data-parallel.ts`):
 * wait until all participants' gradients of the step are in shared memory, sum them in
 * participant order and apply the sum with the participant's own Adam. The sums and updates are
 * the same operations on the same values everywhere, so all replicas stay equal bit for bit and
 * no weights travel between steps.
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { AntidoteError } from '../errors.js';
import { crossEntropySum } from './train.js';

/** Shared views a participant needs. */
export interface ExchangeViews {
  readonly participant: number;
  readonly participants: number;
  /** `[participant][parity][total]` Float32 gradients. */
  readonly allGrads: Float32Array;
  /** Int32 per participant: last step whose gradients are written. */
  readonly ready: Int32Array;
  /** Start of each variable in a flat gradient (length vars + 1). */
  readonly offsets: readonly number[];
}

/**
 * Splits `n` records into `parts` contiguous shards, the larger ones first: their sizes and
 * starts (`starts` has `parts + 1` entries, the last being `n`).
 */
export function contiguousShards(n: number, parts: number): { sizes: number[]; starts: number[] } {
  const base = Math.floor(n / parts);
  const sizes = Array.from({ length: parts }, (_, i) => base + (i < n % parts ? 1 : 0));
  const starts = [0];
  for (const q of sizes) starts.push(starts[starts.length - 1] + q);
  return { sizes, starts };
}

/**
 * One participant's shard of a step: gradients of its loss sum scaled by `scale` (1 / batch
 * size), the scaled loss and the hits. An empty shard contributes zero gradients. Call inside
 * `tf.tidy`; the gradients live until the tidy ends.
 */
export function shardGradients(
  model: tfl.LayersModel,
  vars: readonly tf.Variable[],
  x: Float32Array,
  y: Int32Array,
  m: number,
  inputShape: readonly number[],
  numClasses: number,
  scale: number,
): { grads: tf.NamedTensorMap; loss: number; hits: number } {
  if (m === 0) {
    return {
      grads: Object.fromEntries(vars.map((v) => [v.name, tf.zerosLike(v)])),
      loss: 0,
      hits: 0,
    };
  }
  const size = inputShape.reduce((a, b) => a * b, 1);
  const xb = tf.tensor(x.subarray(0, m * size), [m, ...inputShape]);
  const yb = tf.tensor1d(y.subarray(0, m), 'int32');
  let logits: tf.Tensor2D | undefined;
  const { value, grads } = tf.variableGrads(() => {
    logits = tf.keep(model.apply(xb, { training: true }) as tf.Tensor2D);
    return tf.mul(crossEntropySum(logits, yb, numClasses), scale) as tf.Scalar;
  }, vars as tf.Variable[]);
  const hits = tf.sum(tf.cast(tf.equal(tf.argMax(logits as tf.Tensor2D, 1), yb), 'int32'));
  const result = { grads, loss: value.dataSync()[0], hits: hits.dataSync()[0] };
  logits?.dispose();
  return result;
}

/** Offset of participant `p`'s gradients for `step` in `allGrads`. */
export function gradOffset(views: ExchangeViews, p: number, step: number): number {
  const total = views.offsets[views.offsets.length - 1];
  return (p * 2 + (step & 1)) * total;
}

/** Publishes this participant's gradients of `step` (values of `grads`, by variable order). */
export function publishGrads(
  views: ExchangeViews,
  vars: readonly tf.Variable[],
  grads: tf.NamedTensorMap,
  step: number,
): void {
  const base = gradOffset(views, views.participant, step);
  vars.forEach((v, i) => {
    views.allGrads.set(grads[v.name].dataSync() as Float32Array, base + views.offsets[i]);
  });
  Atomics.store(views.ready, views.participant, step);
  Atomics.notify(views.ready, views.participant);
}

/**
 * Blocks until every participant has published `step`. `alive()` is asked whenever a wait times
 * out (1 s); when it returns an error message, the wait fails with it.
 */
export function awaitAll(
  views: ExchangeViews,
  step: number,
  alive: () => string | undefined,
): void {
  for (let p = 0; p < views.participants; p++) {
    for (;;) {
      const seen = Atomics.load(views.ready, p);
      if (seen < 0) throw new AntidoteError('INVALID_STATE', `training participant ${p} failed`);
      // ≥, not ===: a fast participant may already have published step + 1 (into the other
      // parity's buffers; nobody can reach step + 2 before everyone has finished this step).
      if (seen >= step) break;
      if (Atomics.wait(views.ready, p, seen, 1000) === 'timed-out') {
        const problem = alive();
        if (problem) throw new AntidoteError('INVALID_STATE', problem);
      }
    }
  }
}

/**
 * Sums every participant's gradients of `step` in participant order (this participant's own
 * from `own`, the others' from shared memory) and applies the sum with `optimizer`.
 */
export function applySummed(
  views: ExchangeViews,
  optimizer: tf.Optimizer,
  vars: readonly tf.Variable[],
  own: tf.NamedTensorMap,
  step: number,
): void {
  tf.tidy(() => {
    const summed: tf.NamedTensorMap = {};
    vars.forEach((v, i) => {
      let acc: tf.Tensor | undefined;
      for (let p = 0; p < views.participants; p++) {
        let g: tf.Tensor;
        if (p === views.participant) g = own[v.name];
        else {
          const at = gradOffset(views, p, step) + views.offsets[i];
          g = tf.tensor(views.allGrads.slice(at, at + v.size), v.shape);
        }
        acc = acc ? tf.add(acc, g) : g;
      }
      summed[v.name] = acc as tf.Tensor;
    });
    optimizer.applyGradients(summed);
  });
}
