/**
 * Detectors that run in two phases (issue 22): a per-class phase that reads only one class's
 * representations and returns that class's sufficient statistics, and a cross-class phase that
 * calibrates the classes against each other, judges each class and scores and flags the records.
 * Activation clustering (`ac`), spectral signatures (`ss`) and trigger transfer (`tt`, whose
 * per-class phase also runs the model on a sample of input records), the default detectors, are
 * split so: `activationClustering` and `spectralSignatures` are the composition of their two phases, and
 * a distributed scan (`jobs/scan-jobs.ts`) runs the per-class phase on workers, each holding only
 * its classes' records, and the cross-class phase at the coordinator, through the very same
 * functions, so its report is the single process's, byte for byte.
 */
import type { Dataset } from '../data/dataset.js';
import type { Classifier } from '../engine/classifier.js';
import { AntidoteError } from '../errors.js';
import {
  type AcClassStats,
  type AcDualClassStats,
  acEntryOptions,
  activationClusteringAmongClasses,
  activationClusteringClass,
} from './activation-clustering.js';
import type { DetectionReport } from './detector.js';
import { commonDetectorOptions, type DetectorContext } from './detector-entry.js';
import type { Representations } from './representations.js';
import {
  type SsClassStats,
  spectralSignaturesAmongClasses,
  spectralSignaturesClass,
  ssEntryOptions,
} from './spectral-signatures.js';
import {
  type RecordRows,
  type TriggerTransferClassStats,
  type TriggerTransferPlan,
  triggerTransferAmongClasses,
  triggerTransferClass,
  triggerTransferPlan,
} from './trigger-transfer.js';

/** What the cross-class phase reads of the scanned dataset. */
export interface AmongClassesInput {
  readonly y: Int32Array;
  readonly classes: readonly string[];
  readonly ds?: Dataset;
}

/**
 * What a per-class phase may read beyond its class's representations: those of every record,
 * every label, the model, and input records by dataset index. Given to the detectors that say so
 * ({@link ClassPhasedDetector.readsRecords}).
 */
export interface ClassPhaseContext {
  /** Every record's representations. */
  readonly all: Representations;
  /** Every record's label. */
  readonly y: Int32Array;
  readonly model: Classifier;
  /** Input records (as the model reads them) at these dataset indices. */
  readonly records: (indices: Int32Array) => Promise<RecordRows>;
}

/** A registry detector split into a per-class and a cross-class phase. */
export interface ClassPhasedDetector {
  /** Its name in the detector registry (`--method`). */
  readonly name: string;
  /** Its per-class phase reads a {@link ClassPhaseContext} (the model, input records). */
  readonly readsRecords?: boolean;
  /**
   * False when its per-class phase has nothing to do with these options (`tt` on records that are
   * not images): no job is sent, and the cross-class phase runs on no statistics. Default true.
   */
  hasClassWork?(options: object): boolean;
  /**
   * The detector's options as the registry entry's `run` would give them, from its parsed
   * flags, the scan's context and the scanned dataset (the same function the entry uses).
   */
  options(parsed: Readonly<Record<string, unknown>>, context: DetectorContext, ds: Dataset): object;
  /**
   * The per-class phase on class `classIndex`: its records are rows `rows` of `reps` and records
   * `indices` of the dataset. Reads `options`' plain (JSON) fields only, and `context` when the
   * detector {@link ClassPhasedDetector.readsRecords}.
   */
  perClass(
    reps: Representations,
    rows: Int32Array,
    indices: Int32Array,
    classIndex: number,
    options: object,
    context?: ClassPhaseContext,
  ): unknown;
  /**
   * The statistics of {@link ClassPhasedDetector.perClass} on `reps` as another process receives
   * them (a worker's answer): any part that is `reps` itself, all records' representations, made
   * a copy of the class's rows. Absent: the statistics hold no such part.
   */
  portable?(stats: unknown, reps: Representations): unknown;
  /** The cross-class phase on every class's statistics, in class order. */
  amongClasses(
    input: AmongClassesInput,
    stats: readonly unknown[],
    options: object,
  ): Promise<DetectionReport>;
}

/**
 * `tt`'s plans made ahead by {@link prepareClassPhases}, by dataset, then by the options they were
 * made with; each is used once (by the scan it was made for) and dropped.
 */
const preparedPlans = new WeakMap<Dataset, Map<string, TriggerTransferPlan>>();

function ttPlanKey(context: DetectorContext): string {
  const { seed, layer } = commonDetectorOptions(context);
  return JSON.stringify([seed, layer ?? null]);
}

/** `tt`'s plan on `ds` for `context`: the one prepared for them if any (taken), else made now. */
function ttPlan(ds: Dataset, context: DetectorContext): TriggerTransferPlan {
  const prepared = preparedPlans.get(ds);
  const key = ttPlanKey(context);
  const plan = prepared?.get(key);
  if (plan) {
    prepared!.delete(key);
    return plan;
  }
  return triggerTransferPlan(ds, commonDetectorOptions(context));
}

/**
 * Makes ahead the costly part of the class-phased detectors' options among `methods` on `ds`
 * (`tt`'s plan reads every input value once for its range), for the next scan of this very
 * dataset object with `context`'s seed and layer: a distributed scan's coordinator calls it while
 * the workers run the forward pass, so the per-class jobs are sent as soon as it ends. The
 * options are those {@link ClassPhasedDetector.options} would make (the same function, the same
 * inputs); a scan with other options makes its own.
 */
export function prepareClassPhases(
  ds: Dataset,
  methods: readonly string[],
  context: DetectorContext,
): void {
  if (!methods.includes('tt')) return;
  let prepared = preparedPlans.get(ds);
  if (!prepared) {
    prepared = new Map();
    preparedPlans.set(ds, prepared);
  }
  prepared.set(ttPlanKey(context), triggerTransferPlan(ds, commonDetectorOptions(context)));
}

/** Rows `rows` of `reps`, copied in order. */
function copyRows(reps: Representations, rows: Int32Array): Representations {
  const { dim, data: from } = reps;
  const data = new Float32Array(rows.length * dim);
  for (let r = 0; r < rows.length; r++) {
    const at = rows[r]! * dim;
    data.set(from.subarray(at, at + dim), r * dim);
  }
  return { data, dim };
}

/**
 * `ac`'s statistics with each space that is rows of `reps` itself (a class too small to whiten,
 * `reduce` `ica`) made a copy of those rows (rows 0..m-1 of the copy): the same space, without
 * every record's representations.
 */
function portableAcStats(
  st: AcClassStats | AcDualClassStats,
  reps: Representations,
): AcClassStats | AcDualClassStats {
  const one = (s: AcClassStats): AcClassStats =>
    s.space.reps !== reps
      ? s
      : {
          ...s,
          space: {
            reps: copyRows(reps, s.space.local),
            local: Int32Array.from({ length: s.space.local.length }, (_, r) => r),
          },
        };
  return 'spaces' in st ? { ...st, spaces: st.spaces.map(one) } : one(st);
}

/** The class-phased detectors, by registry name. */
export const CLASS_PHASED_DETECTORS: Readonly<Record<string, ClassPhasedDetector>> = Object.freeze({
  ac: {
    name: 'ac',
    options: (parsed, context) =>
      acEntryOptions(parsed as Parameters<typeof acEntryOptions>[0], context),
    perClass: (reps, rows, indices, c, options) =>
      activationClusteringClass(reps, rows, indices, c, options),
    portable: (stats, reps) => portableAcStats(stats as AcClassStats | AcDualClassStats, reps),
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
  tt: {
    name: 'tt',
    readsRecords: true,
    hasClassWork: (options) => (options as TriggerTransferPlan).images,
    options: (_parsed, context, ds) => ({
      ...ttPlan(ds, context),
      ...(context.onProgress ? { onProgress: context.onProgress } : {}),
    }),
    perClass: (_reps, _rows, _indices, c, options, context) => {
      const plan = options as TriggerTransferPlan;
      if (!plan.images) return undefined;
      if (!context) {
        throw new AntidoteError('INVALID_ARGUMENT', 'the per-class phase of tt reads the model');
      }
      return triggerTransferClass(
        {
          reps: context.all,
          y: context.y,
          classIndex: c,
          model: context.model,
          records: context.records,
        },
        plan,
      );
    },
    amongClasses: async (input, stats, options) =>
      triggerTransferAmongClasses(
        input,
        stats as readonly (TriggerTransferClassStats | undefined)[],
        options as TriggerTransferPlan,
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

/** What a {@link ClassPhaseRunner} tells its caller before it answers. */
export interface ClassPhaseHooks {
  /**
   * Called once the per-class work has been handed over (every job on the queue): the caller
   * then runs its own detectors, which hold the thread, without holding back the submission.
   */
  readonly onSubmitted?: () => void;
}

/**
 * Runs the per-class phase of `requests` somewhere else (the workers of a distributed scan):
 * answers, per request, one statistics value per class, in class order.
 */
export type ClassPhaseRunner = (
  requests: readonly ClassPhaseRequest[],
  hooks?: ClassPhaseHooks,
) => Promise<unknown[][]>;
