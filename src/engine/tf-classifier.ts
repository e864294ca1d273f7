import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import type { Dataset } from '../data/dataset.js';
import { AntidoteError } from '../errors.js';
import { rowArgmax } from '../numeric/argmax.js';
import { activeBackend, initEngine } from './backend.js';
import type { Classifier } from './classifier.js';
import { type InferenceRequest, runInference } from './inference-ops.js';
import { InferencePool } from './inference-pool.js';
import {
  checkInferenceEngine,
  checkInferenceThreads,
  type InferenceEngine,
} from './inference-settings.js';
import { loadLayersModel, saveLayersModel } from './model-io.js';
import type { ExportedSessions } from './onnx/onnx-export-session.js';
import { parseTfClassifierMetadata, type TfClassifierMetadata } from './tf-classifier-metadata.js';
import { checkDatasetFits, fitModel, type TrainHistory, type TrainOptions } from './train.js';
import { buildModel, LOGITS_LAYER, type ModelSpec, resolveModelSpec } from './zoo.js';

/** Records per forward pass when predicting, extracting activations or gradients. */
const DEFAULT_INFERENCE_BATCH = 512;

// Apart from the engine's modules (a model handle that has not loaded TF.js checks them too).
export { INFERENCE_ENGINES, type InferenceEngine } from './inference-settings.js';

export type { TfClassifierMetadata };

/**
 * A TensorFlow.js model of the zoo behind the {@link Classifier} interface: batched inference
 * (memory stays bounded), activations of any named layer, input gradients of the loss, fine-tuning,
 * and save/load. Every method cleans up its tensors.
 */
export class TfClassifier implements Classifier {
  readonly inputShape: readonly number[];
  readonly numClasses: number;
  readonly layerNames: readonly string[];
  private readonly subModels = new Map<string, tfl.LayersModel>();
  private trainingRuns: Array<Record<string, unknown>>;
  private disposed = false;
  /** History of the latest {@link TfClassifier.fit} in this process. */
  lastHistory: TrainHistory | undefined;
  private inferenceThreads = 1;
  private pool: Promise<InferencePool> | undefined;
  private engine: InferenceEngine = 'auto';
  /** ONNX Runtime sessions of the exported model (`undefined` inside: TF.js runs it). */
  private exported: Promise<ExportedSessions | undefined> | undefined;

  private constructor(
    /** The underlying TF.js model (outputs logits). */
    readonly model: tfl.LayersModel,
    readonly spec: ModelSpec,
    readonly classes: readonly string[],
    training: ReadonlyArray<Record<string, unknown>>,
  ) {
    this.inputShape = (model.inputs[0]!.shape as number[]).slice(1);
    this.numClasses = classes.length;
    this.layerNames = model.layers.map((l) => l.name);
    this.trainingRuns = [...training];
  }

  /** A fresh, untrained model of the zoo (seeded initialisation). */
  static async create(
    spec: ModelSpec,
    inputShape: readonly number[],
    classes: readonly string[],
    seed: number,
  ): Promise<TfClassifier> {
    await initEngine();
    const full = resolveModelSpec(spec);
    return new TfClassifier(buildModel(full, inputShape, classes.length, seed), full, classes, []);
  }

  /** Loads a model saved with {@link TfClassifier.save}. */
  static async load(dir: string): Promise<TfClassifier> {
    await initEngine();
    const { model, metadata } = await loadLayersModel(dir);
    let m: TfClassifierMetadata;
    try {
      m = parseTfClassifierMetadata(metadata, dir);
    } catch (e) {
      model.dispose();
      throw e;
    }
    const outUnits = (model.outputs[0]!.shape as number[])[1];
    if (outUnits !== m.classes.length) {
      model.dispose();
      throw new AntidoteError(
        'SHAPE_MISMATCH',
        `${dir}: the model outputs ${outUnits} classes but its metadata names ${m.classes.length}`,
        { path: dir },
      );
    }
    return new TfClassifier(model, m.spec, m.classes, m.training);
  }

  /** The metadata stored with the model. */
  get metadata(): TfClassifierMetadata {
    return {
      format: 'antidote-model',
      version: 1,
      spec: this.spec,
      inputShape: this.inputShape,
      classes: this.classes,
      training: this.trainingRuns,
    };
  }

  /** Saves weights and metadata to `dir` (atomically; see {@link saveLayersModel}). */
  async save(dir: string, options: { overwrite?: boolean } = {}): Promise<void> {
    this.checkAlive();
    await saveLayersModel(this.model, dir, { ...this.metadata }, options);
  }

  /**
   * Trains this model further on `ds` (fine-tuning; a new model's first training). The run is
   * appended to the model's training record.
   */
  async fit(ds: Dataset, options: Omit<TrainOptions, 'model'>): Promise<TrainHistory> {
    this.checkAlive();
    checkDatasetFits(ds, this.inputShape, this.numClasses);
    await initEngine();
    const history = await fitModel(this.model, ds, this.numClasses, options);
    this.lastHistory = history;
    const { onProgress: _ignored, ...recorded } = options;
    this.trainingRuns.push({
      ...recorded,
      backend: activeBackend(),
      records: ds.shape[0],
      history: history.epochs,
      bestEpoch: history.bestEpoch,
      stoppedEarly: history.stoppedEarly,
    });
    return history;
  }

  /**
   * Threads that `predictProba`, `activations` and `lossGradient` split large inputs over
   * (default 1: this thread only). More start `worker_threads` replicas of the model lazily;
   * they follow weight changes and stop with {@link dispose}.
   */
  useThreads(threads: number): this {
    this.checkAlive();
    checkInferenceThreads(threads);
    if (threads !== this.inferenceThreads) {
      void this.closePool();
      void this.closeExported();
      this.inferenceThreads = threads;
    }
    return this;
  }

  /**
   * Chooses the runtime of the forward passes (see {@link InferenceEngine}; default `auto`).
   * With ONNX Runtime, {@link useThreads} sets its intra-op thread count.
   */
  useInference(engine: InferenceEngine): this {
    this.checkAlive();
    checkInferenceEngine(engine);
    if (engine !== this.engine) {
      void this.closeExported();
      this.engine = engine;
    }
    return this;
  }

  /** The runtime chosen for the forward passes (see {@link useInference}). */
  get inference(): InferenceEngine {
    return this.engine;
  }

  /**
   * The runtime that runs the forward passes now: `onnx` or `tfjs` (`auto` resolved: `tfjs`
   * when the model does not export or ONNX Runtime failed on it).
   */
  async inferenceRuntime(): Promise<'onnx' | 'tfjs'> {
    this.checkAlive();
    return (await this.onnxSessions()) ? 'onnx' : 'tfjs';
  }

  private async closeExported(): Promise<void> {
    const p = this.exported;
    this.exported = undefined;
    if (p) await (await p.catch(() => undefined))?.release();
  }

  /** The ONNX Runtime sessions of the model, when the engine choice and the model allow. */
  private onnxSessions(): Promise<ExportedSessions | undefined> {
    if (this.engine === 'tfjs') return Promise.resolve(undefined);
    this.exported ??= (async () => {
      const { exportUnsupported } = await import('./onnx/onnx-export.js');
      const why = exportUnsupported(this.model);
      if (why !== undefined) {
        if (this.engine === 'onnx') {
          throw new AntidoteError(
            'INVALID_ARGUMENT',
            `the model cannot run in ONNX Runtime: ${why}`,
          );
        }
        return undefined;
      }
      const { ExportedSessions } = await import('./onnx/onnx-export-session.js');
      return new ExportedSessions(this.model, this.inferenceThreads);
    })();
    return this.exported;
  }

  /**
   * Runs a forward pass in ONNX Runtime when the engine choice allows (`undefined`: run it in
   * TF.js). In `auto`, a failure of ONNX Runtime switches this classifier to TF.js for good.
   */
  private async onnxForward(
    output: { layer: string } | { probabilities: true },
    x: Float32Array,
    n: number,
  ): Promise<Float32Array | undefined> {
    const sessions = await this.onnxSessions();
    if (!sessions) return undefined;
    try {
      return (await sessions.run(output, x, n)).data;
    } catch (e) {
      if (this.engine === 'onnx') throw e;
      void this.closeExported();
      this.engine = 'tfjs';
      return undefined;
    }
  }

  /** Threads used for inference (see {@link useThreads}). */
  get threads(): number {
    return this.inferenceThreads;
  }

  private async closePool(): Promise<void> {
    const p = this.pool;
    this.pool = undefined;
    if (p) await (await p.catch(() => undefined))?.close();
  }

  /** Runs an inference pass here, or split over the inference threads. */
  private async infer(
    op: InferenceRequest['op'],
    x: Float32Array,
    n: number,
    outDim: number,
    options: { y?: Int32Array; layer?: string; batchSize?: number } = {},
  ): Promise<Float32Array> {
    this.checkInput(x, n);
    if (op !== 'inputGradient') {
      const fast = await this.onnxForward(
        op === 'proba' ? { probabilities: true } : { layer: options.layer ?? this.lastLayer },
        x,
        n,
      );
      if (fast) return fast;
    }
    const local = options.layer ? this.subModel(options.layer) : this.model;
    const req: InferenceRequest = {
      op,
      x,
      n,
      inputShape: this.inputShape,
      outDim,
      batchSize: options.batchSize ?? DEFAULT_INFERENCE_BATCH,
      ...(options.y ? { y: options.y } : {}),
    };
    if (this.inferenceThreads === 1) return runInference(local, req, this.numClasses);
    this.pool ??= InferencePool.start(this.model, this.inferenceThreads, this.numClasses);
    const pool = await this.pool;
    return pool.run(req, this.numClasses, local, options.layer);
  }

  async predictProba(x: Float32Array, n: number): Promise<Float32Array> {
    return this.infer('proba', x, n, this.numClasses);
  }

  async predict(x: Float32Array, n: number): Promise<Int32Array> {
    this.checkInput(x, n);
    const logits = await this.onnxForward({ layer: this.lastLayer }, x, n);
    // The first largest logit, as tf.argMax.
    if (logits) return rowArgmax(logits, n, this.numClasses);
    const out = new Int32Array(n);
    this.forEachBatch(x, n, (xb, from) => {
      const labels = tf.tidy(() =>
        tf.argMax(this.model.apply(xb, { training: false }) as tf.Tensor2D, 1),
      );
      out.set(labels.dataSync() as Int32Array, from);
      labels.dispose();
    });
    return out;
  }

  /** The model's last layer (the logits). */
  private get lastLayer(): string {
    return this.layerNames[this.layerNames.length - 1]!;
  }

  /** The layer whose output is the representation by default: the one before the logits. */
  get defaultLayer(): string {
    const i = this.layerNames.indexOf(LOGITS_LAYER);
    return this.layerNames[(i >= 0 ? i : this.layerNames.length) - 1]!;
  }

  async activations(
    x: Float32Array,
    n: number,
    layer: string = this.defaultLayer,
  ): Promise<{ data: Float32Array; dim: number }> {
    const sub = this.subModel(layer);
    const dim = (sub.outputs[0]!.shape as number[]).slice(1).reduce((a, b) => a * b, 1);
    return { data: await this.infer('activations', x, n, dim, { layer }), dim };
  }

  /**
   * The activations of `layer` and the class probabilities from one forward pass when ONNX
   * Runtime runs the model and the layer's output is flat (one session with both outputs, whose
   * values are those of {@link activations} and {@link predictProba}); else the two passes.
   */
  async activationsAndProba(
    x: Float32Array,
    n: number,
    layer: string = this.defaultLayer,
  ): Promise<{ data: Float32Array; dim: number; probabilities: Float32Array }> {
    this.checkInput(x, n);
    const flat = this.subModel(layer).outputs[0]!.shape.length === 2;
    const sessions = flat && layer !== this.lastLayer ? await this.onnxSessions() : undefined;
    if (sessions) {
      try {
        const both = await sessions.run({ layer, withProbabilities: true }, x, n);
        if (both.probabilities) return { ...both, probabilities: both.probabilities };
      } catch (e) {
        if (this.engine === 'onnx') throw e;
        void this.closeExported();
        this.engine = 'tfjs';
      }
    }
    const a = await this.activations(x, n, layer);
    return { ...a, probabilities: await this.predictProba(x, n) };
  }

  /**
   * Gradient of each record's own softmax cross-entropy loss (w.r.t. its true label `y`) with
   * respect to its input, laid out like `x`.
   */
  async lossGradient(x: Float32Array, y: Int32Array): Promise<Float32Array> {
    const n = y.length;
    const size = this.inputShape.reduce((a, b) => a * b, 1);
    return this.infer('inputGradient', x, n, size, { y });
  }

  /** Frees the model's weights. The classifier cannot be used afterwards. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    void this.closePool();
    void this.closeExported();
    this.subModels.clear();
    this.model.dispose();
  }

  private subModel(layer: string): tfl.LayersModel {
    this.checkAlive();
    let sub = this.subModels.get(layer);
    if (!sub) {
      if (!this.layerNames.includes(layer)) {
        throw new AntidoteError(
          'INVALID_ARGUMENT',
          `the model has no layer "${layer}" (layers: ${this.layerNames.join(', ')})`,
        );
      }
      sub = tfl.model({
        inputs: this.model.inputs,
        outputs: this.model.getLayer(layer).output as tfl.SymbolicTensor,
      });
      this.subModels.set(layer, sub);
    }
    return sub;
  }

  private checkInput(x: Float32Array, n: number): void {
    this.checkAlive();
    const size = this.inputShape.reduce((a, b) => a * b, 1);
    if (!Number.isInteger(n) || n < 0 || x.length !== n * size) {
      throw new AntidoteError(
        'SHAPE_MISMATCH',
        `expected ${n} records of shape [${this.inputShape.join(', ')}] (${n * size} values), got ${x.length} values`,
      );
    }
  }

  private forEachBatch(
    x: Float32Array,
    n: number,
    fn: (xb: tf.Tensor, from: number, m: number) => void,
    batchSize = DEFAULT_INFERENCE_BATCH,
  ): void {
    this.checkInput(x, n);
    const size = this.inputShape.reduce((a, b) => a * b, 1);
    for (let from = 0; from < n; from += batchSize) {
      const m = Math.min(batchSize, n - from);
      const xb = tf.tensor(x.subarray(from * size, (from + m) * size), [m, ...this.inputShape]);
      try {
        fn(xb, from, m);
      } finally {
        xb.dispose();
      }
    }
  }

  private checkAlive(): void {
    if (this.disposed)
      throw new AntidoteError('INVALID_STATE', 'this classifier has been disposed');
  }
}

/**
 * Trains a fresh model of the zoo on `ds` (shape `[N, ...inputShape]`). The same data, options and
 * seed give identical weights, bit for bit, on the same backend.
 */
export async function trainClassifier(ds: Dataset, options: TrainOptions): Promise<TfClassifier> {
  const classifier = await TfClassifier.create(
    resolveModelSpec(options.model),
    ds.shape.slice(1),
    ds.classes,
    options.seed,
  );
  try {
    const { model: _model, ...rest } = options;
    await classifier.fit(ds, rest);
    return classifier;
  } catch (e) {
    classifier.dispose();
    throw e;
  }
}
