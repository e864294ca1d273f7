/**
 * Text and tabular models as one saved unit: the TF.js model over feature vectors plus what turns
 * raw records into those vectors (the fitted text vectorizer, or the fitted tabular
 * preprocessor with its column schema), its kind and its class names.
 *
 * A model directory follows the image models' layout (`model-io.ts`), so manifests, signatures
 * and the registry treat both alike:
 *
 * ```
 * DIR/model.json         TF.js layers model; `antidote` holds the metadata below
 * DIR/weights.bin        the weights
 * DIR/vectorizer.json    text models: the fitted TextVectorizer
 * DIR/preprocessor.json  tabular models: the fitted TabularPreprocessor (columns included)
 * ```
 *
 * The metadata names the featurizer file and its SHA-256, so a vectorizer from another model is
 * refused rather than silently misread. Everything is written in one atomic step.
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type * as tfl from '@tensorflow/tfjs-layers';
import { z } from 'zod';
import { type Dataset, numRecords } from '../data/dataset.js';
import type { TabularColumn } from '../data/datasets/tabular.js';
import { parseTabularColumns, TabularColumnsSchema } from '../data/load.js';
import {
  type TextVectorizer,
  type TextVectorizerOptions,
  textVectorizerFromJSON,
  vectorizeTextDataset,
  vectorizeTexts,
} from '../data/text-vectorize.js';
import type { TokenizerOptions } from '../data/tokenizer.js';
import { AntidoteError } from '../errors.js';
import { readBytes } from '../util/fs.js';
import { parseWith } from '../util/schema.js';
import { activeBackend, initEngine } from './backend.js';
import { loadLayersModel, MODEL_JSON, saveLayersModel } from './model-io.js';
import { FEATURE_MODEL_FORMAT } from './model-summary.js';
import { type TabularPreprocessor, trainTabularClassifier, transformTabular } from './tabular.js';
import {
  buildDenseModel,
  buildEmbeddingBagModel,
  denseDefaultLayer,
  EMBEDDING_LAYER,
  LayersClassifier,
  TEXT_MODEL_KINDS,
  type TextModelKind,
  trainTextClassifier,
} from './text-models.js';
import { fitModel, type TrainHistory, type TrainOptions } from './train.js';
import { LOGITS_LAYER } from './zoo.js';

/** What a feature model reads: raw text, or tabular rows with a column schema. */
export type FeatureDomain = 'text' | 'tabular';

/** The tabular model kinds. */
export type TabularModelKind = 'logistic' | 'mlp';

/** Every tabular model kind, for CLI choices. */
export const TABULAR_MODEL_KINDS: readonly TabularModelKind[] = Object.freeze(['logistic', 'mlp']);

/** A text or tabular model kind. */
export type FeatureModelKind = TextModelKind | TabularModelKind;

/** File of a text model's fitted vectorizer. */
export const VECTORIZER_FILE = 'vectorizer.json';
/** File of a tabular model's fitted preprocessor. */
export const PREPROCESSOR_FILE = 'preprocessor.json';

/** What Antidote stores about a feature model next to its weights (model.json → `antidote`). */
export interface FeatureModelMetadata {
  readonly format: typeof FEATURE_MODEL_FORMAT;
  readonly version: 1;
  readonly domain: FeatureDomain;
  readonly kind: FeatureModelKind;
  /** Architecture as registries read it (`spec.arch` is the kind) plus its sizes. */
  readonly spec: {
    readonly arch: FeatureModelKind;
    readonly hidden?: readonly number[];
    readonly embeddingDim?: number;
  };
  /** Shape of one feature vector, `[D]`. */
  readonly inputShape: readonly number[];
  readonly classes: readonly string[];
  /** The layer detectors read by default (the representation). */
  readonly representationLayer: string;
  /** The featurizer file and the SHA-256 (hex) of its bytes. */
  readonly featurizer: { readonly file: string; readonly sha256: string };
  /** Training runs that produced the weights (seed, options, history). */
  readonly training: ReadonlyArray<Record<string, unknown>>;
}

const metadataSchema = z.object({
  format: z.literal(FEATURE_MODEL_FORMAT),
  version: z.literal(1),
  domain: z.enum(['text', 'tabular']),
  kind: z.enum([...TEXT_MODEL_KINDS, ...TABULAR_MODEL_KINDS] as [string, ...string[]]),
  spec: z.object({
    arch: z.string(),
    hidden: z.array(z.number().int().positive()).optional(),
    embeddingDim: z.number().int().positive().optional(),
  }),
  inputShape: z.array(z.number().int().positive()).length(1),
  classes: z.array(z.string()).min(2),
  representationLayer: z.string().min(1),
  featurizer: z.object({
    file: z.enum([VECTORIZER_FILE, PREPROCESSOR_FILE]),
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
  }),
  training: z.array(z.record(z.string(), z.unknown())),
});

const preprocessorSchema = z
  .object({
    format: z.literal('antidote-tabular-preprocessor'),
    version: z.literal(1),
    columns: TabularColumnsSchema,
    mean: z.array(z.number()),
    std: z.array(z.number().positive()),
    features: z.array(z.string()),
  })
  .strict();

/**
 * Parses a tabular preprocessor saved as JSON. `INVALID_FORMAT` naming `where` and the field when
 * it is not one (two columns of one name, or a level twice in a column, included);
 * `SHAPE_MISMATCH` when its statistics or feature names do not match its columns.
 */
export function tabularPreprocessorFromJSON(
  json: unknown,
  where = 'preprocessor',
): TabularPreprocessor {
  const p = parseWith(preprocessorSchema, json, where, {
    head: `${where}: not a tabular preprocessor`,
    root: 'value',
  });
  // Distinct column names and levels, as for a dataset's schema.
  parseTabularColumns(p.columns, `${where} (columns)`);
  const d = p.columns.length;
  const f = p.columns.reduce((s, c) => s + (c.kind === 'categorical' ? c.levels.length : 1), 0);
  if (p.mean.length !== d || p.std.length !== d || p.features.length !== f) {
    throw new AntidoteError(
      'SHAPE_MISMATCH',
      `${where}: ${d} columns (${f} features) but ${p.mean.length} means, ${p.std.length} standard deviations and ${p.features.length} feature names`,
      { path: where },
    );
  }
  return p as TabularPreprocessor;
}

/** The fitted step from raw records to feature vectors. */
export type Featurizer =
  | { readonly domain: 'text'; readonly vectorizer: TextVectorizer }
  | { readonly domain: 'tabular'; readonly preprocessor: TabularPreprocessor };

/** Options of {@link trainFeatureModel}. */
export interface FeatureTrainOptions extends Omit<TrainOptions, 'model'> {
  /** Text: `tfidf-logistic` (default), `tfidf-mlp`, `embedding-bag`; tabular: `logistic` (default), `mlp`. */
  readonly kind?: FeatureModelKind;
  /** mlp / tfidf-mlp: hidden sizes (defaults `[32]` tabular, `[64]` text). */
  readonly hidden?: readonly number[];
  /** embedding-bag: embedding width; default 64. */
  readonly embeddingDim?: number;
  /** Text: vectorizer options. */
  readonly vectorizer?: TextVectorizerOptions;
}

/** Raw training records: a text dataset, or tabular rows with their `columns`. */
export interface FeatureTrainData {
  readonly dataset: Dataset;
  /** Present for tabular data (its presence selects the tabular models). */
  readonly columns?: readonly TabularColumn[];
}

function sha256Hex(bytes: string | Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * A trained text or tabular model: its featurizer and the {@link LayersClassifier} over the
 * feature vectors. Predicts raw records, hands detectors the records in feature space
 * ({@link FeatureModel.featurize}) and the classifier, and saves / loads as a model directory.
 */
export class FeatureModel {
  private disposed = false;

  private constructor(
    readonly domain: FeatureDomain,
    readonly kind: FeatureModelKind,
    /** The model over feature vectors (what representation-based detectors are given). */
    readonly classifier: LayersClassifier,
    readonly classes: readonly string[],
    readonly featurizer: Featurizer,
    readonly spec: FeatureModelMetadata['spec'],
    private readonly trainingRuns: ReadonlyArray<Record<string, unknown>>,
    /** History of the training run of this process (undefined for a loaded model). */
    readonly history: TrainHistory | undefined,
  ) {}

  /** The metadata stored with the model (`featurizer.sha256` is that of the bytes it saves). */
  get metadata(): FeatureModelMetadata {
    return {
      format: FEATURE_MODEL_FORMAT,
      version: 1,
      domain: this.domain,
      kind: this.kind,
      spec: this.spec,
      inputShape: [...this.classifier.inputShape],
      classes: [...this.classes],
      representationLayer: this.classifier.defaultLayer,
      featurizer: {
        file: this.domain === 'text' ? VECTORIZER_FILE : PREPROCESSOR_FILE,
        sha256: sha256Hex(this.featurizerBytes()),
      },
      training: [...this.trainingRuns],
    };
  }

  /** Training runs that produced the weights. */
  get training(): ReadonlyArray<Record<string, unknown>> {
    return this.trainingRuns;
  }

  /** The column schema of a tabular model (undefined for text). */
  get columns(): readonly TabularColumn[] | undefined {
    return this.featurizer.domain === 'tabular' ? this.featurizer.preprocessor.columns : undefined;
  }

  /** The tokenizer of a text model (undefined for tabular), e.g. for keyword discovery. */
  get tokenizer(): TokenizerOptions | undefined {
    return this.featurizer.domain === 'text' ? this.featurizer.vectorizer.tokenizer : undefined;
  }

  private featurizerBytes(): string {
    const f = this.featurizer;
    return `${JSON.stringify(f.domain === 'text' ? f.vectorizer : f.preprocessor)}\n`;
  }

  private checkAlive(): void {
    if (this.disposed) throw new AntidoteError('INVALID_STATE', 'this model has been disposed');
  }

  /**
   * Raw records in the model's feature space (`[N, D]`; labels, ids, sources, text kept).
   * `INVALID_ARGUMENT` for a text model given records without text; `SHAPE_MISMATCH` for tabular
   * rows that do not match the model's columns.
   */
  featurize(ds: Dataset): Dataset {
    this.checkAlive();
    const f = this.featurizer;
    if (f.domain === 'text') {
      if (!ds.text) {
        throw new AntidoteError(
          'INVALID_ARGUMENT',
          'this is a text model but the dataset has no text records',
        );
      }
      return vectorizeTextDataset(ds, f.vectorizer);
    }
    if (ds.text && (ds.shape.length !== 2 || ds.shape[1] === 0)) {
      throw new AntidoteError(
        'INVALID_ARGUMENT',
        'this is a tabular model but the dataset holds text records',
      );
    }
    return transformTabular(f.preprocessor, ds);
  }

  /** Class probabilities of raw records, `[N, K]`. */
  async predictProbaRaw(ds: Dataset): Promise<Float32Array> {
    const f = this.featurize(ds);
    return this.classifier.predictProba(f.x, numRecords(f));
  }

  /** Predicted class of each raw record. */
  async predictRaw(ds: Dataset): Promise<Int32Array> {
    const f = this.featurize(ds);
    return this.classifier.predict(f.x, numRecords(f));
  }

  /** Class probabilities of texts, `[n, K]` (text models; `INVALID_ARGUMENT` otherwise). */
  async predictProbaTexts(texts: readonly string[]): Promise<Float32Array> {
    return this.classifier.predictProba(this.textFeatures(texts), texts.length);
  }

  /** Logits of texts (before softmax), `[n, K]` (text models; `INVALID_ARGUMENT` otherwise). */
  async predictLogitsTexts(texts: readonly string[]): Promise<Float32Array> {
    const x = this.textFeatures(texts);
    return (await this.classifier.activations(x, texts.length, LOGITS_LAYER)).data;
  }

  /** Texts as this model's feature vectors; `INVALID_ARGUMENT` for a tabular model. */
  private textFeatures(texts: readonly string[]): Float32Array {
    this.checkAlive();
    if (this.featurizer.domain !== 'text') {
      throw new AntidoteError('INVALID_ARGUMENT', 'this is a tabular model: it does not read text');
    }
    return vectorizeTexts(this.featurizer.vectorizer, texts);
  }

  /**
   * A fresh classifier of this model's architecture trained on records already in its feature
   * space (e.g. cross-validation folds of a detector), with this model's recorded training
   * options unless overridden.
   */
  async trainLike(
    features: Dataset,
    options: Omit<TrainOptions, 'model'>,
  ): Promise<LayersClassifier> {
    this.checkAlive();
    await initEngine();
    // One-dimensional by construction (checked when loading).
    const d = this.classifier.inputShape[0]!;
    if (features.shape.length !== 2 || features.shape[1] !== d) {
      throw new AntidoteError(
        'SHAPE_MISMATCH',
        `the model reads [N, ${d}] feature vectors, got [${features.shape.join(', ')}]`,
      );
    }
    const k = this.classes.length;
    const model: tfl.LayersModel =
      this.kind === 'embedding-bag'
        ? buildEmbeddingBagModel(d, this.spec.embeddingDim ?? 64, k, options.seed)
        : buildDenseModel(d, this.spec.hidden ?? [], k, options.seed);
    const classifier = new LayersClassifier(
      model,
      this.kind === 'embedding-bag' ? EMBEDDING_LAYER : denseDefaultLayer(model),
    );
    const last = this.trainingRuns[this.trainingRuns.length - 1] ?? {};
    const num = (v: unknown) => (typeof v === 'number' ? v : undefined);
    try {
      await fitModel(model, features, k, {
        ...(num(last.epochs) !== undefined ? { epochs: num(last.epochs) } : {}),
        ...(num(last.batchSize) !== undefined ? { batchSize: num(last.batchSize) } : {}),
        ...(num(last.learningRate) !== undefined ? { learningRate: num(last.learningRate) } : {}),
        ...options,
      });
      return classifier;
    } catch (e) {
      classifier.dispose();
      throw e;
    }
  }

  /**
   * Saves the model directory (`model.json`, `weights.bin`, and `vectorizer.json` or
   * `preprocessor.json`) atomically; `ALREADY_EXISTS` unless `overwrite`.
   */
  async save(dir: string, options: { overwrite?: boolean } = {}): Promise<void> {
    this.checkAlive();
    const meta = this.metadata;
    await saveLayersModel(
      this.classifier.model,
      dir,
      { ...meta },
      {
        overwrite: options.overwrite ?? false,
        files: { [meta.featurizer.file]: this.featurizerBytes() },
      },
    );
  }

  /**
   * Loads a model saved by {@link FeatureModel.save}. Errors (each naming the file):
   * `NOT_FOUND` for a missing file; `INVALID_FORMAT` for malformed JSON, metadata (a spec that
   * does not describe the kind included) or featurizer, or an image model's directory;
   * `INTEGRITY_MISMATCH` when the featurizer file is not the one the model was saved with;
   * `SHAPE_MISMATCH` when the featurizer, the weights and the classes disagree on sizes.
   */
  static async load(dir: string): Promise<FeatureModel> {
    await initEngine();
    const { model, metadata } = await loadLayersModel(dir);
    try {
      const jsonPath = join(dir, MODEL_JSON);
      if (metadata.format !== FEATURE_MODEL_FORMAT) {
        throw new AntidoteError(
          'INVALID_FORMAT',
          `${jsonPath} is not a text or tabular model (antidote.format is ${JSON.stringify(metadata.format)})`,
          { path: jsonPath },
        );
      }
      const m = parseWith(metadataSchema, metadata, jsonPath, {
        head: `${jsonPath} has no valid Antidote metadata`,
        prefix: 'antidote.',
        root: '',
      });
      const isText = (TEXT_MODEL_KINDS as readonly string[]).includes(m.kind);
      const expectedFile = isText ? VECTORIZER_FILE : PREPROCESSOR_FILE;
      if ((m.domain === 'text') !== isText || m.featurizer.file !== expectedFile) {
        throw new AntidoteError(
          'INVALID_FORMAT',
          `${jsonPath}: a ${m.domain} model of kind ${m.kind} cannot use ${m.featurizer.file}`,
          { path: jsonPath },
        );
      }
      // trainLike rebuilds the architecture from the spec: it must describe this kind fully.
      const needs =
        m.kind === 'embedding-bag'
          ? 'embeddingDim'
          : m.kind === 'mlp' || m.kind === 'tfidf-mlp'
            ? 'hidden'
            : undefined;
      if (m.spec.arch !== m.kind || (needs && m.spec[needs] === undefined)) {
        throw new AntidoteError(
          'INVALID_FORMAT',
          `${jsonPath}: antidote.spec ${JSON.stringify(m.spec)} does not describe a ${m.kind} model${needs ? ` (arch ${m.kind} with ${needs})` : ''}`,
          { path: jsonPath },
        );
      }
      const path = join(dir, m.featurizer.file);
      const bytes = await readBytes(path, {
        message: (e) =>
          `cannot read ${path}: the ${m.domain} model's ${isText ? 'vectorizer' : 'preprocessor'} (${e.message})`,
      });
      const digest = sha256Hex(bytes);
      if (digest !== m.featurizer.sha256) {
        throw new AntidoteError(
          'INTEGRITY_MISMATCH',
          `${path} is not the ${isText ? 'vectorizer' : 'preprocessor'} this model was saved with (sha256 ${digest}, model.json records ${m.featurizer.sha256})`,
          { path },
        );
      }
      let json: unknown;
      try {
        json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
      } catch (e) {
        throw new AntidoteError(
          'INVALID_FORMAT',
          `${path} is not valid JSON: ${(e as Error).message}`,
          {
            path,
          },
        );
      }
      const featurizer: Featurizer = isText
        ? { domain: 'text', vectorizer: textVectorizerFromJSON(json, path) }
        : { domain: 'tabular', preprocessor: tabularPreprocessorFromJSON(json, path) };
      const width =
        featurizer.domain === 'text'
          ? featurizer.vectorizer.vocabulary.length
          : featurizer.preprocessor.features.length;
      const inputShape = (model.inputs[0]!.shape as number[]).slice(1);
      const outUnits = (model.outputs[0]!.shape as number[])[1];
      if (inputShape.length !== 1 || inputShape[0] !== width || m.inputShape[0] !== width) {
        throw new AntidoteError(
          'SHAPE_MISMATCH',
          `${dir}: the model reads [${inputShape.join(', ')}] vectors (metadata: [${m.inputShape.join(', ')}]) but ${m.featurizer.file} produces ${width} features`,
          { path: dir },
        );
      }
      if (outUnits !== m.classes.length) {
        throw new AntidoteError(
          'SHAPE_MISMATCH',
          `${dir}: the model outputs ${outUnits} classes but its metadata names ${m.classes.length}`,
          { path: dir },
        );
      }
      if (!model.layers.some((l) => l.name === m.representationLayer)) {
        throw new AntidoteError(
          'INVALID_FORMAT',
          `${jsonPath}: the representation layer "${m.representationLayer}" is not in the model`,
          { path: jsonPath },
        );
      }
      return new FeatureModel(
        m.domain,
        m.kind as FeatureModelKind,
        new LayersClassifier(model, m.representationLayer),
        m.classes,
        featurizer,
        {
          arch: m.kind as FeatureModelKind,
          ...(m.spec.hidden ? { hidden: m.spec.hidden } : {}),
          ...(m.spec.embeddingDim ? { embeddingDim: m.spec.embeddingDim } : {}),
        },
        m.training,
        undefined,
      );
    } catch (e) {
      model.dispose();
      throw e;
    }
  }

  /**
   * Trains a text or tabular model (see {@link trainFeatureModel}); the constructor is private
   * so that every model carries a consistent featurizer and metadata.
   */
  static async train(data: FeatureTrainData, options: FeatureTrainOptions): Promise<FeatureModel> {
    const { dataset, columns } = data;
    const domain: FeatureDomain = columns ? 'tabular' : 'text';
    const kind = options.kind ?? (domain === 'text' ? 'tfidf-logistic' : 'logistic');
    const allowed: readonly string[] = domain === 'text' ? TEXT_MODEL_KINDS : TABULAR_MODEL_KINDS;
    if (!allowed.includes(kind)) {
      throw new AntidoteError(
        'INVALID_ARGUMENT',
        `${kind} is not a ${domain} model: ${domain} data takes ${allowed.join(', ')}`,
        { field: 'kind' },
      );
    }
    if (domain === 'text' && !dataset.text) {
      throw new AntidoteError('INVALID_ARGUMENT', 'a text model needs text records');
    }
    const {
      kind: _kind,
      hidden,
      embeddingDim,
      vectorizer: vectorizerOptions,
      onProgress,
      ...train
    } = options;
    const resolved = {
      ...train,
      epochs: train.epochs ?? (domain === 'text' ? 10 : 30),
      batchSize: train.batchSize ?? 32,
      learningRate: train.learningRate ?? (kind === 'embedding-bag' ? 0.005 : 0.01),
    };
    const fit = { ...resolved, ...(onProgress ? { onProgress } : {}) };
    const spec: FeatureModelMetadata['spec'] =
      kind === 'embedding-bag'
        ? { arch: kind, embeddingDim: embeddingDim ?? 64 }
        : kind === 'tfidf-mlp'
          ? { arch: kind, hidden: [...(hidden ?? [64])] }
          : kind === 'mlp'
            ? { arch: kind, hidden: [...(hidden ?? [32])] }
            : { arch: kind };
    const record = (history: TrainHistory): Record<string, unknown> => ({
      ...resolved,
      ...(vectorizerOptions ? { vectorizer: { ...vectorizerOptions } } : {}),
      backend: activeBackend(),
      records: numRecords(dataset),
      history: history.epochs,
      bestEpoch: history.bestEpoch,
      stoppedEarly: history.stoppedEarly,
    });
    if (domain === 'text') {
      const m = await trainTextClassifier(dataset, {
        ...fit,
        kind: kind as TextModelKind,
        ...(vectorizerOptions ? { vectorizer: vectorizerOptions } : {}),
        ...(spec.hidden ? { hidden: spec.hidden } : {}),
        ...(spec.embeddingDim ? { embeddingDim: spec.embeddingDim } : {}),
      });
      return new FeatureModel(
        'text',
        kind,
        m.classifier as LayersClassifier,
        dataset.classes,
        { domain: 'text', vectorizer: m.vectorizer },
        spec,
        [record(m.history!)],
        m.history,
      );
    }
    const m = await trainTabularClassifier(
      { dataset, columns: columns! },
      {
        ...fit,
        model: kind as TabularModelKind,
        ...(spec.hidden ? { hidden: spec.hidden } : {}),
      },
    );
    return new FeatureModel(
      'tabular',
      kind,
      m.classifier,
      dataset.classes,
      { domain: 'tabular', preprocessor: m.preprocessor },
      spec,
      [record(m.history)],
      m.history,
    );
  }

  /** Frees the weights. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.classifier.dispose();
  }
}

/**
 * Trains a text model (`data.dataset` has text; kinds `tfidf-logistic` (default), `tfidf-mlp`,
 * `embedding-bag`) or a tabular one (`data.columns` given; `logistic` (default), `mlp`), the
 * featurizer fitted on `data` only. Defaults: text 10 epochs, tabular 30; batch 32; learning
 * rate 0.01 (embedding-bag 0.005). A kind of the other domain is `INVALID_ARGUMENT`.
 */
export function trainFeatureModel(
  data: FeatureTrainData,
  options: FeatureTrainOptions,
): Promise<FeatureModel> {
  return FeatureModel.train(data, options);
}

/** What a model directory holds: an image (zoo) model, or a text or tabular model. */
export type { ModelDomain } from './model-interface.js';
// Read without TF.js in model-summary.ts; re-exported here.
export { FEATURE_MODEL_FORMAT, modelDomain } from './model-summary.js';
