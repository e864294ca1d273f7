import { type Dataset, recordShape } from '../data/dataset.js';
import type { LoadedDataset } from '../data/load.js';
import type { Classifier } from '../engine/classifier.js';
import type { Model } from '../engine/model-interface.js';
import { TfClassifier, trainClassifier } from '../engine/tf-classifier.js';
import { TfImageModel } from '../engine/tf-image-model.js';
import type { ArchName } from '../engine/zoo.js';
import { AntidoteError } from '../errors.js';
import { type AuditProgressCallback, startStage } from './progress.js';

/** The model an audit reads, and the records as that model reads them. */
export interface AuditModel {
  /** The model (given, or trained by the audit), whatever its domain. */
  readonly model: Model;
  /**
   * Whether the model reads the records as they are (an image model, or one of the zoo's over
   * schema-less feature arrays); false where it reads them through a featurizer (text, tabular).
   */
  readonly readsRecords: boolean;
  /** The records in the model's input space (feature vectors for text and tabular models). */
  readonly features: Dataset;
  /** What the detectors are given (the model's classifier over {@link AuditModel.features}). */
  readonly classifier: Classifier;
  /**
   * The zoo architecture the vulnerability simulation trains as the victim; undefined where the
   * simulation cannot train a model like this one (models that do not read pixels: text, tabular).
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
  /**
   * A model trained on the data, of any domain (`engine/model`'s `loadModel`); a bare zoo
   * `TfClassifier` is read as an image model.
   */
  readonly model?: Model | TfClassifier | undefined;
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

/** The zoo architecture the audit trains on `ds` (`--train` first, else by record rank). */
function auditArch(ds: Dataset, o: AuditModelOptions): ArchName {
  return o.train?.model ?? (recordShape(ds).length === 3 ? 'cnn' : 'mlp');
}

/** A zoo model trained (seeded) on the numeric features of `data`. */
async function trainedModel(data: LoadedDataset, o: AuditModelOptions): Promise<AuditModel> {
  checkNumeric(data);
  const ds = data.dataset;
  const arch = auditArch(ds, o);
  const s = startStage(o.onProgress, 'train', `train ${arch}`);
  const tf = await trainClassifier(ds, {
    model: arch,
    seed: o.seed,
    // Small datasets get more passes so the representations mean something (~20k samples).
    epochs: o.train?.epochs ?? Math.min(20, Math.max(2, Math.ceil(20_000 / ds.y.length))),
    onProgress: s.train,
  });
  const model = new TfImageModel(tf);
  return {
    model,
    readsRecords: true,
    features: ds,
    classifier: model.classifier,
    victimArch: arch,
    trainedHere: true,
    description: `${arch} trained by the audit`,
    dispose: () => model.dispose(),
  };
}

/** A given model, reading the records of `data` as it reads them. */
function givenModel(data: LoadedDataset, model: Model, o: AuditModelOptions): AuditModel {
  const readsRecords = model.input.kind === 'tensor';
  // Records read as they are must be numeric (the text-dataset error says what to do instead).
  if (readsRecords) checkNumeric(data);
  const features = model.featurize(data.dataset);
  return {
    model,
    readsRecords,
    features,
    classifier: model.classifier,
    // The simulated attacks stamp image triggers and train zoo models like the audited one.
    // They work on the records as loaded (HWC images), not on the model's input layout (an ONNX
    // model may read NCHW tensors).
    ...(model.capabilities.pixels ? { victimArch: auditArch(data.dataset, o) } : {}),
    trainedHere: false,
    description: readsRecords ? 'given' : `given (${model.domain} model ${model.kind})`,
    dispose() {},
  };
}

/**
 * The audit's model stage: the given model, or one trained on the data (seeded). A model that
 * reads records as they are (an image model) gets them so; a text or tabular model reads them
 * through its featurizer (fitted vectorizer or preprocessor), and the detectors scan its
 * classifier's representations of those feature vectors. `INVALID_ARGUMENT` when the records
 * cannot be read so.
 */
export async function auditModel(data: LoadedDataset, o: AuditModelOptions): Promise<AuditModel> {
  const m = o.model;
  if (m === undefined) return trainedModel(data, o);
  return givenModel(data, m instanceof TfClassifier ? new TfImageModel(m) : m, o);
}
