/**
 * Parallel inference over `worker_threads`: the wasm backend runs one thread per isolate, so a
 * second core needs a second engine. `n` records are split into contiguous shards, one per
 * thread; the calling thread computes the first shard while the workers compute the others on
 * replicas of the model, and the results are concatenated in order. Each record's result does
 * not depend on the others, so the output is the same for any number of threads up to float
 * rounding inside the backend's kernels (and identical for a given thread count).
 *
 * Replicas follow the model's weights: before each call the pool compares the identities of the
 * model's weight tensors (every update, by an optimizer or `setWeights`, replaces them) and
 * re-sends the weights when they changed.
 */
import { Worker } from 'node:worker_threads';
import type * as tfl from '@tensorflow/tfjs-layers';
import { AntidoteError } from '../errors.js';
import { activeBackend } from './backend.js';
import { MAX_ENGINE_THREADS } from './data-parallel.js';
import { contiguousShards } from './data-parallel-step.js';
import { type InferenceRequest, runInference } from './inference-ops.js';
import { engineWorkerScript } from './worker-script.js';

/** What an inference worker is started with. */
export interface InferenceWorkerData {
  readonly backend: 'wasm' | 'cpu';
  readonly modelTopology: unknown;
  readonly numClasses: number;
}

/** Messages from the pool to a worker. */
export type InferenceMessage =
  | { readonly type: 'weights'; readonly id: number; readonly weights: Float32Array[] }
  | {
      readonly type: 'run';
      readonly id: number;
      readonly request: InferenceRequest;
      readonly layer?: string;
    };

interface Reply {
  id: number;
  ok: boolean;
  ready?: boolean;
  data?: Float32Array;
  error?: string;
}

/** Fewest records per thread worth sending to a worker. */
const MIN_SHARD = 32;

class Channel {
  private nextId = 1;
  private readonly waiting = new Map<number, (r: Reply) => void>();
  failure: string | undefined;

  constructor(readonly worker: Worker) {
    worker.on('message', (r: Reply) => {
      const w = this.waiting.get(r.id);
      this.waiting.delete(r.id);
      w?.(r);
    });
    worker.on('error', (e) => this.fail(e.message));
    worker.on('exit', (code) => this.fail(`exited with code ${code}`));
  }

  private fail(message: string): void {
    this.failure ??= message;
    for (const [id, w] of this.waiting) w({ id, ok: false, error: message });
    this.waiting.clear();
  }

  request(build: (id: number) => InferenceMessage, transfer: ArrayBuffer[] = []): Promise<Reply> {
    if (this.failure) return Promise.resolve({ id: -1, ok: false, error: this.failure });
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      this.worker.postMessage(build(id), transfer);
    });
  }

  waitFor(id: number): Promise<Reply> {
    return new Promise((resolve) => this.waiting.set(id, resolve));
  }
}

function unwrap(r: Reply, what: string): Reply {
  if (!r.ok)
    throw new AntidoteError('INVALID_STATE', `inference worker failed (${what}): ${r.error}`);
  return r;
}

/** Inference workers for one model; {@link close} them when done (they do not keep Node alive). */
export class InferencePool {
  private weightIds: unknown[] = [];

  private constructor(
    private readonly model: tfl.LayersModel,
    private readonly channels: Channel[],
  ) {}

  /** Threads computing (the caller's plus the workers). */
  get threads(): number {
    return this.channels.length + 1;
  }

  /** Starts `threads − 1` workers with replicas of `model`. */
  static async start(
    model: tfl.LayersModel,
    threads: number,
    numClasses: number,
  ): Promise<InferencePool> {
    if (!Number.isInteger(threads) || threads < 2 || threads > MAX_ENGINE_THREADS) {
      throw new AntidoteError(
        'INVALID_ARGUMENT',
        `inference threads must be an integer in [2, ${MAX_ENGINE_THREADS}], got ${threads}`,
      );
    }
    const script = engineWorkerScript('inference-worker.js');
    const data: InferenceWorkerData = {
      backend: activeBackend(),
      modelTopology: { modelTopology: model.toJSON(null, false) },
      numClasses,
    };
    const channels = Array.from({ length: threads - 1 }, () => {
      const worker = new Worker(script, { workerData: data });
      worker.unref();
      return new Channel(worker);
    });
    const pool = new InferencePool(model, channels);
    try {
      await Promise.all(channels.map(async (c) => unwrap(await c.waitFor(0), 'start')));
    } catch (e) {
      await pool.close();
      throw e;
    }
    return pool;
  }

  /** Sends the model's weights to the replicas when they changed since the last call. */
  private async syncWeights(): Promise<void> {
    const vars = this.model.weights.map((w) => w.read());
    const ids = vars.map((v) => v.dataId);
    if (ids.length === this.weightIds.length && ids.every((id, i) => id === this.weightIds[i])) {
      return;
    }
    const values = vars.map((v) => v.dataSync() as Float32Array);
    await Promise.all(
      this.channels.map(async (c) =>
        unwrap(
          await c.request((id) => ({ type: 'weights', id, weights: values.map((a) => a.slice()) })),
          'weights',
        ),
      ),
    );
    this.weightIds = ids;
  }

  /**
   * Runs `req` split over the threads: the calling thread computes the first shard with
   * `local` (the model or the layer's sub-model), the workers the rest (`layer` names the
   * sub-model there). Small inputs stay on the calling thread.
   */
  async run(
    req: InferenceRequest,
    numClasses: number,
    local: tfl.LayersModel,
    layer?: string,
  ): Promise<Float32Array> {
    const parts = Math.min(this.threads, Math.floor(req.n / MIN_SHARD));
    if (parts < 2) return runInference(local, req, numClasses);
    await this.syncWeights();
    const size = req.inputShape.reduce((a, b) => a * b, 1);
    const { sizes: counts, starts } = contiguousShards(req.n, parts);
    const pending = counts.slice(1).map((count, w) => {
      const from = starts[w + 1]!;
      const x = req.x.slice(from * size, (from + count) * size);
      const y = req.y?.slice(from, from + count);
      const request: InferenceRequest = { ...req, x, n: count, ...(y ? { y } : {}) };
      return this.channels[w]!.request(
        (id) => ({ type: 'run', id, request, ...(layer !== undefined ? { layer } : {}) }),
        [x.buffer as ArrayBuffer, ...(y ? [y.buffer as ArrayBuffer] : [])],
      );
    });
    const out = new Float32Array(req.n * req.outDim);
    const first = runInference(
      local,
      {
        ...req,
        x: req.x.subarray(0, counts[0]! * size),
        n: counts[0]!,
        ...(req.y ? { y: req.y.subarray(0, counts[0]) } : {}),
      },
      numClasses,
    );
    out.set(first, 0);
    const replies = await Promise.all(pending);
    replies.forEach((r, w) => {
      out.set(unwrap(r, req.op).data as Float32Array, starts[w + 1]! * req.outDim);
    });
    return out;
  }

  /** Stops the workers. */
  async close(): Promise<void> {
    await Promise.all(this.channels.map((c) => c.worker.terminate()));
  }
}
