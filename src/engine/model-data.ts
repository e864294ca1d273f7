/**
 * Whether a model reads a dataset: the record kind (text, tabular rows, images and feature
 * arrays), the classes and a tabular model's columns, with errors that say what to train
 * instead; and the `meta` that keeps a derived dataset readable the same way.
 */
import type { TabularColumn } from '../data/datasets/tabular.js';
import { type DataDomain, dataDomain, type LoadedDataset, tabularMeta } from '../data/load.js';
import { AntidoteError } from '../errors.js';
import type { Model, ModelDomain } from './model-interface.js';

/** What the checks need to know about a model. */
interface Reader {
  readonly domain: ModelDomain;
  readonly classes: readonly string[];
  readonly columns: readonly TabularColumn[] | undefined;
}

function readerOf(m: Model): Reader {
  return {
    domain: m.domain,
    classes: m.classes,
    columns: m.input.kind === 'tabular' ? m.input.columns : undefined,
  };
}

const DOMAIN_WORDS: Record<DataDomain, string> = {
  text: 'text records',
  tabular: 'tabular records (with a column schema)',
  features: 'images or feature arrays without a column schema',
};

/** True when `model` can read the records of `loaded` (see {@link checkModelReadsData}). */
function reads(model: Reader, loaded: LoadedDataset): boolean {
  const data = dataDomain(loaded);
  if (model.domain === 'text') return data === 'text';
  // Zoo models read raw feature arrays; a column schema does not get in their way.
  if (model.domain === 'image') return data !== 'text';
  if (data === 'tabular') return true;
  const shape = loaded.dataset.shape;
  return data === 'features' && shape.length === 2 && shape[1] === model.columns?.length;
}

/**
 * The `INVALID_ARGUMENT` for a model of `domain` given records it cannot read, saying what to
 * train instead (e.g. an image model given text).
 */
export function modelDataMismatch(
  domain: ModelDomain,
  modelDir: string,
  loaded: LoadedDataset,
): AntidoteError {
  const data = dataDomain(loaded);
  const fix =
    data === 'text'
      ? 'train a text model on it (antidote train --model tfidf-logistic|tfidf-mlp|embedding-bag)'
      : data === 'tabular'
        ? 'train a tabular model on it (antidote train --model logistic|mlp)'
        : 'train an image model on it (antidote train --model cnn|mlp|logistic)';
  return new AntidoteError(
    'INVALID_ARGUMENT',
    `${modelDir} is ${domain === 'image' ? 'an image' : `a ${domain}`} model but ${loaded.spec} holds ${DOMAIN_WORDS[data]}: ${fix}`,
    { path: modelDir },
  );
}

/** Same names in the same order. */
function sameNames(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/**
 * Checks that a tabular model's columns are those of `data` (names in order, and the levels of
 * columns categorical in both), so that no column is read as another: `INVALID_ARGUMENT`.
 */
export function checkSameColumns(
  model: readonly TabularColumn[],
  modelDir: string,
  data: readonly TabularColumn[],
  dataSpec: string,
): void {
  const names = (cs: readonly TabularColumn[]) => cs.map((c) => c.name);
  if (!sameNames(names(model), names(data))) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `${modelDir} reads columns [${names(model).join(', ')}] but ${dataSpec} has [${names(data).join(', ')}]`,
      { path: modelDir },
    );
  }
  model.forEach((m, j) => {
    const d = data[j];
    if (m.kind === 'categorical' && d?.kind === 'categorical' && !sameNames(m.levels, d.levels)) {
      throw new AntidoteError(
        'INVALID_ARGUMENT',
        `column "${m.name}": ${modelDir} knows the levels [${m.levels.join(', ')}] but ${dataSpec} has [${d.levels.join(', ')}]`,
        { path: modelDir, field: m.name },
      );
    }
  });
}

/**
 * Checks that a model reads the kind of records `loaded` holds and names the same classes:
 * `INVALID_ARGUMENT` (e.g. an image model given text) with what to do instead. Image (zoo)
 * models read any feature array (tabular rows too); text models read text; tabular models read
 * tabular rows with their own columns (names in order; see {@link checkSameColumns}), or
 * schema-less `[N, D]` rows of their width.
 */
export function checkModelReadsData(m: Model, modelDir: string, loaded: LoadedDataset): void {
  const model = readerOf(m);
  if (!reads(model, loaded)) throw modelDataMismatch(model.domain, modelDir, loaded);
  if (model.domain === 'image') return;
  const a = model.classes;
  const b = loaded.dataset.classes;
  if (!sameNames(a, b)) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `${modelDir} predicts classes [${a.join(', ')}] but ${loaded.spec} has [${b.join(', ')}]`,
      { path: modelDir },
    );
  }
  if (model.domain === 'tabular' && loaded.columns) {
    checkSameColumns(model.columns ?? [], modelDir, loaded.columns, loaded.spec);
  }
}

/**
 * The `meta` a dataset directory derived from `loaded` keeps so that later commands read it the
 * same way (`type: 'text'`, or `type: 'tabular'` with the column schema).
 */
export function derivedMeta(loaded: LoadedDataset): Record<string, unknown> {
  const domain = dataDomain(loaded);
  if (domain === 'text') return { type: 'text' };
  if (domain === 'tabular') return tabularMeta(loaded.columns!);
  return {};
}
