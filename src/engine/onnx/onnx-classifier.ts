/**
 * A {@link Classifier} run by ONNX Runtime (onnxruntime-node, its bundled CPU build) over records
 * already in the model's input layout. Activations of any intermediate tensor come from a second
 * session on the same bytes with that tensor added as a graph output (one session per layer,
 * cached). Input gradients come from the graph imported into the engine (`./onnx-tf-graph.ts`), where its
 * ops allow. Every session runs the graph with its narrow convolutions packed for ONNX Runtime's
 * channel blocks (`./onnx-record-pack.ts`; same outputs, batches padded to the packing factor).
 */
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { AntidoteError } from '../../errors.js';
import type { Classifier } from '../classifier.js';
import {
  type ClassifierOutput,
  candidateLayers,
  classifierOutput,
  tensorNames,
} from './onnx-graph.js';
import { type ProtoModel, withGraphOutputs } from './onnx-proto.js';
import { nchwcBlockSize, packRecords } from './onnx-record-pack.js';
import { representationLayer } from './onnx-representation.js';

/**
 * Records per `session.run` when the batch dimension is free. Smaller batches keep a run's
 * tensors in the core's cache: on the 2-core development machine (AVX-512, 4 MiB L2 per core)
 * ONNX Runtime ran the CNN and ResNet fixtures 10–50 % faster per CPU-second in batches of 64–256
 * than of 1,024 (docs/onnx.md, Benchmarks), and batches below 64 add per-run overhead.
 */
const CHUNK = 256;

/** Row-wise softmax of `[n, k]` logits, in place. */
function softmaxRows(a: Float32Array, n: number, k: number): Float32Array {
  for (let i = 0; i < n; i++) {
    const o = i * k;
    let max = Number.NEGATIVE_INFINITY;
    for (let j = 0; j < k; j++) if (a[o + j]! > max) max = a[o + j]!;
    let sum = 0;
    for (let j = 0; j < k; j++) {
      const e = Math.exp(a[o + j]! - max);
      a[o + j] = e;
      sum += e;
    }
    for (let j = 0; j < k; j++) a[o + j] = a[o + j]! / sum;
  }
  return a;
}

/** Token ids carried as float32 to int64; `INVALID_ARGUMENT` for a value that is not an id. */
function toInt64(part: Float32Array, where: string): BigInt64Array {
  const out = new BigInt64Array(part.length);
  for (let i = 0; i < part.length; i++) {
    const v = part[i]!;
    if (!Number.isInteger(v) || v < 0) {
      throw new AntidoteError(
        'INVALID_ARGUMENT',
        `${where} reads token ids (int64); got the value ${v}`,
        { path: where },
      );
    }
    out[i] = BigInt(v);
  }
  return out;
}

/** What {@link OnnxClassifier.create} needs of a decoded model. */
export interface OnnxClassifierSource {
  /** The `.onnx` file's bytes. */
  readonly bytes: Uint8Array;
  readonly model: ProtoModel;
  /** The graph's data input. */
  readonly inputName: string;
  /** One record's shape in the model's layout (the input shape without its batch dimension). */
  readonly recordShape: readonly number[];
  /** The fixed batch size of the input, when the file fixes one. */
  readonly fixedBatch?: number;
  /**
   * The input's element type: `float32` (default), or `int64` for token ids, which records carry
   * as float32 integers (exact below 2^24) and are converted per batch.
   */
  readonly inputType?: 'float32' | 'int64';
  /** For error messages (the file path). */
  readonly where: string;
  /** ONNX Runtime's intra-op thread count (default: its own, one per core). */
  readonly threads?: number;
  /**
   * Pack narrow convolutions for ONNX Runtime's channel blocks (`./onnx-record-pack.ts`;
   * default `true`). `false` runs the graph as given (for comparison: `bench/onnx.mjs`).
   */
  readonly packRecords?: boolean;
}

/** A session and the multiple its batches must be of (the packing factor; 1 when unpacked). */
interface Runner {
  readonly session: InferenceSession;
  readonly factor: number;
}

/** An ONNX model's classifier (see the module comment). */
export class OnnxClassifier implements Classifier {
  readonly inputShape: readonly number[];
  readonly numClasses: number;
  readonly layerNames: readonly string[];
  /**
   * The default layer of {@link OnnxClassifier.activations}, what the detectors read: the input
   * of the classifier head (`representationLayer` in `./onnx-representation.ts`).
   */
  readonly defaultLayer: string | undefined;
  private readonly output: ClassifierOutput;
  private base: Promise<Runner>;
  private sessions = new Map<string, Promise<Runner>>();
  /** Sessions replaced by {@link setThreads}, released with the others (a run may hold one). */
  private readonly retired: Array<Promise<Runner>> = [];
  /** ONNX Runtime's intra-op thread count (`undefined`: its default, one per core). */
  private intraOpThreads: number | undefined;
  private readonly tensors: Set<string>;
  /**
   * Gradient of the loss with respect to the records, where the graph imports into the engine
   * (set by `OnnxModel`: ONNX Runtime computes no gradients; the imported graph does).
   */
  lossGradient?: (x: Float32Array, y: Int32Array) => Promise<Float32Array>;

  private constructor(
    private readonly src: OnnxClassifierSource,
    base: Runner,
  ) {
    this.base = Promise.resolve(base);
    this.inputShape = src.recordShape;
    this.output = classifierOutput(src.model, src.where);
    this.numClasses = this.output.numClasses;
    this.layerNames = candidateLayers(src.model);
    this.defaultLayer = representationLayer(src.model);
    this.tensors = tensorNames(src.model);
    this.intraOpThreads = src.threads;
  }

  /** The `.onnx` file's bytes, as loaded. */
  get bytes(): Uint8Array {
    return this.src.bytes;
  }

  /**
   * Creates the inference session of `src`. `INVALID_FORMAT` naming the file when ONNX Runtime
   * refuses the model (unknown op, inconsistent graph).
   */
  static async create(src: OnnxClassifierSource): Promise<OnnxClassifier> {
    classifierOutput(src.model, src.where);
    return new OnnxClassifier(src, await OnnxClassifier.session(src, [], src.threads));
  }

  /** The intra-op thread count set by {@link setThreads} (`undefined`: ONNX Runtime's default). */
  get threads(): number | undefined {
    return this.intraOpThreads;
  }

  /**
   * Runs the model with `threads` intra-op threads in ONNX Runtime (its session option
   * `intraOpNumThreads`; inter-op stays sequential). The sessions are created anew, lazily; a
   * run in progress finishes on the old ones. Nothing changes when the count is already `threads`.
   */
  setThreads(threads: number): void {
    if (threads === this.intraOpThreads) return;
    this.intraOpThreads = threads;
    this.retired.push(this.base, ...this.sessions.values());
    this.sessions = new Map();
    this.base = OnnxClassifier.session(this.src, [], threads);
    // Awaited by the next run; marked handled now so that a failure is not an unhandled rejection.
    this.base.catch(() => undefined);
  }

  /**
   * The session of the source's graph with the tensors `outputs` added as graph outputs, packed
   * unless the source says not to. A graph whose packed form ONNX Runtime refuses runs unpacked.
   */
  private static async session(
    src: OnnxClassifierSource,
    outputs: readonly string[],
    threads?: number,
  ): Promise<Runner> {
    const where = src.where;
    const bytes = outputs.length > 0 ? withGraphOutputs(src.bytes, outputs) : src.bytes;
    const options = {
      graphOptimizationLevel: 'all',
      ...(threads !== undefined ? { intraOpNumThreads: threads, interOpNumThreads: 1 } : {}),
    } as const;
    if (src.packRecords !== false) {
      const packed = packRecords(bytes, await nchwcBlockSize());
      if (packed.factor > 1) {
        try {
          const session = await InferenceSession.create(packed.bytes, options);
          return { session, factor: packed.factor };
        } catch {
          // The graph as given, below (its own error, if any, is the one to report).
        }
      }
    }
    try {
      return { session: await InferenceSession.create(bytes, options), factor: 1 };
    } catch (e) {
      throw new AntidoteError(
        'INVALID_FORMAT',
        `ONNX Runtime cannot load ${where}: ${(e as Error).message}`,
        { path: where },
        { cause: e },
      );
    }
  }

  /** Runs `session` over `x` in chunks, returning the flattened `fetch` rows. */
  private async run(
    session: Runner,
    fetch: string,
    x: Float32Array,
    n: number,
  ): Promise<{ data: Float32Array; dim: number }> {
    const [only] = await this.runMany(session, [fetch], x, n);
    return only!;
  }

  /** Runs `session` over `x` in chunks once, returning the flattened rows of each of `fetches`. */
  private async runMany(
    runner: Runner,
    fetches: readonly string[],
    x: Float32Array,
    n: number,
  ): Promise<Array<{ data: Float32Array; dim: number }>> {
    const size = this.inputShape.reduce((a, b) => a * b, 1);
    if (x.length !== n * size) {
      throw new AntidoteError(
        'SHAPE_MISMATCH',
        `${this.src.where} reads records of shape [${this.inputShape.join(', ')}] (${size} values); got ${x.length} values for ${n} records`,
        { path: this.src.where },
      );
    }
    const chunk = this.src.fixedBatch ?? CHUNK;
    const outs: Array<{ data: Float32Array | undefined; dim: number }> = fetches.map(() => ({
      data: undefined,
      dim: 0,
    }));
    const { session, factor } = runner;
    for (let start = 0; start < n; start += chunk) {
      const m = Math.min(chunk, n - start);
      let part = x.subarray(start * size, (start + m) * size);
      // A fixed batch, or a multiple of the packing factor: zero records after the last.
      const rows = this.src.fixedBatch ?? Math.ceil(m / factor) * factor;
      if (rows > m) {
        const padded = new Float32Array(rows * size);
        padded.set(part);
        part = padded;
      }
      const dims = [rows, ...this.inputShape];
      const feeds = {
        [this.src.inputName]:
          this.src.inputType === 'int64'
            ? new Tensor('int64', toInt64(part, this.src.where), dims)
            : new Tensor('float32', part, dims),
      };
      const result = await session.run(feeds, [...fetches]);
      for (const [j, fetch] of fetches.entries()) {
        const t = result[fetch];
        if (t?.type !== 'float32') {
          throw new AntidoteError(
            'INVALID_FORMAT',
            `${this.src.where}: tensor ${fetch} is not float32 (${t?.type ?? 'missing'})`,
            { path: this.src.where },
          );
        }
        const data = t.data as Float32Array;
        const o = outs[j]!;
        o.dim = data.length / rows;
        o.data ??= new Float32Array(n * o.dim);
        o.data.set(data.subarray(0, m * o.dim), start * o.dim);
        t.dispose();
      }
    }
    return outs.map((o) => ({ data: o.data ?? new Float32Array(0), dim: o.dim }));
  }

  async predictProba(x: Float32Array, n: number): Promise<Float32Array> {
    const { data } = await this.run(await this.base, this.output.name, x, n);
    return this.output.probabilities ? data : softmaxRows(data, n, this.numClasses);
  }

  /**
   * Logits `[n, K]`: the classifier output, or the log of its probabilities when the graph ends
   * in a Softmax (logits up to a constant per record, which leaves every difference of two
   * classes' logits as it was; probabilities that underflow to 0 count as 1e-38).
   */
  async logits(x: Float32Array, n: number): Promise<Float32Array> {
    const { data } = await this.run(await this.base, this.output.name, x, n);
    if (!this.output.probabilities) return data;
    for (let i = 0; i < data.length; i++) data[i] = Math.log(Math.max(data[i]!, 1e-38));
    return data;
  }

  async predict(x: Float32Array, n: number): Promise<Int32Array> {
    const p = await this.predictProba(x, n);
    const k = this.numClasses;
    const out = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      let best = 0;
      for (let j = 1; j < k; j++) if (p[i * k + j]! > p[i * k + best]!) best = j;
      out[i] = best;
    }
    return out;
  }

  /**
   * Activations of the tensor `layer` (default {@link OnnxClassifier.defaultLayer}), `[n, dim]`.
   * `INVALID_ARGUMENT` for a tensor the graph does not produce, naming the candidates.
   */
  async activations(
    x: Float32Array,
    n: number,
    layer?: string,
  ): Promise<{ data: Float32Array; dim: number }> {
    const name = this.checkedLayer(layer);
    if (name === this.output.name) return this.run(await this.base, name, x, n);
    return this.run(await this.layerSession(name), name, x, n);
  }

  /**
   * The activations of `layer` (as {@link OnnxClassifier.activations}) and the class probabilities
   * (as {@link OnnxClassifier.predictProba}) from one run of the graph: the session that exposes
   * `layer` also computes the classifier output, so a scan needing both (representations and the
   * arbitrary-label test) runs the model once.
   */
  async activationsAndProba(
    x: Float32Array,
    n: number,
    layer?: string,
  ): Promise<{ data: Float32Array; dim: number; probabilities: Float32Array }> {
    const name = this.checkedLayer(layer);
    const out = this.output.name;
    const [acts, raw] =
      name === out
        ? await this.runMany(await this.base, [out], x, n).then((r) => [r[0]!, r[0]!])
        : await this.runMany(await this.layerSession(name), [name, out], x, n);
    const scores = name === out ? Float32Array.from(raw!.data) : raw!.data;
    const probabilities = this.output.probabilities
      ? scores
      : softmaxRows(scores, n, this.numClasses);
    return { data: acts!.data, dim: acts!.dim, probabilities };
  }

  /**
   * `layer`, or the default layer, checked against the graph's tensors: `INVALID_ARGUMENT` for a
   * tensor the graph does not produce (naming the candidates) or a graph without a default.
   */
  private checkedLayer(layer: string | undefined): string {
    const name = layer ?? this.defaultLayer;
    if (name === undefined || !this.tensors.has(name)) {
      throw new AntidoteError(
        'INVALID_ARGUMENT',
        name === undefined
          ? `${this.src.where} has no Gemm or MatMul after its input: name a layer (${this.layerNames.join(', ') || 'none found'})`
          : `${this.src.where} has no tensor ${name}; layers: ${this.layerNames.join(', ')}`,
        { path: this.src.where },
      );
    }
    return name;
  }

  /** The session whose graph also outputs the tensor `name` (made once per layer). */
  private layerSession(name: string): Promise<Runner> {
    let session = this.sessions.get(name);
    if (!session) {
      session = OnnxClassifier.session(this.src, [name], this.intraOpThreads);
      this.sessions.set(name, session);
    }
    return session;
  }

  /** Releases every session. */
  async release(): Promise<void> {
    const pending = [this.base, ...this.sessions.values(), ...this.retired.splice(0)];
    this.sessions.clear();
    const all = await Promise.allSettled(pending);
    await Promise.all(
      all.map((s) => (s.status === 'fulfilled' ? s.value.session.release() : undefined)),
    );
  }
}
