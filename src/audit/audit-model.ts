import { type Dataset, recordShape } from '../data/dataset.js';
import type { LoadedDataset } from '../data/load.js';
import type { Classifier } from '../engine/classifier.js';
import type { AnyModel } from '../engine/model.js';
import { TfClassifier, trainClassifier } from '../engine/tf-classifier.js';
import type { ArchName } from '../engine/zoo.js';
import { AntidoteError } from '../errors.js';
import { type AuditProgressCallback, startStage } from './progress.js';

/** The model an audit reads, and the records as that model reads them. */
export interface AuditModel {
  /** `image` for zoo models (any feature array), else the text or tabular model's domain. */
  readonly domain: AnyModel['domain'];
  /** The records in the model's input space (feature vectors for text and tabular models). */
  readonly features: Dataset;
  /** What the detectors are given (a text or tabular model's classifier over its features). */
  readonly classifier: Classifier;
  /**
   * The zoo architecture the vulnerability simulation trains as the victim; undefined where the
   * simulation cannot train a model like this one (text and tabular models).
   */
  readonly victimArch?: ArchName;
  /** Whether the audit trained the model (and so disposes of it). */
  readonly trainedHere: boolean;
  /** How the report names the model. */
  readonly description: string;
  /** Releases the model if the audit trained it (a given model is the caller's). */
  dispose(): void;
}

/** Options of {@link auditModel}. */
export interface AuditModelOptions {
  /** A model trained on the data: an image (zoo) model, or any kind of `engine/model`. */
  readonly model?: TfClassifier | AnyModel | undefined;
  /** Training of a model when none is given (default: cnn for images, else mlp). */
  readonly train?: { model?: ArchName; epochs?: number } | undefined;
  readonly seed: number;
  readonly onProgress?: AuditProgressCallback | undefined;
}

/** `INVALID_ARGUMENT` unless the records are numeric features a zoo model reads. */
function checkNumeric(data: LoadedDataset): void {
  const ds = data.dataset;
  if (ds.shape.length < 2 || recordShape(ds).reduce((a, b) => a * b, 1) === 0) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `${data.spec} has no numeric features (a text dataset?): give a text model (--model) or vectorise it first`,
    );
  }
}

/** A zoo model given or trained (seeded) on numeric features. */
async function zooModel(
  data: LoadedDataset,
  given: TfClassifier | undefined,
  o: AuditModelOptions,
): Promise<AuditModel> {
  checkNumeric(data);
  const ds = data.dataset;
  const arch: ArchName = o.train?.model ?? (recordShape(ds).length === 3 ? 'cnn' : 'mlp');
  const base = { domain: 'image' as const, features: ds, victimArch: arch };
  if (given) {
    return { ...base, classifier: given, trainedHere: false, description: 'given', dispose() {} };
  }
  const s = startStage(o.onProgress, 'train', `train ${arch}`);
  const model = await trainClassifier(ds, {
    model: arch,
    seed: o.seed,
    // Small datasets get more passes so the representations mean something (~20k samples).
    epochs: o.train?.epochs ?? Math.min(20, Math.max(2, Math.ceil(20_000 / ds.y.length))),
    onProgress: s.train,
  });
  return {
    ...base,
    classifier: model,
    trainedHere: true,
    description: `${arch} trained by the audit`,
    dispose: () => model.dispose(),
  };
}

/**
 * The audit's model stage: the given model, or one trained on the data (seeded). An image (zoo)
 * model reads the records as they are; a text or tabular model reads them through its featurizer
 * (fitted vectorizer or preprocessor), and the detectors scan its classifier's representations
 * of those feature vectors. `INVALID_ARGUMENT` when the records cannot be read so.
 */
export async function auditModel(data: LoadedDataset, o: AuditModelOptions): Promise<AuditModel> {
  const m = o.model;
  if (m === undefined || m instanceof TfClassifier) return zooModel(data, m, o);
  if (m.domain === 'image') return zooModel(data, m.model, o);
  const features = m.model.featurize(data.dataset);
  return {
    domain: m.domain,
    features,
    classifier: m.model.classifier,
    trainedHere: false,
    description: `given (${m.domain} model ${m.model.kind})`,
    dispose() {},
  };
}
