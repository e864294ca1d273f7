import type { z } from 'zod';
import type { Dataset } from '../data/dataset.js';
import type { DataDomain } from '../data/load.js';
import type { TokenizerOptions } from '../data/tokenizer.js';
import type { Classifier } from '../engine/classifier.js';
import type { DetectionProgress, DetectionReport } from './detector.js';
import { parseOrThrow } from './scan-report.js';

/**
 * What a detector of the registry may use besides the dataset and the model: the common options
 * every detector takes, and what only the caller can provide (retraining a model like the scanned
 * one, the raw text records and the text model). See `CONTRIBUTING.md`, "add a detector".
 */
export interface DetectorContext {
  /** Seed of every random choice (clustering, sampling, folds). */
  readonly seed: number;
  /** Layer whose activations are analysed (default: the penultimate). */
  readonly layer?: string;
  /** Progress of the long steps. */
  readonly onProgress?: (p: DetectionProgress) => void;
  /**
   * Trains a fresh model like the scanned one on `train` (confident learning's k-fold). Absent
   * when the caller cannot retrain; detectors then fall back to the given model.
   */
  readonly trainLike?: (
    train: Dataset,
    options: { readonly seed: number; readonly epochs?: number },
  ) => Promise<Classifier>;
  /**
   * The trusted clean subset of the scan (`scan --trusted`), which `scanDataset` appends to the
   * scanned records (the last records of the detector's dataset): confusion training's base set.
   */
  readonly trusted?: Dataset;
  /** Text records and the text model's predictions on raw texts (keyword discovery). */
  readonly text?: TextScanContext;
  /** The tabular side of a scan of a tabular model (feature trigger discovery). */
  readonly tabular?: TabularScanContext;
}

/** What a scan of a tabular model knows of its features (`feature-trigger-discovery.ts`). */
export interface TabularScanContext {
  /** Names of the features the model reads (columns of the scanned rows). */
  readonly features?: readonly string[];
  /** A feature's value as the raw records hold it (e.g. undoing standardisation). */
  readonly rawValue?: (feature: number, value: number) => number;
}

/** The raw text side of a scan of a text model. */
export interface TextScanContext {
  /** The records as texts (same order as the scanned feature dataset). */
  readonly dataset: Pick<Dataset, 'text' | 'y' | 'classes'>;
  /** Class probabilities (or logits) of the text model on raw texts, `[texts, K]`. */
  readonly predict: (
    texts: readonly string[],
    output: 'probabilities' | 'logits',
  ) => Promise<Float32Array>;
  /** The model's tokenizer settings. */
  readonly tokenizer?: TokenizerOptions;
}

/** What kind of poison a detector looks for. */
export type DetectorFinds = 'backdoor' | 'label-noise' | 'keywords';

/**
 * One entry of the detector registry (`registry.ts`): what the detector is, where it applies, the
 * options it takes (a zod object; the fields carrying a `.describe()` become `antidote scan`
 * flags, see `cli/schema-flags.ts`), and how to run it.
 */
export interface DetectorEntry<S extends z.ZodObject = z.ZodObject> {
  /** Short CLI name (`antidote scan --method <name>`). */
  readonly name: string;
  /** Human name, e.g. `Activation clustering`. */
  readonly title: string;
  /** The paper the detector implements. */
  readonly paper: string;
  readonly finds: DetectorFinds;
  /** Data domains it applies to (`features` = images and plain feature arrays). */
  readonly domains: readonly DataDomain[];
  /** Detector-specific options (defaults filled in by parsing `{}`). */
  readonly options: S;
  /** Scans `ds` (as the model sees it) with `model`; never mutates either. */
  run(
    ds: Dataset,
    model: Classifier,
    options: z.output<S>,
    context: DetectorContext,
  ): Promise<DetectionReport>;
}

/** Types a registry entry (keeps the options type of `run` tied to its schema). */
export function defineDetector<S extends z.ZodObject>(entry: DetectorEntry<S>): DetectorEntry<S> {
  return Object.freeze(entry);
}

/** The options every detector takes, from a context (only the ones that are set). */
export function commonDetectorOptions(context: DetectorContext): {
  seed: number;
  layer?: string;
  onProgress?: (p: DetectionProgress) => void;
} {
  return {
    seed: context.seed,
    ...(context.layer ? { layer: context.layer } : {}),
    ...(context.onProgress ? { onProgress: context.onProgress } : {}),
  };
}

/**
 * Parses `raw` with the options schema of `entry` (defaults filled in); `INVALID_ARGUMENT` naming
 * the detector and the field for a bad value.
 */
export function parseDetectorOptions<S extends z.ZodObject>(
  entry: DetectorEntry<S>,
  raw: unknown,
): z.output<S> {
  return parseOrThrow(entry.options, raw ?? {}, 'INVALID_ARGUMENT', `detector ${entry.name}`);
}
