/**
 * Tabular models: a preprocessor fitted on training data only (standardisation of numeric
 * columns with the training mean and standard deviation; one-hot encoding of categorical
 * columns with the levels of the schema), and logistic regression or an mlp on its output
 * (`buildDenseModel`, with the zoo's layer names).
 * Fitting the scaler on the training split only keeps test statistics out of the model (and,
 * in poisoning experiments, lets poison shift the scaler as it would in a real pipeline).
 */
import { type Dataset, numRecords, recordSize } from '../data/dataset.js';
import type { TabularColumn, TabularData } from '../data/datasets/tabular.js';
import { AntidoteError } from '../errors.js';
import { initEngine } from './backend.js';
import { buildDenseModel, denseDefaultLayer, LayersClassifier } from './text-models.js';
import type { TrainHistory, TrainOptions } from './train.js';
import { fitModel } from './train.js';

/** A fitted tabular preprocessor (plain JSON data). */
export interface TabularPreprocessor {
  readonly format: 'antidote-tabular-preprocessor';
  readonly version: 1;
  /** The input schema. */
  readonly columns: readonly TabularColumn[];
  /** Per input column: training mean (numeric) or 0 (categorical). */
  readonly mean: readonly number[];
  /** Per input column: training standard deviation (1 where it is 0 or categorical). */
  readonly std: readonly number[];
  /** Names of the output features (`col` or `col=level`). */
  readonly features: readonly string[];
}

/**
 * Fits the preprocessor on `train` (its records must match `columns`). Standard deviations are
 * the population ones; a constant column gets std 1 (it maps to 0).
 */
export function fitTabularPreprocessor(train: TabularData): TabularPreprocessor {
  const { dataset: ds, columns } = train;
  const d = recordSize(ds);
  if (ds.shape.length !== 2 || d !== columns.length) {
    throw new AntidoteError(
      'SHAPE_MISMATCH',
      `tabular records must be [N, ${columns.length}] to match the schema, got [${ds.shape.join(', ')}]`,
    );
  }
  const n = numRecords(ds);
  if (n === 0) throw new AntidoteError('INVALID_ARGUMENT', 'cannot fit on an empty dataset');
  const mean = new Array<number>(d).fill(0);
  const std = new Array<number>(d).fill(1);
  const features: string[] = [];
  columns.forEach((c, j) => {
    if (c.kind === 'categorical') {
      for (const l of c.levels) features.push(`${c.name}=${l}`);
      return;
    }
    features.push(c.name);
    let s = 0;
    for (let i = 0; i < n; i++) s += ds.x[i * d + j]!;
    const m = s / n;
    let v = 0;
    for (let i = 0; i < n; i++) v += (ds.x[i * d + j]! - m) ** 2;
    const sd = Math.sqrt(v / n);
    mean[j] = m;
    std[j] = sd > 1e-12 ? sd : 1;
  });
  return {
    format: 'antidote-tabular-preprocessor',
    version: 1,
    columns,
    mean,
    std,
    features,
  };
}

/**
 * `ds` encoded by `pre`: standardised numeric columns, one-hot categorical ones, `[N, F]`.
 * A categorical value that is not a level index is `INVALID_FORMAT` naming the record.
 */
export function transformTabular(pre: TabularPreprocessor, ds: Dataset): Dataset {
  const d = pre.columns.length;
  if (ds.shape.length !== 2 || ds.shape[1] !== d) {
    throw new AntidoteError(
      'SHAPE_MISMATCH',
      `the preprocessor expects [N, ${d}] records, got [${ds.shape.join(', ')}]`,
    );
  }
  const n = numRecords(ds);
  const f = pre.features.length;
  const x = new Float32Array(n * f);
  for (let i = 0; i < n; i++) {
    let o = i * f;
    for (let j = 0; j < d; j++) {
      const c = pre.columns[j]!;
      const v = ds.x[i * d + j]!;
      if (c.kind === 'numeric') {
        x[o++] = (v - pre.mean[j]!) / pre.std[j]!;
      } else {
        if (!Number.isInteger(v) || v < 0 || v >= c.levels.length) {
          throw new AntidoteError(
            'INVALID_FORMAT',
            `record ${i} (id ${ds.ids[i]}): column "${c.name}" holds ${v}, not a level index in [0, ${c.levels.length})`,
            { record: i, field: c.name },
          );
        }
        x[o + v] = 1;
        o += c.levels.length;
      }
    }
  }
  return {
    x,
    shape: [n, f],
    y: ds.y,
    classes: ds.classes,
    ids: ds.ids,
    ...(ds.source ? { source: ds.source } : {}),
  };
}

/** Options of {@link trainTabularClassifier}. */
export interface TabularModelOptions extends Omit<TrainOptions, 'model'> {
  /** Default `'logistic'`. */
  readonly model?: 'logistic' | 'mlp';
  /** mlp: hidden sizes; default `[32]`. */
  readonly hidden?: readonly number[];
}

/** A trained tabular model: its preprocessor and the classifier over the encoded records. */
export interface TabularClassifier {
  readonly preprocessor: TabularPreprocessor;
  readonly classifier: LayersClassifier;
  readonly history: TrainHistory;
  /** `ds` (raw records) encoded for {@link TabularClassifier.classifier}. */
  encode(ds: Dataset): Dataset;
  dispose(): void;
}

/**
 * Fits the preprocessor on `train` and trains the zoo model on the encoded records. Defaults:
 * 30 epochs, batch 32, learning rate 0.01.
 */
export async function trainTabularClassifier(
  train: TabularData,
  options: TabularModelOptions,
): Promise<TabularClassifier> {
  const pre = fitTabularPreprocessor(train);
  const encoded = transformTabular(pre, train.dataset);
  const { model: arch = 'logistic', hidden, ...rest } = options;
  if (arch !== 'logistic' && arch !== 'mlp') {
    throw new AntidoteError('INVALID_ARGUMENT', `tabular models are logistic or mlp, got ${arch}`, {
      field: 'model',
    });
  }
  await initEngine();
  const model = buildDenseModel(
    encoded.shape[1]!,
    arch === 'mlp' ? (hidden ?? [32]) : [],
    encoded.classes.length,
    options.seed,
  );
  const classifier = new LayersClassifier(model, denseDefaultLayer(model));
  try {
    const history = await fitModel(model, encoded, encoded.classes.length, {
      epochs: 30,
      batchSize: 32,
      learningRate: 0.01,
      ...rest,
    });
    return {
      preprocessor: pre,
      classifier,
      history,
      encode: (ds) => transformTabular(pre, ds),
      dispose: () => classifier.dispose(),
    };
  } catch (e) {
    classifier.dispose();
    throw e;
  }
}
