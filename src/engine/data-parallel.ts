/**
 * Synchronous data-parallel training over `worker_threads` (the wasm backend runs one thread per
 * isolate, so a second core needs a second engine). Every batch is split into shards; the trainer
 * computes the gradient of the first shard itself while each worker computes one other shard on
 * its own replica of the model; the gradients are summed in a fixed order and applied once by the
 * trainer's optimizer, whose updated weights every worker reads back before its next step. The
 * result depends on the seed and the number of workers only: the same pair gives the same
 * weights, bit for bit.
 *
 * Shared memory (`SharedArrayBuffer`) carries weights, gradients and shards; `Atomics.wait` /
 * `notify` do the hand-off, so a step costs no message round trip.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { AntidoteError } from '../errors.js';
import { activeBackend } from './backend.js';
import { CONTROL, type GradientWorkerData } from './data-parallel-protocol.js';

/** Most workers a training run may use (beyond the cores there is nothing to gain). */
export const MAX_TRAIN_WORKERS = 16;

/**
 * The compiled worker script. Under the TypeScript sources (tests run on `src/`), the built copy
 * in `dist/` is used, so `npm run build` must have run.
 */
function workerScript(): URL {
  const here = new URL('./data-parallel-worker.js', import.meta.url);
  if (existsSync(fileURLToPath(here))) return here;
  const built = new URL('../../dist/engine/data-parallel-worker.js', import.meta.url);
  if (existsSync(fileURLToPath(built))) return built;
  throw new AntidoteError(
    'INVALID_STATE',
    'data-parallel training needs the built worker (dist/engine/data-parallel-worker.js): run npm run build',
  );
}

interface WorkerSlot {
  readonly worker: Worker;
  readonly control: Int32Array;
  readonly grads: Float32Array;
  readonly x: Float32Array;
  readonly y: Int32Array;
  readonly results: Float64Array;
  step: number;
  error?: string;
}

/** Gradient workers for one training run; {@link close} them when done. */
export class GradientWorkerPool {
  private weightsVersion = 0;

  private constructor(
    private readonly slots: WorkerSlot[],
    private readonly weights: Float32Array,
    private readonly offsets: readonly number[],
    private readonly vars: readonly tf.Variable[],
  ) {}

  /** Number of worker threads (the trainer computes one more shard itself). */
  get size(): number {
    return this.slots.length;
  }

  /**
   * Starts `count` workers, each with a replica of `model` able to take shards of up to
   * `maxShard` records of `inputShape`.
   */
  static async start(
    model: tfl.LayersModel,
    vars: readonly tf.Variable[],
    count: number,
    options: { inputShape: readonly number[]; numClasses: number; maxShard: number },
  ): Promise<GradientWorkerPool> {
    if (!Number.isInteger(count) || count < 1 || count > MAX_TRAIN_WORKERS) {
      throw new AntidoteError(
        'INVALID_ARGUMENT',
        `gradient workers must be an integer in [1, ${MAX_TRAIN_WORKERS}], got ${count}`,
      );
    }
    const offsets = [0];
    for (const v of vars) offsets.push(offsets[offsets.length - 1] + v.size);
    const total = offsets[offsets.length - 1];
    const recordSize = options.inputShape.reduce((a, b) => a * b, 1);
    const weightsBuffer = new SharedArrayBuffer(total * 4);
    const topology = model.toJSON(null, false);
    const script = workerScript();
    const slots: WorkerSlot[] = [];
    const started: Promise<void>[] = [];
    for (let w = 0; w < count; w++) {
      const data: GradientWorkerData = {
        backend: activeBackend(),
        modelTopology: { modelTopology: topology },
        inputShape: [...options.inputShape],
        recordSize,
        numClasses: options.numClasses,
        offsets,
        control: new SharedArrayBuffer(CONTROL.size * 4),
        weights: weightsBuffer,
        grads: new SharedArrayBuffer(total * 4),
        x: new SharedArrayBuffer(Math.max(1, options.maxShard * recordSize) * 4),
        y: new SharedArrayBuffer(Math.max(1, options.maxShard) * 4),
        results: new SharedArrayBuffer(3 * 8),
      };
      const worker = new Worker(script, { workerData: data });
      const slot: WorkerSlot = {
        worker,
        control: new Int32Array(data.control),
        grads: new Float32Array(data.grads),
        x: new Float32Array(data.x),
        y: new Int32Array(data.y),
        results: new Float64Array(data.results),
        step: 0,
      };
      started.push(
        new Promise<void>((resolve, reject) => {
          worker.on('message', (m: { ready?: boolean; error?: string }) => {
            if (m.ready) resolve();
            if (m.error) {
              slot.error = m.error;
              reject(new AntidoteError('INVALID_STATE', `gradient worker failed: ${m.error}`));
            }
          });
          worker.once('error', (e) => {
            slot.error = e.message;
            reject(new AntidoteError('INVALID_STATE', `gradient worker failed: ${e.message}`));
          });
        }),
      );
      slots.push(slot);
    }
    const pool = new GradientWorkerPool(slots, new Float32Array(weightsBuffer), offsets, vars);
    try {
      await Promise.all(started);
    } catch (e) {
      await pool.close();
      throw e;
    }
    pool.publishWeights();
    return pool;
  }

  /** Copies the trainer's current weights to the workers (read at their next step). */
  publishWeights(): void {
    this.vars.forEach((v, i) => {
      this.weights.set(v.dataSync() as Float32Array, this.offsets[i]);
    });
    this.weightsVersion++;
    for (const s of this.slots)
      Atomics.store(s.control, CONTROL.weightsVersion, this.weightsVersion);
  }

  /**
   * Starts worker `w` on a shard: `m` records of `x` / `y`, loss scaled by `scale` (1 / batch
   * size, so shard gradients sum to the batch mean's).
   */
  startShard(w: number, x: Float32Array, y: Int32Array, m: number, scale: number): void {
    const s = this.slots[w];
    s.x.set(x);
    s.y.set(y);
    s.results[2] = scale;
    Atomics.store(s.control, CONTROL.records, m);
    Atomics.store(s.control, CONTROL.command, 1);
    s.step++;
    Atomics.store(s.control, CONTROL.go, s.step);
    Atomics.notify(s.control, CONTROL.go);
  }

  /**
   * Waits for worker `w`'s shard; returns its flat gradient (a view, valid until the next step),
   * its scaled loss and its hits.
   */
  finishShard(w: number): { grads: Float32Array; loss: number; hits: number } {
    const s = this.slots[w];
    for (;;) {
      const done = Atomics.load(s.control, CONTROL.done);
      if (done === s.step) break;
      const r = Atomics.wait(s.control, CONTROL.done, done, 1000);
      // A worker that died cannot answer: threadId is −1 once it has exited.
      if (r === 'timed-out' && s.worker.threadId === -1) {
        throw new AntidoteError('INVALID_STATE', `gradient worker ${w} exited during a step`);
      }
    }
    if (Atomics.load(s.control, CONTROL.failed) === 1 || s.error) {
      throw new AntidoteError(
        'INVALID_STATE',
        `gradient worker ${w} failed${s.error ? `: ${s.error}` : ' (its error is reported on stderr)'}`,
      );
    }
    return { grads: s.grads, loss: s.results[0], hits: s.results[1] };
  }

  /** Start of each trainable weight in a flat gradient. */
  get weightOffsets(): readonly number[] {
    return this.offsets;
  }

  /** Stops the workers. */
  async close(): Promise<void> {
    for (const s of this.slots) {
      Atomics.store(s.control, CONTROL.command, 2);
      s.step++;
      Atomics.store(s.control, CONTROL.go, s.step);
      Atomics.notify(s.control, CONTROL.go);
    }
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}
