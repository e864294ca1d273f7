/**
 * The {@link M.Model} adapter of ONNX models (issue 17): a `.onnx` file exported from PyTorch,
 * TensorFlow or scikit-learn, run by ONNX Runtime. Antidote's datasets hold HWC images; an NCHW
 * model's records are transposed once, in {@link OnnxModel.featurize}, and normalised as the
 * sidecar JSON says (`./onnx-sidecar.ts`). `predictProba`, `predict` and `activationsOf` run
 * that preprocessing inside ONNX Runtime instead, on a derived graph that reads the records as
 * stored (`./onnx-input-graph.ts`; an NCHW model's first convolution folded onto them). Inference runs in ONNX Runtime; where every op of the
 * graph imports into the engine (`./onnx-tf-opset.ts`), the model also gives input gradients and
 * fine-tunes its imported weights (`./onnx-tf-classifier.ts`, loaded lazily), written back as
 * ONNX (see docs/onnx.md).
 */
import { type Dataset, numRecords, recordShape } from '../../data/dataset.js';
import type { LoadedDataset } from '../../data/load.js';
import { AntidoteError } from '../../errors.js';
import { readBytes } from '../../util/fs.js';
import { checkInferenceThreads } from '../data-parallel.js';
import type { LayeredModel } from '../differentiable.js';
import { checkModelReadsData } from '../model-data.js';
import type * as M from '../model-interface.js';
import { checkDatasetFits } from '../train.js';
import { OnnxClassifier } from './onnx-classifier.js';
import {
  checkStandardOps,
  classifierOutput,
  dataInputs,
  layoutOf,
  ONNX_FLOAT,
  type OnnxLayout,
} from './onnx-graph.js';
import { takesRawInput, withRawInput } from './onnx-input-graph.js';
import {
  channelsOf,
  type OnnxLoadOptions,
  type OnnxPreprocessing,
  resolveLayout,
  resolveNormalization,
} from './onnx-preprocess.js';
import { decodeOnnx, type ProtoModel } from './onnx-proto.js';
import { type OnnxNormalization, readSidecar } from './onnx-sidecar.js';
import type { OnnxTfClassifier } from './onnx-tf-classifier.js';
import { notImportable } from './onnx-tf-opset.js';

/** The model's data input, checked: one float tensor with known record dimensions. */
interface DataInput {
  readonly name: string;
  readonly recordShape: readonly number[];
  readonly fixedBatch?: number;
  readonly layout: OnnxLayout;
}

function dataInput(model: ProtoModel, where: string): DataInput {
  const inputs = dataInputs(model);
  const input = inputs[0];
  const bad = (why: string) =>
    new AntidoteError('INVALID_FORMAT', `${where}: ${why}`, { path: where });
  if (!input || inputs.length !== 1) {
    throw bad(`Antidote runs models with one data input; this one has ${inputs.length}`);
  }
  if (input.elemType !== ONNX_FLOAT) {
    throw bad(`input ${input.name} is not float32 (ONNX type ${input.elemType})`);
  }
  const shape = input.shape ?? [];
  const dims = shape.slice(1);
  if (shape.length < 2 || dims.some((d) => typeof d !== 'number' || d < 1)) {
    throw bad(
      `input ${input.name} has shape [${shape.map((d) => d ?? '?').join(', ')}]; Antidote needs [batch, ...] with fixed record dimensions`,
    );
  }
  const recordShape = dims as number[];
  const layout = layoutOf(recordShape);
  if (!layout) {
    throw bad(
      `input ${input.name} has shape [${shape.join(', ')}]; Antidote reads [N, D], [N, C, H, W] or [N, H, W, C] inputs`,
    );
  }
  const batch = shape[0];
  return {
    name: input.name,
    recordShape,
    layout,
    ...(typeof batch === 'number' && batch > 0 ? { fixedBatch: batch } : {}),
  };
}

/** The raw (HWC) record shape of a model input of `layout`. */
function rawShape(recordShape: readonly number[], layout: OnnxLayout): number[] {
  if (layout !== 'nchw') return [...recordShape];
  const [c, h, w] = recordShape as [number, number, number];
  return [h, w, c];
}

/** An ONNX model as a {@link M.Model} (see the module comment). */
export class OnnxModel implements M.Model {
  readonly domain = 'image' as const;
  readonly kind = 'onnx';
  readonly capabilities: M.ModelCapabilities;
  readonly input: M.ModelInput;
  readonly training: ReadonlyArray<Record<string, unknown>> = [];
  /** Why the graph does not import into the engine ("op X (node Y)"), if it does not. */
  readonly notImportable: string | undefined;
  private imported: Promise<OnnxTfClassifier> | undefined;
  /**
   * The classifier of the derived graph that preprocesses raw records itself
   * (`./onnx-input-graph.ts`), created on first use; `null` when the graph cannot take it.
   */
  private raw: Promise<OnnxClassifier | null> | undefined;
  /** The intra-op threads set by {@link useThreads}, for the derived graph's session. */
  private threads: number | undefined;

  private constructor(
    /** The `.onnx` file. */
    readonly path: string,
    /** The model file and its sidecar, when there is one. */
    readonly files: readonly string[],
    readonly classifier: OnnxClassifier,
    readonly classes: readonly string[],
    /** How the model's input is laid out (`nchw`, `nhwc` or `flat`). */
    readonly layout: OnnxLayout,
    /** The preprocessing {@link OnnxModel.featurize} applies (from the sidecar), if any. */
    readonly normalization: OnnxNormalization | undefined,
    /** The decoded graph (inputs, outputs, nodes, initializers). */
    readonly graph: ProtoModel,
    /** The layout and normalisation applied, and where each came from (for reports). */
    readonly preprocessing: OnnxPreprocessing,
    /** The graph's data input and its fixed batch size, if any. */
    private readonly dataInput: { readonly name: string; readonly fixedBatch?: number },
  ) {
    const shape = rawShape(classifier.inputShape, layout);
    this.input = { kind: 'tensor', shape };
    this.notImportable = notImportable(graph);
    const importable = this.notImportable === undefined;
    this.capabilities = Object.freeze({
      threads: true,
      training: importable,
      gradients: importable,
      pixels: layout !== 'flat',
    });
    if (importable) {
      classifier.lossGradient = async (x, y) => (await this.importGraph()).lossGradient(x, y);
    }
  }

  /**
   * The graph imported into the engine (once, lazily; the weights as loaded).
   * `INVALID_STATE` naming the op when the graph does not import.
   */
  importGraph(): Promise<OnnxTfClassifier> {
    if (this.notImportable) {
      return Promise.reject(
        new AntidoteError(
          'INVALID_STATE',
          `${this.path} uses ${this.notImportable}, which Antidote cannot import: no gradients, training or fine-tuning for this model (see docs/onnx.md)`,
          { path: this.path },
        ),
      );
    }
    this.imported ??= import('./onnx-tf-classifier.js').then((m) =>
      m.importOnnxClassifier(this.classifier.bytes, this.graph, this.path),
    );
    return this.imported;
  }

  /**
   * The model as a differentiable function of raw records (HWC, with the sidecar's
   * normalisation done in TF.js, its layers' activations too), for Neural Cleanse, PGD and
   * feature collision. `INVALID_STATE` as {@link importGraph}.
   */
  async differentiable(): Promise<LayeredModel> {
    const imported = await this.importGraph();
    const { pixelModel } = await import('./onnx-tf-classifier.js');
    const shape = this.input.kind === 'tensor' ? this.input.shape : this.classifier.inputShape;
    return pixelModel(imported, this.layout, this.normalization, shape, this.classes);
  }

  /**
   * Loads `path` (a `.onnx` file) and its sidecar. `INVALID_FORMAT` for a file that is not an
   * ONNX model, uses custom operators, has no classifier-like output or an input Antidote cannot
   * feed, and for a sidecar whose classes do not match the output; `NOT_FOUND` for a missing file.
   * `options` override the layout read from the input shape and the sidecar's normalisation
   * (`./onnx-preprocess.ts`; `INVALID_ARGUMENT` for values that do not fit the model).
   */
  static async load(path: string, options?: OnnxLoadOptions): Promise<OnnxModel> {
    const bytes = await readBytes(path);
    const graph = decodeOnnx(bytes, path);
    checkStandardOps(graph, path);
    const detected = dataInput(graph, path);
    const layout = resolveLayout(detected.recordShape, detected.layout, options?.layout, path);
    const input = { ...detected, layout: layout.layout };
    const out = classifierOutput(graph, path);
    const { sidecar, path: sidecarPath } = await readSidecar(path);
    if (sidecar.classes && sidecar.classes.length !== out.numClasses) {
      throw new AntidoteError(
        'INVALID_FORMAT',
        `${sidecarPath} names ${sidecar.classes.length} classes but ${path} outputs ${out.numClasses}`,
        { path: sidecarPath ?? path },
      );
    }
    const channels = channelsOf(input.recordShape, input.layout);
    const norm = sidecar.normalization;
    for (const [field, values] of [
      // Values the options replace are not the sidecar's to check.
      ['mean', options?.mean ? undefined : norm?.mean],
      ['std', options?.std ? undefined : norm?.std],
    ] as const) {
      if (values && values.length !== 1 && values.length !== channels) {
        throw new AntidoteError(
          'INVALID_FORMAT',
          `${sidecarPath}: normalization.${field} has ${values.length} values; the model has ${channels} channel(s)`,
          { path: sidecarPath ?? path },
        );
      }
    }
    const classifier = await OnnxClassifier.create({
      bytes,
      model: graph,
      inputName: input.name,
      recordShape: input.recordShape,
      where: path,
      ...(input.fixedBatch !== undefined ? { fixedBatch: input.fixedBatch } : {}),
    });
    const classes = sidecar.classes ?? Array.from({ length: out.numClasses }, (_, k) => String(k));
    const files = sidecarPath ? [path, sidecarPath] : [path];
    const normalization = resolveNormalization(norm, options, channels, path);
    const preprocessing: OnnxPreprocessing = {
      layout: input.layout,
      layoutSource: layout.source,
      normalization: normalization.normalization,
      normalizationSource: normalization.source,
    };
    return new OnnxModel(
      path,
      files,
      classifier,
      classes,
      input.layout,
      normalization.normalization ?? undefined,
      graph,
      preprocessing,
      {
        name: input.name,
        ...(input.fixedBatch !== undefined ? { fixedBatch: input.fixedBatch } : {}),
      },
    );
  }

  /**
   * Records in the model's layout: HWC images transposed to CHW for an NCHW model (flattened in
   * CHW order for a flat input), then normalised. `SHAPE_MISMATCH` when the records do not have
   * the model's input shape.
   */
  featurize(ds: Dataset): Dataset {
    const want = this.classifier.inputShape;
    const shape = this.checkShape(ds);
    const size = want.reduce((a, b) => a * b, 1);
    const n = numRecords(ds);
    const { c, planar } = this.channels(shape);
    const x =
      planar || this.normalization
        ? toModelInput(ds.x, size / c, c, planar, this.normalization)
        : ds.x;
    if (x === ds.x && same(shape, want)) return ds;
    return { ...ds, x, shape: [n, ...want] };
  }

  /** The record shape of `ds`; `SHAPE_MISMATCH` unless the model reads such records. */
  private checkShape(ds: Dataset): number[] {
    const want = this.classifier.inputShape;
    const raw = this.input.kind === 'tensor' ? this.input.shape : want;
    const shape = recordShape(ds);
    const size = want.reduce((a, b) => a * b, 1);
    const flatOk = this.layout === 'flat' && shape.reduce((a, b) => a * b, 1) === size;
    if (!same(shape, raw) && !flatOk) {
      throw new AntidoteError(
        'SHAPE_MISMATCH',
        `${this.path} reads records of shape [${raw.join(', ')}]${this.layout === 'nchw' ? ` (HWC; the model's NCHW input is [N, ${want.join(', ')}])` : ''}, the data has [${shape.join(', ')}]`,
        { path: this.path },
      );
    }
    return shape;
  }

  /**
   * The channels of records of `shape` and whether they go from HWC to CHW (NCHW models, and
   * flat models given multi-channel images).
   */
  private channels(shape: readonly number[]): { c: number; planar: boolean } {
    const hwc = this.layout === 'nchw' || (this.layout === 'flat' && shape.length === 3);
    const c = hwc ? shape[2]! : this.layout === 'nhwc' ? this.classifier.inputShape[2]! : 1;
    return { c, planar: hwc && c > 1 };
  }

  /**
   * The classifier that reads the records of `ds` as stored, with the transpose and the
   * normalisation in its graph (`./onnx-input-graph.ts`), when {@link featurize} would otherwise
   * copy them; `undefined` when the plain classifier reads them as they are, or for a flat model
   * given multi-channel images (the graph does not know their height and width), a graph too
   * old for the new nodes, or one whose derived graph ONNX Runtime refuses (the plain path then
   * runs, as before). `SHAPE_MISMATCH` as {@link featurize}.
   */
  private async rawClassifier(ds: Dataset): Promise<OnnxClassifier | undefined> {
    const shape = this.checkShape(ds);
    const { planar } = this.channels(shape);
    if (!(planar || this.normalization) || (planar && this.layout === 'flat')) return undefined;
    if (this.raw === undefined) {
      if (!takesRawInput(this.graph)) {
        this.raw = Promise.resolve(null);
      } else {
        const rawShape = this.input.kind === 'tensor' ? this.input.shape : [];
        const fixedBatch = this.dataInput.fixedBatch;
        const derived = withRawInput(this.classifier.bytes, this.graph, {
          inputName: this.dataInput.name,
          layout: this.layout,
          rawShape,
          ...(fixedBatch !== undefined ? { fixedBatch } : {}),
          ...(this.normalization ? { normalization: this.normalization } : {}),
        });
        this.raw = OnnxClassifier.create({
          bytes: derived.bytes,
          model: this.graph,
          inputName: derived.inputName,
          recordShape: rawShape,
          where: this.path,
          ...(fixedBatch !== undefined ? { fixedBatch } : {}),
          ...(this.threads !== undefined ? { threads: this.threads } : {}),
        }).catch(() => null);
      }
    }
    return (await this.raw) ?? undefined;
  }

  /**
   * Activations of the tensor `layer` (default: the classifier's default layer) for raw records,
   * `[n, dim]`: what `classifier.activations` gives for `featurize(ds)`, with the preprocessing
   * run in the graph where it can be. `SHAPE_MISMATCH` as {@link featurize}; `INVALID_ARGUMENT`
   * for a layer the graph does not produce.
   */
  async activationsOf(ds: Dataset, layer?: string): Promise<{ data: Float32Array; dim: number }> {
    const raw = await this.rawClassifier(ds);
    if (raw) return raw.activations(ds.x, numRecords(ds), layer);
    const f = this.featurize(ds);
    return this.classifier.activations(f.x, numRecords(f), layer);
  }

  checkReads(loaded: LoadedDataset): void {
    checkModelReadsData(this, this.path, loaded);
  }

  /** Class probabilities of raw records; `SHAPE_MISMATCH` unless they fit the model. */
  async predictProba(ds: Dataset): Promise<Float32Array> {
    const raw = await this.rawClassifier(ds);
    if (raw) {
      checkDatasetFits(ds, recordShape(ds), this.classifier.numClasses);
      return raw.predictProba(ds.x, numRecords(ds));
    }
    const f = this.featurize(ds);
    checkDatasetFits(f, this.classifier.inputShape, this.classifier.numClasses);
    return this.classifier.predictProba(f.x, numRecords(f));
  }

  async predict(ds: Dataset): Promise<Int32Array> {
    const raw = await this.rawClassifier(ds);
    if (raw) {
      checkDatasetFits(ds, recordShape(ds), this.classifier.numClasses);
      return raw.predict(ds.x, numRecords(ds));
    }
    const f = this.featurize(ds);
    checkDatasetFits(f, this.classifier.inputShape, this.classifier.numClasses);
    return this.classifier.predict(f.x, numRecords(f));
  }

  /**
   * Runs inference with `threads` intra-op threads in ONNX Runtime (`OnnxClassifier.setThreads`;
   * new sessions, created lazily). `INVALID_ARGUMENT` outside [1, MAX_ENGINE_THREADS].
   */
  useThreads(threads: number): this {
    checkInferenceThreads(threads);
    this.classifier.setThreads(threads);
    this.threads = threads;
    void this.raw?.then((c) => c?.setThreads(threads));
    return this;
  }

  /**
   * A copy of the imported graph fine-tuned on `features` (records in the model's layout, e.g.
   * from {@link featurize}): the imported weights are the starting point (ONNX files record no
   * training run to repeat), Adam with `options` (defaults: 2 epochs, batch 64, rate 0.001).
   * `INVALID_STATE` when the graph does not import.
   */
  async trainLike(
    features: Dataset,
    options: M.TrainLikeOptions,
  ): Promise<M.DisposableClassifier & OnnxTfClassifier> {
    const tuned = (await this.importGraph()).clone();
    try {
      await tuned.fit(features, options);
    } catch (e) {
      tuned.dispose();
      throw e;
    }
    return tuned;
  }

  /** Releases the ONNX Runtime sessions (in the background). */
  dispose(): void {
    void this.classifier.release().catch(() => undefined);
    void this.raw?.then((c) => c?.release()).catch(() => undefined);
    this.raw = undefined;
    void this.imported?.then((c) => c.dispose()).catch(() => undefined);
    this.imported = undefined;
  }
}

const same = (a: readonly number[], b: readonly number[]) =>
  a.length === b.length && a.every((d, i) => d === b[i]);

/**
 * Records of `hw` pixels × `c` channels (HWC, channel `k` of pixel `p` at `p · c + k`) in the
 * model's layout, in one pass over one new array: transposed to CHW (channel `k` of pixel `p` at
 * `k · hw + p`) when `planar`, and each value `v` of channel `k` normalised to
 * `(v · scale − mean[k]) / std[k]` (a single mean or std applies to every channel). The same
 * arithmetic as a transpose followed by a normalisation, so the same float32 values; one pass
 * record by record (each record's values stay in cache) takes less than half the time of the two.
 */
function toModelInput(
  x: Float32Array,
  hw: number,
  c: number,
  planar: boolean,
  norm: OnnxNormalization | undefined,
): Float32Array {
  // Small integers for V8: dimensions decoded from the protobuf's int64 fields arrive as doubles,
  // and index arithmetic in doubles made this loop twice as slow.
  const pixels = hw | 0;
  const channels = c | 0;
  const out = new Float32Array(x.length);
  const size = pixels * channels;
  const scale = norm?.scale ?? 1;
  const means = new Float64Array(channels);
  const stds = new Float64Array(channels).fill(1);
  if (norm) {
    for (let k = 0; k < channels; k++) {
      means[k] = norm.mean[k] ?? norm.mean[0]!;
      stds[k] = norm.std[k] ?? norm.std[0]!;
    }
  }
  // Destination step and channel offset: CHW writes each channel's plane in order.
  const step = planar ? 1 : channels;
  const plane = planar ? pixels : 1;
  for (let o = 0; o < x.length; o += size) {
    for (let k = 0; k < channels; k++) {
      const mean = means[k]!;
      const std = stds[k]!;
      let src = o + k;
      let dst = o + k * plane;
      for (let p = 0; p < pixels; p++, src += channels, dst += step) {
        out[dst] = (x[src]! * scale - mean) / std;
      }
    }
  }
  return out;
}
