import { AntidoteError } from '../errors.js';

/**
 * Scoring a poisoned-data detector against ground truth (../shared/DESIGN.md §2: a pure function
 * over a report and the attack's `poisoned` mask).
 *
 * Conventions: a metric whose denominator is zero is `NaN` (serialised as `null` by
 * `JSON.stringify`): precision when nothing is flagged, recall when there is no poison, ROC AUC
 * when only one kind of record is present. Nothing is silently reported as 0 or 1.
 */

/** The part of a detection report that is evaluated. */
export interface ScoredFlags {
  /** Suspicion per record, higher = more suspicious. */
  readonly scores: ArrayLike<number>;
  /** Decision per record, 1 = flagged. */
  readonly flagged: ArrayLike<number>;
}

/** Ground truth for {@link evaluateDetection}. */
export interface DetectionTruth {
  /** 1 = the record is poisoned (e.g. `PoisonResult.poisoned`). */
  readonly poisoned: ArrayLike<number>;
  /** Given labels of the scanned dataset; enables per-class metrics. */
  readonly y?: Int32Array;
  /** Class names (for per-class entries); defaults to the class indices. */
  readonly classes?: readonly string[];
}

/** Confusion counts and the metrics derived from them. */
export interface DetectionMetrics {
  /** Records scored. */
  readonly n: number;
  /** Poisoned records flagged. */
  readonly tp: number;
  /** Clean records flagged. */
  readonly fp: number;
  /** Clean records not flagged. */
  readonly tn: number;
  /** Poisoned records missed. */
  readonly fn: number;
  /** tp / (tp + fp). */
  readonly precision: number;
  /** tp / (tp + fn) (true-positive rate). */
  readonly recall: number;
  /** Harmonic mean of precision and recall; 0 when both are 0. */
  readonly f1: number;
  /** fp / (fp + tn): share of clean records flagged. */
  readonly fpr: number;
  /** Share of all records flagged. */
  readonly flaggedShare: number;
  /** Area under the ROC curve of the scores (ties count ½), from the Mann–Whitney U statistic. */
  readonly auc: number;
}

/** Metrics of one class (by given label). */
export interface ClassDetectionMetrics extends DetectionMetrics {
  readonly classIndex: number;
  readonly className: string;
  /** True when at least one record of this class is poisoned. */
  readonly attacked: boolean;
}

/** Result of {@link evaluateDetection}. */
export interface DetectionEvaluation extends DetectionMetrics {
  /** Per class (only when labels were given). */
  readonly perClass: readonly ClassDetectionMetrics[];
  /**
   * False-positive rate over the records of classes holding no poison (only when labels were
   * given): how much clean data the detector costs where there was nothing to find.
   */
  readonly unattackedFpr: number;
  /** Records in classes holding no poison. */
  readonly unattackedRecords: number;
}

/**
 * ROC AUC of `scores` for the binary `labels` (1 = positive), over the records where `mask`
 * (optional) is 1. Average ranks handle ties. `NaN` when one kind is absent.
 */
export function rocAuc(
  scores: ArrayLike<number>,
  labels: ArrayLike<number>,
  mask?: ArrayLike<number>,
): number {
  const idx: number[] = [];
  for (let i = 0; i < scores.length; i++) if (!mask || mask[i]) idx.push(i);
  idx.sort((a, b) => scores[a]! - scores[b]!);
  let pos = 0;
  let rankSum = 0;
  for (let s = 0; s < idx.length; ) {
    let e = s;
    while (e + 1 < idx.length && scores[idx[e + 1]!] === scores[idx[s]!]) e++;
    const avgRank = (s + e) / 2 + 1;
    for (let t = s; t <= e; t++) {
      if (labels[idx[t]!]) {
        pos++;
        rankSum += avgRank;
      }
    }
    s = e + 1;
  }
  const neg = idx.length - pos;
  if (pos === 0 || neg === 0) return Number.NaN;
  return (rankSum - (pos * (pos + 1)) / 2) / (pos * neg);
}

function metrics(
  scores: ArrayLike<number>,
  flagged: ArrayLike<number>,
  poisoned: ArrayLike<number>,
  mask?: ArrayLike<number>,
): DetectionMetrics {
  let tp = 0;
  let fp = 0;
  let tn = 0;
  let fn = 0;
  for (let i = 0; i < scores.length; i++) {
    if (mask && !mask[i]) continue;
    const f = flagged[i] ? 1 : 0;
    const p = poisoned[i] ? 1 : 0;
    if (f && p) tp++;
    else if (f) fp++;
    else if (p) fn++;
    else tn++;
  }
  const n = tp + fp + tn + fn;
  const precision = tp + fp > 0 ? tp / (tp + fp) : Number.NaN;
  const recall = tp + fn > 0 ? tp / (tp + fn) : Number.NaN;
  const f1 =
    tp + fn === 0 && tp + fp === 0
      ? Number.NaN
      : tp === 0
        ? 0
        : (2 * precision * recall) / (precision + recall);
  return {
    n,
    tp,
    fp,
    tn,
    fn,
    precision,
    recall,
    f1,
    fpr: fp + tn > 0 ? fp / (fp + tn) : Number.NaN,
    flaggedShare: n > 0 ? (tp + fp) / n : Number.NaN,
    auc: rocAuc(scores, poisoned, mask),
  };
}

/**
 * Precision, recall, F1, ROC AUC (from the scores), false-positive rate and confusion counts of
 * a detection report against the ground-truth `poisoned` mask; per class (by given label) and
 * the FPR over unattacked classes when `truth.y` is given. Throws `SHAPE_MISMATCH` when the
 * arrays disagree in length.
 */
export function evaluateDetection(report: ScoredFlags, truth: DetectionTruth): DetectionEvaluation {
  const n = report.scores.length;
  if (report.flagged.length !== n || truth.poisoned.length !== n) {
    throw new AntidoteError(
      'SHAPE_MISMATCH',
      `detection report has ${n} scores and ${report.flagged.length} flags, ground truth ${truth.poisoned.length} records`,
    );
  }
  if (truth.y && truth.y.length !== n) {
    throw new AntidoteError(
      'SHAPE_MISMATCH',
      `ground truth has ${truth.y.length} labels for ${n} records`,
    );
  }
  const overall = metrics(report.scores, report.flagged, truth.poisoned);
  const perClass: ClassDetectionMetrics[] = [];
  let unattackedFpr = Number.NaN;
  let unattackedRecords = 0;
  if (truth.y) {
    const y = truth.y;
    let k = truth.classes?.length ?? 0;
    for (let i = 0; i < n; i++) if (y[i]! + 1 > k) k = y[i]! + 1;
    const attacked = new Uint8Array(k);
    for (let i = 0; i < n; i++) if (truth.poisoned[i]) attacked[y[i]!] = 1;
    for (let c = 0; c < k; c++) {
      const mask = new Uint8Array(n);
      let any = false;
      for (let i = 0; i < n; i++) {
        if (y[i] === c) {
          mask[i] = 1;
          any = true;
        }
      }
      if (!any) continue;
      perClass.push({
        classIndex: c,
        className: truth.classes?.[c] ?? String(c),
        attacked: attacked[c] === 1,
        ...metrics(report.scores, report.flagged, truth.poisoned, mask),
      });
    }
    const cleanMask = new Uint8Array(n);
    for (let i = 0; i < n; i++) cleanMask[i] = attacked[y[i]!] ? 0 : 1;
    const m = metrics(report.scores, report.flagged, truth.poisoned, cleanMask);
    unattackedFpr = m.fpr;
    unattackedRecords = m.n;
  }
  return { ...overall, perClass, unattackedFpr, unattackedRecords };
}
