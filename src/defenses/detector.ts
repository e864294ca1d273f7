import type { Dataset } from '../data/dataset.js';
import type { Classifier } from '../engine/classifier.js';
import { AntidoteError } from '../errors.js';
import { detectionReportJsonSchema, detectionReportOf, parseOrThrow } from './scan-report.js';

/**
 * The shared vocabulary of poisoned-data detectors (../shared/DESIGN.md §2): a detector looks at a
 * training set and a model trained on it, and returns a {@link DetectionReport} with one suspicion
 * score per record, the decision, and per-class findings a human can read.
 */

/**
 * The anomaly index from which a class-level finding is strong (see {@link ClassFinding.strength}):
 * 3.5, Iglewicz & Hoaglin's cut-off for the modified z-score, independent of the dataset.
 */
export const STRONG_EVIDENCE = 3.5;

/** A value that may appear in {@link ClassFinding.stats}: plain JSON data only. */
export type FindingValue = number | string | boolean | null | readonly number[];

/** What a detector found in one class (by given label), and why it decided what it did. */
export interface ClassFinding {
  /** Class index (the given label). */
  readonly classIndex: number;
  /** Class name, `ds.classes[classIndex]`. */
  readonly className: string;
  /** Number of records carrying this label. */
  readonly count: number;
  /** Number of those records the detector flagged. */
  readonly flagged: number;
  /** True when the detector judged this class to contain poison. */
  readonly suspicious: boolean;
  /**
   * How strong the class-level evidence is, on one scale shared by every detector: a robust
   * anomaly index of the class's statistic against the data's own null (for most detectors, the
   * modified z-score of the class among all classes, median/MAD; Iglewicz & Hoaglin 1993).
   * At least {@link STRONG_EVIDENCE} is a strong finding, which no verdict may pass. Absent when
   * the detector does not grade its evidence.
   */
  readonly strength?: number;
  /** One human-readable sentence saying why (thresholds and measured values included). */
  readonly reason: string;
  /** The measurements behind the decision (cluster sizes, silhouette, threshold used, ...). */
  readonly stats: Readonly<Record<string, FindingValue>>;
}

/** The result of a detector run: plain data, one entry per record of the scanned dataset. */
export interface DetectionReport {
  /** Detector name, e.g. `activation-clustering`. */
  readonly method: string;
  /** Suspicion per record, higher = more suspicious (comparable within one report). */
  readonly scores: Float32Array;
  /** The decision per record: 1 = flagged as poisoned / mislabelled. */
  readonly flagged: Uint8Array;
  /** Findings per class, in class order. */
  readonly perClass: readonly ClassFinding[];
  /** The effective options (defaults filled in), JSON-serialisable. */
  readonly params: Readonly<Record<string, FindingValue>>;
  /**
   * For label-noise detectors: the label each record most likely should carry (`-1` where no
   * suggestion is made). Mitigation may relabel instead of dropping.
   */
  readonly suggestedLabels?: Int32Array;
}

/**
 * A poisoned-data detector (../shared/DESIGN.md §2). `detect` never mutates `ds` or the model and
 * reports progress only through an `onProgress` option.
 */
export interface PoisonDetector<O> {
  /** Stable name, used by the CLI and in reports. */
  readonly name: string;
  /** Scans `ds` with the help of `model` (trained on `ds`). */
  detect(ds: Dataset, model: Classifier, options: O): Promise<DetectionReport>;
}

/** Progress of a long detector step. */
export interface DetectionProgress {
  /** What is running, e.g. `activations`, `class 3`, `fold 2`. */
  readonly stage: string;
  /** Units done so far. */
  readonly done: number;
  /** Units in total. */
  readonly total: number;
}

/** The JSON form of a {@link DetectionReport} (typed arrays become plain arrays). */
export interface DetectionReportJSON {
  readonly method: string;
  readonly ids?: readonly string[];
  readonly scores: number[];
  readonly flagged: number[];
  readonly perClass: readonly ClassFinding[];
  readonly params: Readonly<Record<string, FindingValue>>;
  readonly suggestedLabels?: number[];
}

/** Converts a report to JSON-serialisable data, optionally with the record ids it refers to. */
export function reportToJSON(
  report: DetectionReport,
  ids?: readonly string[],
): DetectionReportJSON {
  if (ids && ids.length !== report.scores.length) {
    throw new AntidoteError(
      'SHAPE_MISMATCH',
      `report covers ${report.scores.length} records but ${ids.length} ids were given`,
    );
  }
  return {
    method: report.method,
    ...(ids ? { ids: [...ids] } : {}),
    scores: Array.from(report.scores, (v) => (Number.isFinite(v) ? v : 0)),
    flagged: Array.from(report.flagged),
    perClass: report.perClass,
    params: report.params,
    ...(report.suggestedLabels ? { suggestedLabels: Array.from(report.suggestedLabels) } : {}),
  };
}

/**
 * Parses the output of {@link reportToJSON} (e.g. one method of a saved `scan` report) with the
 * zod schema of `scan-report.ts`. `where` names the file for error messages (`INVALID_FORMAT`).
 */
export function reportFromJSON(
  json: unknown,
  where = 'report',
): DetectionReport & {
  readonly ids?: readonly string[];
} {
  return detectionReportOf(
    parseOrThrow(detectionReportJsonSchema, json, 'INVALID_FORMAT', where, { path: where }),
  );
}

/** Indices of the records of each class: `result[c]` lists the records labelled `c`, ascending. */
export function indicesByClass(y: Int32Array, numClasses: number): Int32Array[] {
  const counts = new Int32Array(numClasses);
  for (let i = 0; i < y.length; i++) {
    const c = y[i]!;
    if (c < 0 || c >= numClasses) {
      throw new AntidoteError(
        'LABEL_OUT_OF_RANGE',
        `record ${i} has label ${c}, outside [0, ${numClasses})`,
        { record: i },
      );
    }
    counts[c]!++;
  }
  const out = Array.from({ length: numClasses }, (_, c) => new Int32Array(counts[c]!));
  const fill = new Int32Array(numClasses);
  for (let i = 0; i < y.length; i++) out[y[i]!]![fill[y[i]!]!++] = i;
  return out;
}

/** Checks that `flagged`/`scores` arrays have one entry per record. */
export function checkReportLength(report: DetectionReport, n: number, where: string): void {
  if (report.scores.length !== n || report.flagged.length !== n) {
    throw new AntidoteError(
      'SHAPE_MISMATCH',
      `${where}: report covers ${report.scores.length} scores / ${report.flagged.length} flags but the dataset has ${n} records`,
    );
  }
}

/** Rounds for display in reasons: 3 significant decimals. */
export function fmt(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  return Math.abs(v) >= 100 ? v.toFixed(0) : Number(v.toPrecision(3)).toString();
}
