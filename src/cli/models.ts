import { type DataDomain, dataDomain, type LoadedDataset, tabularMeta } from '../data/load.js';
import { FeatureModel, modelDomain } from '../engine/feature-model-io.js';
import { TfClassifier } from '../engine/tf-classifier.js';
import { AntidoteError } from '../errors.js';

/** A loaded model directory: an image (zoo) model, or a text or tabular model. */
export type AnyModel =
  | { readonly domain: 'image'; readonly model: TfClassifier }
  | { readonly domain: 'text' | 'tabular'; readonly model: FeatureModel };

/** Loads a model directory of any kind (told apart by `model.json`'s metadata). */
export async function loadAnyModel(dir: string): Promise<AnyModel> {
  const domain = await modelDomain(dir);
  if (domain === 'image') return { domain, model: await TfClassifier.load(dir) };
  return { domain, model: await FeatureModel.load(dir) };
}

const DOMAIN_WORDS: Record<DataDomain, string> = {
  text: 'text records',
  tabular: 'tabular records (with a column schema)',
  features: 'images or feature arrays without a column schema',
};

/** True when `model` can read the records of `loaded` (see {@link checkModelReadsData}). */
function reads(model: AnyModel, loaded: LoadedDataset): boolean {
  const data = dataDomain(loaded);
  if (model.domain === 'text') return data === 'text';
  // Zoo models read raw feature arrays; a column schema does not get in their way.
  if (model.domain === 'image') return data !== 'text';
  if (data === 'tabular') return true;
  const shape = loaded.dataset.shape;
  return data === 'features' && shape.length === 2 && shape[1] === model.model.columns?.length;
}

/**
 * Checks that a model reads the kind of records `loaded` holds and names the same classes:
 * `INVALID_ARGUMENT` (e.g. an image model given text) with what to do instead. Image (zoo)
 * models read any feature array (tabular rows too); text models read text; tabular models read
 * tabular rows, or schema-less `[N, D]` rows of their width.
 */
export function checkModelReadsData(
  model: AnyModel,
  modelDir: string,
  loaded: LoadedDataset,
): void {
  const data = dataDomain(loaded);
  if (!reads(model, loaded)) {
    const fix =
      data === 'text'
        ? 'train a text model on it (antidote train --model tfidf-logistic|tfidf-mlp|embedding-bag)'
        : data === 'tabular'
          ? 'train a tabular model on it (antidote train --model logistic|mlp)'
          : 'train an image model on it (antidote train --model cnn|mlp|logistic)';
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `${modelDir} is ${model.domain === 'image' ? 'an image' : `a ${model.domain}`} model but ${loaded.spec} holds ${DOMAIN_WORDS[data]}: ${fix}`,
      { path: modelDir },
    );
  }
  if (model.domain !== 'image') {
    const a = model.model.classes;
    const b = loaded.dataset.classes;
    if (a.length !== b.length || a.some((c, i) => c !== b[i])) {
      throw new AntidoteError(
        'INVALID_ARGUMENT',
        `${modelDir} predicts classes [${a.join(', ')}] but ${loaded.spec} has [${b.join(', ')}]`,
        { path: modelDir },
      );
    }
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
