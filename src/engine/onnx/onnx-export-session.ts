/**
 * ONNX Runtime sessions over a TF.js model exported by `./onnx-export.ts`: the fast forward pass
 * of Antidote's own models (issue 16's speed target: ONNX Runtime's CPU kernels run the zoo's cnn
 * several times faster than the engine's wasm kernels on one core). One session per output (a
 * layer's activations, or the class probabilities), created lazily. The sessions follow the
 * model's weights: before each run the identities of its weight tensors are compared with those
 * the sessions were built from (every update, by an optimizer or `setWeights`, replaces them, as
 * `../inference-pool.ts` relies on too), and the graph is exported again when they changed.
 */
import type * as tfl from '@tensorflow/tfjs-layers';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { AntidoteError } from '../../errors.js';
import { EXPORT_INPUT, exportLayersModel } from './onnx-export.js';

/** Records per `session.run`. */
const CHUNK = 1024;

/** What {@link ExportedSessions.run} computes: a layer's activations, or class probabilities. */
export type ExportedOutput = { readonly layer: string } | { readonly probabilities: true };

/** ONNX Runtime sessions over an exported TF.js model (see the module comment). */
export class ExportedSessions {
  private sessions = new Map<string, Promise<InferenceSession>>();
  private weightIds: readonly object[] = [];
  private readonly size: number;
  private readonly inputShape: readonly number[];

  /**
   * @param model the TF.js model (a chain `./onnx-export.ts` writes; check with
   *   `exportUnsupported` first).
   * @param threads ONNX Runtime's intra-op threads (1: this core only).
   */
  constructor(
    private readonly model: tfl.LayersModel,
    private readonly threads: number,
  ) {
    this.inputShape = (model.inputs[0]!.shape as number[]).slice(1);
    this.size = this.inputShape.reduce((a, b) => a * b, 1);
  }

  /** Drops the sessions when the model's weights changed since they were built. */
  private async followWeights(): Promise<void> {
    const ids = this.model.weights.map((w) => w.read().dataId);
    if (ids.length === this.weightIds.length && ids.every((id, i) => id === this.weightIds[i])) {
      return;
    }
    await this.release();
    this.weightIds = ids;
  }

  private session(output: ExportedOutput): Promise<InferenceSession> {
    const key = 'layer' in output ? `layer:${output.layer}` : 'probabilities';
    let session = this.sessions.get(key);
    if (!session) {
      const graph = exportLayersModel(
        this.model,
        'layer' in output ? { output: output.layer } : { softmax: true },
      );
      session = InferenceSession.create(graph.bytes, {
        graphOptimizationLevel: 'all',
        intraOpNumThreads: this.threads,
        interOpNumThreads: 1,
        executionMode: 'sequential',
      }).catch((e: unknown) => {
        throw new AntidoteError(
          'ENGINE_ERROR',
          `ONNX Runtime cannot load the exported model: ${(e as Error).message}`,
          {},
          { cause: e },
        );
      });
      session.catch(() => undefined);
      this.sessions.set(key, session);
    }
    return session;
  }

  /**
   * Runs the model over `n` records of `x` (row-major, the model's input shape each) and returns
   * the flattened output rows `[n, dim]`.
   */
  async run(
    output: ExportedOutput,
    x: Float32Array,
    n: number,
  ): Promise<{ data: Float32Array; dim: number }> {
    await this.followWeights();
    const session = await this.session(output);
    const fetch = session.outputNames[0]!;
    let out: Float32Array | undefined;
    let dim = 0;
    for (let start = 0; start < n; start += CHUNK) {
      const m = Math.min(CHUNK, n - start);
      const part = x.subarray(start * this.size, (start + m) * this.size);
      const result = await session.run(
        { [EXPORT_INPUT]: new Tensor('float32', part, [m, ...this.inputShape]) },
        [fetch],
      );
      const t = result[fetch]!;
      const data = t.data as Float32Array;
      dim = data.length / m;
      out ??= new Float32Array(n * dim);
      out.set(data, start * dim);
      t.dispose();
    }
    return { data: out ?? new Float32Array(0), dim };
  }

  /** Releases every session (new ones are created on the next run). */
  async release(): Promise<void> {
    const pending = [...this.sessions.values()];
    this.sessions.clear();
    const all = await Promise.allSettled(pending);
    await Promise.all(all.map((s) => (s.status === 'fulfilled' ? s.value.release() : undefined)));
  }
}
