/**
 * Synchronous data-parallel training over `worker_threads` (the wasm backend runs one thread per
 * isolate, so a second core needs a second engine). Every batch is split into shards, one per
 * participant: the trainer and each worker compute their shard's gradient on their own replica,
 * publish it in shared memory, wait for the others', then each sums all gradients in
 * participant order and applies the sum with its own Adam. Identical operations on identical
 * values keep every replica equal bit for bit, so only gradients travel between steps (the
 * weights are sent once, with the worker's start data). The result depends on the seed and the number of
 * participants only.
 *
 * Shared memory (`SharedArrayBuffer`) carries gradients and shards; `Atomics.wait` / `notify`
 * do the hand-off, so a step costs no message round trip.
 */
import { Worker } from 'node:worker_threads';
import type * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { AntidoteError } from '../errors.js';
import { activeBackend } from './backend.js';
import { CONTROL, type GradientWorkerData } from './data-parallel-protocol.js';
import {
  applySummed,
  awaitAll,
  type ExchangeViews,
  type FusedAdam,
  publishGrads,
} from './data-parallel-step.js';
import { checkInferenceThreads, MAX_ENGINE_THREADS } from './inference-settings.js';
import { engineWorkerScript } from './worker-script.js';

// Apart from the engine's modules (a model handle that has not loaded TF.js checks them too).
export { checkInferenceThreads, MAX_ENGINE_THREADS };

interface WorkerSlot {
  readonly worker: Worker;
  readonly control: Int32Array;
  readonly x: Float32Array;
  readonly y: Int32Array;
  readonly results: Float64Array;
  error?: string;
}

/** Gradient workers for one training run; {@link close} them when done. */
export class GradientWorkerPool {
  /** The last step started (every worker's `go` slot holds it). */
  private step = 0;

  private constructor(
    private readonly slots: WorkerSlot[],
    private readonly vars: readonly tf.Variable[],
    /** The trainer's view of the gradient exchange (participant 0). */
    readonly views: ExchangeViews,
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
    options: {
      inputShape: readonly number[];
      numClasses: number;
      maxShard: number;
      learningRate: number;
    },
  ): Promise<GradientWorkerPool> {
    if (!Number.isInteger(count) || count < 1 || count > MAX_ENGINE_THREADS) {
      throw new AntidoteError(
        'INVALID_ARGUMENT',
        `gradient workers must be an integer in [1, ${MAX_ENGINE_THREADS}], got ${count}`,
      );
    }
    const offsets = [0];
    for (const v of vars) offsets.push(offsets[offsets.length - 1]! + v.size);
    const total = offsets[offsets.length - 1]!;
    const recordSize = options.inputShape.reduce((a, b) => a * b, 1);
    const weights = vars.map((v) => v.dataSync() as Float32Array);
    const topology = model.toJSON(null, false);
    const participants = count + 1;
    const allGrads = new SharedArrayBuffer(participants * 2 * total * 4);
    const ready = new SharedArrayBuffer(participants * 4);
    const script = engineWorkerScript('data-parallel-worker.js');
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
        weights,
        participant: w + 1,
        participants,
        allGrads,
        ready,
        learningRate: options.learningRate,
        x: new SharedArrayBuffer(Math.max(1, options.maxShard * recordSize) * 4),
        y: new SharedArrayBuffer(Math.max(1, options.maxShard) * 4),
        results: new SharedArrayBuffer(3 * 8),
      };
      const worker = new Worker(script, { workerData: data });
      const slot: WorkerSlot = {
        worker,
        control: new Int32Array(data.control),
        x: new Float32Array(data.x),
        y: new Int32Array(data.y),
        results: new Float64Array(data.results),
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
    const views: ExchangeViews = {
      participant: 0,
      participants,
      allGrads: new Float32Array(allGrads),
      ready: new Int32Array(ready),
      offsets,
    };
    const pool = new GradientWorkerPool(slots, vars, views);
    try {
      await Promise.all(started);
    } catch (e) {
      await pool.close();
      throw e;
    }
    return pool;
  }

  /** Sets every worker's command and starts it (`go` = the current step). */
  private signal(command: 1 | 2): void {
    for (const s of this.slots) {
      Atomics.store(s.control, CONTROL.command, command);
      Atomics.store(s.control, CONTROL.go, this.step);
      Atomics.notify(s.control, CONTROL.go);
    }
  }

  /**
   * Begins a step: worker `w` gets shard `shards[w]` (records of `x` / `y`, loss scaled by
   * `scale` = 1 / batch size so that shard gradients sum to the batch mean's). Returns the step.
   */
  beginStep(
    shards: readonly { x: Float32Array; y: Int32Array; m: number }[],
    scale: number,
  ): number {
    this.slots.forEach((s, w) => {
      const { x, y, m } = shards[w]!;
      s.x.set(x);
      s.y.set(y);
      s.results[2] = scale;
      Atomics.store(s.control, CONTROL.records, m);
    });
    this.step++;
    this.signal(1);
    return this.step;
  }

  /**
   * Ends the trainer's part of a step: publishes its gradients `own`, waits for the workers',
   * applies the sum with `optimizer`, and returns the workers' summed scaled loss and hits.
   */
  endStep(
    optimizer: FusedAdam,
    own: tf.NamedTensorMap,
    step: number,
  ): { loss: number; hits: number } {
    publishGrads(this.views, this.vars, own, step);
    awaitAll(this.views, step, () => {
      const dead = this.slots.findIndex((s) => s.error || s.worker.threadId === -1);
      return dead >= 0
        ? `gradient worker ${dead} stopped${this.slots[dead]!.error ? `: ${this.slots[dead]!.error}` : ''}`
        : undefined;
    });
    applySummed(this.views, optimizer, this.vars, own, step);
    let loss = 0;
    let hits = 0;
    for (const s of this.slots) {
      loss += s.results[0]!;
      hits += s.results[1]!;
    }
    return { loss, hits };
  }

  /** Stops the workers. */
  async close(): Promise<void> {
    this.step++;
    this.signal(2);
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}
