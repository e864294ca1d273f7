/**
 * Text classifiers behind the {@link Classifier} interface, each a vectorizer fitted on the
 * training text plus a TF.js model on its vectors:
 *
 * - `'tfidf-logistic'`: TF-IDF features and multinomial logistic regression; its representation
 *   for detectors is the TF-IDF vector itself (layer `input_features`);
 * - `'tfidf-mlp'`: TF-IDF and a one-hidden-layer mlp (representation: its `features` layer);
 * - `'embedding-bag'`: a fastText-like model (Joulin, Grave, Bojanowski & Mikolov 2017, "Bag of
 *   Tricks for Efficient Text Classification", EACL): word embeddings averaged over the document,
 *   then a linear classifier. The average is computed as a bias-free dense layer (`embedding`,
 *   `dim` units) on the `'mean'` bag-of-words weights (tf / document length), which is exactly
 *   `mean_w E[w]` = PyTorch's `EmbeddingBag(mode='mean')`; its output is the representation.
 *
 * Training is seeded and goes through the engine's `fitModel` (same data, options and seed →
 * the same weights on the same backend).
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { type Dataset, numRecords } from '../data/dataset.js';
import {
  fitTextVectorizerOn,
  type TextVectorizer,
  type TextVectorizerOptions,
  vectorizeTextDataset,
  vectorizeTexts,
} from '../data/text-vectorize.js';
import { AntidoteError } from '../errors.js';
import { initEngine } from './backend.js';
import type { Classifier } from './classifier.js';
import { fitModel, type TrainHistory, type TrainOptions } from './train.js';
import { LOGITS_LAYER } from './zoo.js';

/** The text model kinds. */
export type TextModelKind = 'tfidf-logistic' | 'tfidf-mlp' | 'embedding-bag';

/** Every text model kind, for CLI choices. */
export const TEXT_MODEL_KINDS: readonly TextModelKind[] = Object.freeze([
  'tfidf-logistic',
  'tfidf-mlp',
  'embedding-bag',
]);

/** Name of the embedding-bag model's averaged-embedding layer (its representation). */
export const EMBEDDING_LAYER = 'embedding';

/** Options of {@link trainTextClassifier}. */
export interface TextModelOptions extends Omit<TrainOptions, 'model'> {
  /** Default `'tfidf-logistic'`. */
  readonly kind?: TextModelKind;
  /** Vectorizer options (embedding-bag forces `weighting: 'mean'`). */
  readonly vectorizer?: TextVectorizerOptions;
  /** embedding-bag: embedding width; default 64. */
  readonly embeddingDim?: number;
  /** tfidf-mlp: hidden sizes; default `[64]`. */
  readonly hidden?: readonly number[];
}

/** A model that maps a layer-indexed Keras model to the {@link Classifier} interface. */
export class LayersClassifier implements Classifier {
  readonly inputShape: readonly number[];
  readonly numClasses: number;
  readonly layerNames: readonly string[];
  private readonly subModels = new Map<string, tfl.LayersModel>();
  private disposed = false;

  constructor(
    /** The underlying TF.js model (outputs logits). */
    readonly model: tfl.LayersModel,
    /** Layer whose output is the default representation. */
    readonly defaultLayer: string,
  ) {
    this.inputShape = (model.inputs[0]!.shape as number[]).slice(1);
    this.numClasses = (model.outputs[0]!.shape as number[])[1]!;
    this.layerNames = model.layers.map((l) => l.name);
  }

  private batches(x: Float32Array, n: number, fn: (xb: tf.Tensor, from: number) => void): void {
    if (this.disposed)
      throw new AntidoteError('INVALID_STATE', 'this classifier has been disposed');
    const size = this.inputShape.reduce((a, b) => a * b, 1);
    if (!Number.isInteger(n) || n < 0 || x.length !== n * size) {
      throw new AntidoteError(
        'SHAPE_MISMATCH',
        `expected ${n} records of shape [${this.inputShape.join(', ')}] (${n * size} values), got ${x.length} values`,
      );
    }
    const batch = 512;
    for (let from = 0; from < n; from += batch) {
      const m = Math.min(batch, n - from);
      const xb = tf.tensor(x.subarray(from * size, (from + m) * size), [m, ...this.inputShape]);
      try {
        fn(xb, from);
      } finally {
        xb.dispose();
      }
    }
  }

  async predictProba(x: Float32Array, n: number): Promise<Float32Array> {
    const out = new Float32Array(n * this.numClasses);
    this.batches(x, n, (xb, from) => {
      const p = tf.tidy(() => tf.softmax(this.model.apply(xb) as tf.Tensor2D));
      out.set(p.dataSync(), from * this.numClasses);
      p.dispose();
    });
    return out;
  }

  async predict(x: Float32Array, n: number): Promise<Int32Array> {
    const out = new Int32Array(n);
    this.batches(x, n, (xb, from) => {
      const p = tf.tidy(() => tf.argMax(this.model.apply(xb) as tf.Tensor2D, 1));
      out.set(p.dataSync() as Int32Array, from);
      p.dispose();
    });
    return out;
  }

  async activations(
    x: Float32Array,
    n: number,
    layer: string = this.defaultLayer,
  ): Promise<{ data: Float32Array; dim: number }> {
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
    const s = sub;
    const dim = (s.outputs[0]!.shape as number[]).slice(1).reduce((a, b) => a * b, 1);
    const data = new Float32Array(n * dim);
    this.batches(x, n, (xb, from) => {
      const a = s.apply(xb) as tf.Tensor;
      data.set(a.dataSync() as Float32Array, from * dim);
      a.dispose();
    });
    return { data, dim };
  }

  /** Frees the weights. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.subModels.clear();
    this.model.dispose();
  }
}

/**
 * Builds the embedding-bag model: input `[V]` mean bag-of-words weights → `embedding` (dense,
 * `dim` units, no bias, Glorot-uniform seeded) → `logits` (dense, K).
 */
export function buildEmbeddingBagModel(
  vocabularySize: number,
  dim: number,
  numClasses: number,
  seed: number,
): tfl.LayersModel {
  for (const [v, name] of [
    [vocabularySize, 'vocabulary size'],
    [dim, 'embedding dim'],
  ] as const) {
    if (!Number.isInteger(v) || v < 1) {
      throw new AntidoteError('INVALID_ARGUMENT', `${name} must be a positive integer, got ${v}`);
    }
  }
  if (!Number.isInteger(numClasses) || numClasses < 2) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `a classifier needs ≥ 2 classes, got ${numClasses}`,
    );
  }
  const model = tfl.sequential({ name: 'embedding_bag' });
  model.add(
    tfl.layers.dense({
      inputShape: [vocabularySize],
      units: dim,
      useBias: false,
      name: EMBEDDING_LAYER,
      kernelInitializer: tfl.initializers.glorotUniform({ seed: seed >>> 0 }),
    }),
  );
  model.add(
    tfl.layers.dense({
      units: numClasses,
      name: LOGITS_LAYER,
      kernelInitializer: tfl.initializers.glorotUniform({ seed: (seed + 1) >>> 0 }),
      biasInitializer: 'zeros',
    }),
  );
  return model;
}

/** Name of the dense models' input layer (an identity: the representation of logistic models). */
export const INPUT_FEATURES_LAYER = 'input_features';

/**
 * A dense classifier on `[D]` vectors, with the zoo's layer names: `input_features` (identity)
 * → `hidden1`…, the last hidden layer `features` (relu) → `logits`. No hidden sizes gives
 * multinomial logistic regression. Seeded Glorot-uniform initialisation. (The zoo's models
 * start with a `flatten` layer, which TF.js refuses on rank-1 records, hence this builder.)
 */
export function buildDenseModel(
  inputDim: number,
  hidden: readonly number[],
  numClasses: number,
  seed: number,
): tfl.LayersModel {
  if (!Number.isInteger(inputDim) || inputDim < 1) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `input dimension must be a positive integer, got ${inputDim}`,
    );
  }
  if (!Number.isInteger(numClasses) || numClasses < 2) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `a classifier needs ≥ 2 classes, got ${numClasses}`,
    );
  }
  for (const h of hidden) {
    if (!Number.isInteger(h) || h < 1 || h > 65536) {
      throw new AntidoteError(
        'INVALID_ARGUMENT',
        `hidden sizes must be integers in [1, 65536], got ${h}`,
      );
    }
  }
  let s = seed >>> 0;
  const model = tfl.sequential({ name: hidden.length ? 'mlp' : 'logistic' });
  model.add(
    tfl.layers.activation({
      activation: 'linear',
      inputShape: [inputDim],
      name: INPUT_FEATURES_LAYER,
    }),
  );
  hidden.forEach((h, i) => {
    model.add(
      tfl.layers.dense({
        units: h,
        activation: 'relu',
        name: i === hidden.length - 1 ? 'features' : `hidden${i + 1}`,
        kernelInitializer: tfl.initializers.glorotUniform({ seed: s++ }),
        biasInitializer: 'zeros',
      }),
    );
  });
  model.add(
    tfl.layers.dense({
      units: numClasses,
      name: LOGITS_LAYER,
      kernelInitializer: tfl.initializers.glorotUniform({ seed: s++ }),
      biasInitializer: 'zeros',
    }),
  );
  return model;
}

/** The representation layer of a dense model: the one before `logits`. */
export function denseDefaultLayer(model: tfl.LayersModel): string {
  const names = model.layers.map((l) => l.name);
  return names[Math.max(names.indexOf(LOGITS_LAYER), 1) - 1]!;
}

/** A trained text model: its vectorizer and the classifier over the vectors. */
export class TextClassifier {
  constructor(
    readonly kind: TextModelKind,
    readonly vectorizer: TextVectorizer,
    /** The model over vectorized text (what detectors and metrics are given). */
    readonly classifier: Classifier & { dispose(): void },
    readonly history: TrainHistory | undefined,
  ) {}

  /** `ds` (a text dataset) vectorized for {@link TextClassifier.classifier}. */
  featurize(ds: Dataset): Dataset {
    return vectorizeTextDataset(ds, this.vectorizer);
  }

  /** Predicted class of each text. */
  async predictTexts(texts: readonly string[]): Promise<Int32Array> {
    return this.classifier.predict(vectorizeTexts(this.vectorizer, texts), texts.length);
  }

  /** Class probabilities of each text, `[n, K]`. */
  async predictProbaTexts(texts: readonly string[]): Promise<Float32Array> {
    return this.classifier.predictProba(vectorizeTexts(this.vectorizer, texts), texts.length);
  }

  /** Logits of each text (the model's output before softmax), `[n, K]`. */
  async predictLogitsTexts(texts: readonly string[]): Promise<Float32Array> {
    const x = vectorizeTexts(this.vectorizer, texts);
    return (await this.classifier.activations(x, texts.length, LOGITS_LAYER)).data;
  }

  dispose(): void {
    this.classifier.dispose();
  }
}

/**
 * Trains a text model on the text dataset `train` (the vectorizer is fitted on `train` only).
 * Defaults per kind: tfidf-* learning rate 0.01, embedding-bag 0.005; 10 epochs; batch 32.
 */
export async function trainTextClassifier(
  train: Dataset,
  options: TextModelOptions,
): Promise<TextClassifier> {
  const kind = options.kind ?? 'tfidf-logistic';
  if (!TEXT_MODEL_KINDS.includes(kind)) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `text model kind must be one of ${TEXT_MODEL_KINDS.join(', ')}, got ${kind}`,
      { field: 'kind' },
    );
  }
  if (numRecords(train) === 0) {
    throw new AntidoteError('INVALID_ARGUMENT', 'cannot train on an empty dataset');
  }
  await initEngine();
  const vectorizer = fitTextVectorizerOn(train, {
    ...options.vectorizer,
    ...(kind === 'embedding-bag' ? { weighting: 'mean' as const } : {}),
  });
  const ds = vectorizeTextDataset(train, vectorizer);
  const { kind: _k, vectorizer: _v, embeddingDim, hidden, ...rest } = options;
  const train_: Omit<TrainOptions, 'model'> = {
    epochs: 10,
    batchSize: 32,
    learningRate: kind === 'embedding-bag' ? 0.005 : 0.01,
    ...rest,
  };
  if (kind === 'embedding-bag') {
    const model = buildEmbeddingBagModel(
      vectorizer.vocabulary.length,
      embeddingDim ?? 64,
      train.classes.length,
      options.seed,
    );
    const classifier = new LayersClassifier(model, EMBEDDING_LAYER);
    try {
      const history = await fitModel(model, ds, train.classes.length, train_);
      return new TextClassifier(kind, vectorizer, classifier, history);
    } catch (e) {
      classifier.dispose();
      throw e;
    }
  }
  const model = buildDenseModel(
    vectorizer.vocabulary.length,
    kind === 'tfidf-mlp' ? (hidden ?? [64]) : [],
    train.classes.length,
    options.seed,
  );
  const classifier = new LayersClassifier(model, denseDefaultLayer(model));
  try {
    const history = await fitModel(model, ds, train.classes.length, train_);
    return new TextClassifier(kind, vectorizer, classifier, history);
  } catch (e) {
    classifier.dispose();
    throw e;
  }
}
