/**
 * A zoo image model read from its files without loading the engine: what a caller reads of a
 * {@link Model} without running it (classes, kind, input shape, layer names, files, training
 * record) comes from `model.json`; the first forward pass, gradient, training or prediction
 * loads TensorFlow.js and the weights (`TfClassifier.load`) and runs there. A distributed scan's
 * coordinator that reads the dataset's outline never runs the model (the workers do), so it no
 * longer loads the engine's modules (≈ 0.2–0.25 s of its CPU while the workers run; issue 22,
 * docs/scale.md, "eighth pass").
 *
 * The handle is a {@link Model}, not a `TfImageModel`: code that needs the TF.js classifier
 * itself (`requireImageModel`, fine-tuning) takes {@link DeferredImageModel.load}'s model.
 */
import { join } from 'node:path';
import { type Dataset, recordShape } from '../data/dataset.js';
import type { LoadedDataset } from '../data/load.js';
import { AntidoteError } from '../errors.js';
import type { Classifier } from './classifier.js';
import {
  checkInferenceEngine,
  checkInferenceThreads,
  type InferenceEngine,
} from './inference-settings.js';
import { checkModelReadsData } from './model-data.js';
import type * as M from './model-interface.js';
import { MODEL_JSON, readModelJson, WEIGHTS_BIN } from './model-summary.js';
import { parseTfClassifierMetadata, type TfClassifierMetadata } from './tf-classifier-metadata.js';
import type { TfImageModel } from './tf-image-model.js';

/** What a zoo image model can do (`TfImageModel` and {@link DeferredImageModel} alike). */
export const ZOO_IMAGE_CAPABILITIES: M.ModelCapabilities = Object.freeze({
  threads: true,
  training: true,
  gradients: true,
  pixels: true,
});

/**
 * `ds` itself, once its records are checked to have the model's input shape `want`
 * (`SHAPE_MISMATCH` otherwise): a zoo image model reads the records as they are.
 */
export function featurizeImageRecords(ds: Dataset, want: readonly number[]): Dataset {
  const shape = recordShape(ds);
  if (shape.length !== want.length || shape.some((d, i) => d !== want[i])) {
    throw new AntidoteError(
      'SHAPE_MISMATCH',
      `the model expects records of shape [${want.join(', ')}], the data has [${shape.join(', ')}]`,
    );
  }
  return ds;
}

/** A layer of a saved Sequential topology, as far as it is read here. */
interface SavedLayer {
  readonly config?: {
    readonly name?: unknown;
    readonly units?: unknown;
    readonly batch_input_shape?: unknown;
  };
}

/**
 * The layer names of a zoo model's saved topology (TF.js `Sequential`, input to output), when
 * its first layer takes records of `inputShape` and its last gives `classes` outputs; undefined
 * for anything else (the model is then loaded as it is: its loader reports what is wrong).
 */
function sequentialLayerNames(
  topology: unknown,
  inputShape: readonly number[],
  classes: number,
): string[] | undefined {
  const t = topology as { class_name?: unknown; config?: { layers?: unknown } } | null;
  const layers = t?.class_name === 'Sequential' ? t.config?.layers : undefined;
  if (!Array.isArray(layers) || layers.length === 0) return undefined;
  const names = (layers as SavedLayer[]).map((l) => l?.config?.name);
  if (!names.every((n): n is string => typeof n === 'string')) return undefined;
  if (new Set(names).size !== names.length) return undefined;
  const first = (layers[0] as SavedLayer).config?.batch_input_shape;
  const shape = Array.isArray(first) ? first.slice(1) : undefined;
  const same = shape?.length === inputShape.length && shape.every((d, i) => d === inputShape[i]);
  const units = (layers[layers.length - 1] as SavedLayer).config?.units;
  return same && units === classes ? names : undefined;
}

/** A zoo image model that loads the engine and its weights on first use (see the module comment). */
export class DeferredImageModel implements M.Model {
  readonly domain = 'image' as const;
  readonly capabilities = ZOO_IMAGE_CAPABILITIES;
  readonly input: M.ModelInput;
  readonly files: readonly string[];
  /** The classifier: shape, classes and layer names read from `model.json`; runs once loaded. */
  readonly classifier: DeferredClassifier;
  private loaded: Promise<TfImageModel> | undefined;
  private threads = 1;
  private engine: InferenceEngine = 'auto';
  private disposed = false;

  private constructor(
    readonly path: string,
    private readonly metadata: TfClassifierMetadata,
    layerNames: readonly string[],
  ) {
    this.input = { kind: 'tensor', shape: [...metadata.inputShape] };
    this.files = [join(path, MODEL_JSON), join(path, WEIGHTS_BIN)];
    this.classifier = new DeferredClassifier(this, metadata, layerNames);
  }

  /**
   * The zoo image model saved in `dir`, read from its `model.json` (`NOT_FOUND`, `INVALID_FORMAT`
   * as `TfClassifier.load`); undefined when `model.json` is not a zoo model's whose topology this
   * reads (a text or tabular model, another topology): load that one with `loadModel`.
   */
  static async open(dir: string): Promise<DeferredImageModel | undefined> {
    const json = (await readModelJson(dir)) as {
      format?: unknown;
      modelTopology?: unknown;
      antidote?: { format?: unknown };
    } | null;
    if (json?.format !== 'layers-model' || json.antidote?.format !== 'antidote-model') {
      return undefined;
    }
    const metadata = parseTfClassifierMetadata(json.antidote, dir);
    const names = sequentialLayerNames(
      json.modelTopology,
      metadata.inputShape,
      metadata.classes.length,
    );
    return names ? new DeferredImageModel(dir, metadata, names) : undefined;
  }

  get kind(): string {
    return this.metadata.spec.arch;
  }

  get classes(): readonly string[] {
    return this.metadata.classes;
  }

  get training(): ReadonlyArray<Record<string, unknown>> {
    return this.metadata.training;
  }

  /** Whether the engine and the weights are loaded (a forward pass or training asked for them). */
  get isLoaded(): boolean {
    return this.loaded !== undefined;
  }

  /**
   * The model loaded: TF.js and the weights (`TfClassifier.load`), with the threads and the
   * inference runtime set on this handle; once (later calls give the same model). This handle
   * then runs through it; disposing either frees it.
   */
  load(): Promise<TfImageModel> {
    if (this.disposed) {
      return Promise.reject(new AntidoteError('INVALID_STATE', 'this model has been disposed'));
    }
    this.loaded ??= (async () => {
      const [{ TfClassifier }, { TfImageModel }] = await Promise.all([
        import('./tf-classifier.js'),
        import('./tf-image-model.js'),
      ]);
      const tf = await TfClassifier.load(this.path);
      tf.useThreads(this.threads).useInference(this.engine);
      return new TfImageModel(tf, this.path);
    })();
    return this.loaded;
  }

  featurize(ds: Dataset): Dataset {
    return featurizeImageRecords(ds, this.metadata.inputShape);
  }

  checkReads(loaded: LoadedDataset): void {
    checkModelReadsData(this, this.path, loaded);
  }

  async predictProba(ds: Dataset): Promise<Float32Array> {
    return (await this.load()).predictProba(ds);
  }

  async predict(ds: Dataset): Promise<Int32Array> {
    return (await this.load()).predict(ds);
  }

  useThreads(threads: number): this {
    checkInferenceThreads(threads);
    this.threads = threads;
    void this.loaded?.then((m) => m.useThreads(threads));
    return this;
  }

  /** The runtime of the forward passes once loaded (`TfClassifier.useInference`). */
  useInference(engine: InferenceEngine): this {
    checkInferenceEngine(engine);
    this.engine = engine;
    void this.loaded?.then((m) => m.tf.useInference(engine));
    return this;
  }

  async trainLike(features: Dataset, options: M.TrainLikeOptions): Promise<M.DisposableClassifier> {
    return (await this.load()).trainLike(features, options);
  }

  dispose(): void {
    this.disposed = true;
    void this.loaded?.then(
      (m) => m.dispose(),
      () => {},
    );
  }
}

/** The {@link Classifier} of a {@link DeferredImageModel}: each pass loads the model first. */
class DeferredClassifier implements Classifier {
  readonly inputShape: readonly number[];
  readonly numClasses: number;

  constructor(
    private readonly owner: DeferredImageModel,
    metadata: TfClassifierMetadata,
    readonly layerNames: readonly string[],
  ) {
    this.inputShape = metadata.inputShape;
    this.numClasses = metadata.classes.length;
  }

  /** The runtime of the forward passes once loaded (as `TfClassifier.useInference`). */
  useInference(engine: InferenceEngine): this {
    this.owner.useInference(engine);
    return this;
  }

  private async tf() {
    return (await this.owner.load()).tf;
  }

  async predictProba(x: Float32Array, n: number): Promise<Float32Array> {
    return (await this.tf()).predictProba(x, n);
  }

  async predict(x: Float32Array, n: number): Promise<Int32Array> {
    return (await this.tf()).predict(x, n);
  }

  async activations(
    x: Float32Array,
    n: number,
    layer?: string,
  ): Promise<{ data: Float32Array; dim: number }> {
    return (await this.tf()).activations(x, n, layer);
  }

  async activationsAndProba(
    x: Float32Array,
    n: number,
    layer?: string,
  ): Promise<{ data: Float32Array; dim: number; probabilities: Float32Array }> {
    return (await this.tf()).activationsAndProba(x, n, layer);
  }

  async lossGradient(x: Float32Array, y: Int32Array): Promise<Float32Array> {
    return (await this.tf()).lossGradient(x, y);
  }
}
