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

/**
 * What {@link ExportedSessions.run} computes: a layer's activations, class probabilities, or
 * both from one run (`withProbabilities`: the layer's activations, then the probabilities).
 */
export type ExportedOutput =
  | { readonly layer: string; readonly withProbabilities?: boolean }
  | { readonly probabilities: true };

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
    const both = 'layer' in output && output.withProbabilities === true;
    const key = 'layer' in output ? `${both ? 'both' : 'layer'}:${output.layer}` : 'probabilities';
    let session = this.sessions.get(key);
    if (!session) {
      const graph = exportLayersModel(
        this.model,
        'layer' in output
          ? both
            ? { softmax: true, alsoOutput: output.layer }
            : { output: output.layer }
          : { softmax: true },
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
   * the flattened output rows `[n, dim]`; with `withProbabilities`, also the class probabilities
   * `[n, K]` of the same run.
   */
  async run(
    output: ExportedOutput,
    x: Float32Array,
    n: number,
  ): Promise<{ data: Float32Array; dim: number; probabilities?: Float32Array }> {
    await this.followWeights();
    const session = await this.session(output);
    // A two-output graph lists the probabilities first, then the layer (onnx-export.ts).
    const fetches =
      session.outputNames.length > 1
        ? [session.outputNames[1]!, session.outputNames[0]!]
        : [session.outputNames[0]!];
    const outs: (Float32Array | undefined)[] = fetches.map(() => undefined);
    const dims = fetches.map(() => 0);
    for (let start = 0; start < n; start += CHUNK) {
      const m = Math.min(CHUNK, n - start);
      const part = x.subarray(start * this.size, (start + m) * this.size);
      const result = await session.run(
        { [EXPORT_INPUT]: new Tensor('float32', part, [m, ...this.inputShape]) },
        fetches,
      );
      fetches.forEach((fetch, j) => {
        const t = result[fetch]!;
        const data = t.data as Float32Array;
        dims[j] = data.length / m;
        outs[j] ??= new Float32Array(n * dims[j]!);
        outs[j]!.set(data, start * dims[j]!);
        t.dispose();
      });
    }
    const data = outs[0] ?? new Float32Array(0);
    return fetches.length > 1
      ? { data, dim: dims[0]!, probabilities: outs[1] ?? new Float32Array(0) }
      : { data, dim: dims[0]! };
  }

  /** Releases every session (new ones are created on the next run). */
  async release(): Promise<void> {
    const pending = [...this.sessions.values()];
    this.sessions.clear();
    const all = await Promise.allSettled(pending);
    await Promise.all(all.map((s) => (s.status === 'fulfilled' ? s.value.release() : undefined)));
  }
}
