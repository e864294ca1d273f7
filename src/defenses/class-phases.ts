/**
 * Detectors that run in two phases (issue 22): a per-class phase that reads only one class's
 * representations and returns that class's sufficient statistics, and a cross-class phase that
 * calibrates the classes against each other, judges each class and scores and flags the records.
 * Activation clustering (`ac`) and spectral signatures (`ss`), the default detectors, are split
 * so: `activationClustering` and `spectralSignatures` are the composition of their two phases, and
 * a distributed scan (`jobs/scan-jobs.ts`) runs the per-class phase on workers, each holding only
 * its classes' records, and the cross-class phase at the coordinator, through the very same
 * functions, so its report is the single process's, byte for byte.
 */
import type { Dataset } from '../data/dataset.js';
import {
  type AcClassStats,
  acEntryOptions,
  activationClusteringAmongClasses,
  activationClusteringClass,
} from './activation-clustering.js';
import type { DetectionReport } from './detector.js';
import type { DetectorContext } from './detector-entry.js';
import type { Representations } from './representations.js';
import {
  type SsClassStats,
  spectralSignaturesAmongClasses,
  spectralSignaturesClass,
  ssEntryOptions,
} from './spectral-signatures.js';

/** What the cross-class phase reads of the scanned dataset. */
export interface AmongClassesInput {
  readonly y: Int32Array;
  readonly classes: readonly string[];
  readonly ds?: Dataset;
}

/** A registry detector split into a per-class and a cross-class phase. */
export interface ClassPhasedDetector {
  /** Its name in the detector registry (`--method`). */
  readonly name: string;
  /**
   * The detector's options as the registry entry's `run` would give them, from its parsed
   * flags and the scan's context (the same function the entry uses).
   */
  options(parsed: Readonly<Record<string, unknown>>, context: DetectorContext): object;
  /**
   * The per-class phase on class `classIndex`: its records are rows `rows` of `reps` and records
   * `indices` of the dataset. Reads `options`' plain (JSON) fields only.
   */
  perClass(
    reps: Representations,
    rows: Int32Array,
    indices: Int32Array,
    classIndex: number,
    options: object,
  ): unknown;
  /** The cross-class phase on every class's statistics, in class order. */
  amongClasses(
    input: AmongClassesInput,
    stats: readonly unknown[],
    options: object,
  ): Promise<DetectionReport>;
}

/** The class-phased detectors, by registry name. */
export const CLASS_PHASED_DETECTORS: Readonly<Record<string, ClassPhasedDetector>> = Object.freeze({
  ac: {
    name: 'ac',
    options: (parsed, context) =>
      acEntryOptions(parsed as Parameters<typeof acEntryOptions>[0], context),
    perClass: (reps, rows, indices, c, options) =>
      activationClusteringClass(reps, rows, indices, c, options),
    amongClasses: (input, stats, options) =>
      activationClusteringAmongClasses(input, stats as readonly AcClassStats[], options),
  },
  ss: {
    name: 'ss',
    options: (parsed, context) => ssEntryOptions(parsed, context),
    perClass: (reps, rows, indices, c, options) =>
      spectralSignaturesClass(reps, rows, indices, c, options),
    amongClasses: async (input, stats, options) =>
      spectralSignaturesAmongClasses(
        input,
        stats as readonly (SsClassStats | undefined)[],
        options,
      ),
  },
});

/** The class-phased detector named `name` in the registry, if it is one. */
export function classPhasedDetector(name: string): ClassPhasedDetector | undefined {
  return Object.hasOwn(CLASS_PHASED_DETECTORS, name) ? CLASS_PHASED_DETECTORS[name] : undefined;
}

/**
 * The plain fields of a detector's options (functions such as progress callbacks dropped): what
 * a worker's per-class phase is given.
 */
export function plainOptions(options: object): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(options).filter(([, v]) => typeof v !== 'function' && v !== undefined),
  );
}

/** One class-phased detector whose per-class phase runs elsewhere: its name and plain options. */
export interface ClassPhaseRequest {
  readonly method: string;
  readonly options: Readonly<Record<string, unknown>>;
}

/**
 * Runs the per-class phase of `requests` somewhere else (the workers of a distributed scan):
 * answers, per request, one statistics value per class, in class order.
 */
export type ClassPhaseRunner = (requests: readonly ClassPhaseRequest[]) => Promise<unknown[][]>;
