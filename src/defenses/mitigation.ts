import { type Dataset, numRecords, selectRecords } from '../data/dataset.js';
import type { Classifier } from '../engine/classifier.js';
import { AntidoteError } from '../errors.js';
import type { DetectionProgress, DetectionReport } from './detector.js';

/**
 * Mitigation: act on a detection report (drop the flagged records, or relabel them when the
 * detector suggests labels, as label-noise detectors do), retrain through a callback, and measure
 * what the defense bought: clean accuracy, attack success rate (ASR) and robust accuracy before
 * and after, and the defense effectiveness rating
 * DER = (max(0, ΔASR) − max(0, ΔACC) + 1) / 2 (DESIGN.md §3), where ΔASR = ASR_before − ASR_after
 * and ΔACC = ACC_before − ACC_after. DER = 1: the attack is gone at no accuracy cost; 0.5: nothing
 * changed (or gains and costs cancel); 0: accuracy lost with no ASR gain.
 */

/** What to do with flagged records. */
export type MitigationMode = 'drop' | 'relabel';

/** The measured state of one model. */
export interface ModelScores {
  /** Accuracy on the clean test set, in [0, 1]. */
  readonly cleanAccuracy: number;
  /** Share of triggered inputs classified as the attacker's label (null without a trigger). */
  readonly attackSuccessRate: number | null;
  /** Share of triggered inputs still classified as their true label (null without a trigger). */
  readonly robustAccuracy: number | null;
}

/** Triggered test inputs (e.g. from `triggeredTestSet` in antidote/eval). */
export interface TriggeredInputs {
  /** Triggered features, `[n, ...recordShape]`. */
  readonly x: Float32Array;
  readonly n: number;
  /** True labels. */
  readonly yTrue: Int32Array;
  /** The attacker's labels. */
  readonly targets: Int32Array;
}

/**
 * Scores a model on a clean test set and, optionally, triggered inputs (ASR and robust accuracy as
 * defined in DESIGN.md §3: over triggered inputs whose true label is not the target).
 */
export async function scoreModel(
  model: Classifier,
  cleanTest: Dataset,
  triggered?: TriggeredInputs,
  batchSize = 2048,
): Promise<ModelScores> {
  const predictAll = async (x: Float32Array, n: number): Promise<Int32Array> => {
    const size = n > 0 ? x.length / n : 0;
    const out = new Int32Array(n);
    for (let s = 0; s < n; s += batchSize) {
      const m = Math.min(batchSize, n - s);
      out.set(await model.predict(x.subarray(s * size, (s + m) * size), m), s);
    }
    return out;
  };
  const n = numRecords(cleanTest);
  const pred = await predictAll(cleanTest.x, n);
  let right = 0;
  for (let i = 0; i < n; i++) if (pred[i] === cleanTest.y[i]) right++;
  let asr: number | null = null;
  let robust: number | null = null;
  if (triggered) {
    const tp = await predictAll(triggered.x, triggered.n);
    let hit = 0;
    let kept = 0;
    let counted = 0;
    for (let i = 0; i < triggered.n; i++) {
      if (triggered.yTrue[i] === triggered.targets[i]) continue;
      counted++;
      if (tp[i] === triggered.targets[i]) hit++;
      if (tp[i] === triggered.yTrue[i]) kept++;
    }
    asr = counted > 0 ? hit / counted : null;
    robust = counted > 0 ? kept / counted : null;
  }
  return {
    cleanAccuracy: n > 0 ? right / n : Number.NaN,
    attackSuccessRate: asr,
    robustAccuracy: robust,
  };
}

/**
 * Defense effectiveness rating, DER = (max(0, ΔASR) − max(0, ΔACC) + 1) / 2 with
 * ΔASR = ASR_before − ASR_after and ΔACC = ACC_before − ACC_after. `null` when either model has
 * no ASR.
 */
export function defenseEffectivenessRating(before: ModelScores, after: ModelScores): number | null {
  if (before.attackSuccessRate === null || after.attackSuccessRate === null) return null;
  const dAsr = before.attackSuccessRate - after.attackSuccessRate;
  const dAcc = before.cleanAccuracy - after.cleanAccuracy;
  return (Math.max(0, dAsr) - Math.max(0, dAcc) + 1) / 2;
}

/** Result of {@link applyReport}. */
export interface CleanedDataset {
  /** The dataset without the dropped records and with relabelled records' new labels. */
  readonly dataset: Dataset;
  /** Ids of the dropped records. */
  readonly droppedIds: string[];
  /** Ids of the relabelled records. */
  readonly relabelledIds: string[];
}

/**
 * Applies a report's flags to the dataset it was computed on: `drop` removes every flagged record;
 * `relabel` gives a flagged record the report's suggested label when there is one (and drops it
 * when there is none). When `reportIds` is given (a report loaded from disk), records are matched
 * by id and every id must exist in `ds`; otherwise by position. Pure; `ds` is not modified.
 */
export function applyReport(
  ds: Dataset,
  report: Pick<DetectionReport, 'flagged' | 'suggestedLabels'>,
  mode: MitigationMode = 'drop',
  reportIds?: readonly string[],
): CleanedDataset {
  const n = numRecords(ds);
  const flagged = new Uint8Array(n);
  const suggested = new Int32Array(n).fill(-1);
  if (reportIds) {
    if (reportIds.length !== report.flagged.length) {
      throw new AntidoteError(
        'SHAPE_MISMATCH',
        `report has ${reportIds.length} ids for ${report.flagged.length} flags`,
      );
    }
    const pos = new Map<string, number>();
    for (let i = 0; i < n; i++) pos.set(ds.ids[i]!, i);
    for (let r = 0; r < reportIds.length; r++) {
      const i = pos.get(reportIds[r]!);
      if (i === undefined) {
        throw new AntidoteError(
          'NOT_FOUND',
          `report refers to record id "${reportIds[r]}", which is not in the dataset`,
          { id: reportIds[r] },
        );
      }
      flagged[i] = report.flagged[r]!;
      if (report.suggestedLabels) suggested[i] = report.suggestedLabels[r]!;
    }
  } else {
    if (report.flagged.length !== n) {
      throw new AntidoteError(
        'SHAPE_MISMATCH',
        `report covers ${report.flagged.length} records but the dataset has ${n}`,
      );
    }
    flagged.set(report.flagged);
    if (report.suggestedLabels) suggested.set(report.suggestedLabels);
  }
  if (mode !== 'drop' && mode !== 'relabel') {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `unknown mitigation mode "${mode}" (drop, relabel)`,
    );
  }
  const keep: number[] = [];
  const droppedIds: string[] = [];
  const relabelledIds: string[] = [];
  const newLabels = new Map<number, number>();
  const k = ds.classes.length;
  for (let i = 0; i < n; i++) {
    if (!flagged[i]) {
      keep.push(i);
    } else if (mode === 'relabel' && suggested[i]! >= 0 && suggested[i]! < k) {
      keep.push(i);
      if (suggested[i] !== ds.y[i]) {
        newLabels.set(keep.length - 1, suggested[i]!);
        relabelledIds.push(ds.ids[i]!);
      }
    } else {
      droppedIds.push(ds.ids[i]!);
    }
  }
  const sub = selectRecords(ds, keep);
  if (newLabels.size > 0) {
    const y = Int32Array.from(sub.y);
    for (const [r, label] of newLabels) y[r] = label;
    return { dataset: { ...sub, y }, droppedIds, relabelledIds };
  }
  return { dataset: sub, droppedIds, relabelledIds };
}

/** Options of {@link mitigate}. */
export interface MitigationOptions {
  /** Drop flagged records (default) or relabel them with the report's suggested labels. */
  readonly mode?: MitigationMode;
  /** Trains a fresh model on the cleaned dataset (the engine stays outside this module). */
  readonly retrain: (ds: Dataset) => Promise<Classifier>;
  /** Measures a model (e.g. {@link scoreModel} on a clean and a triggered test set). */
  readonly evaluate: (model: Classifier) => Promise<ModelScores>;
  /** The model trained on the uncleaned data, measured as "before". */
  readonly before: Classifier;
  /** Progress of the steps. */
  readonly onProgress?: (p: DetectionProgress) => void;
}

/** Result of {@link mitigate}. */
export interface MitigationResult {
  /** The cleaned training set. */
  readonly dataset: Dataset;
  readonly droppedIds: string[];
  readonly relabelledIds: string[];
  /** Scores of the model trained on the uncleaned data. */
  readonly before: ModelScores;
  /** Scores of the model retrained on the cleaned data. */
  readonly after: ModelScores;
  /** DER, see {@link defenseEffectivenessRating}. */
  readonly der: number | null;
  /** The retrained model. */
  readonly model: Classifier;
}

/** Cleans the dataset with the report, retrains, and measures before and after. */
export async function mitigate(
  ds: Dataset,
  report: Pick<DetectionReport, 'flagged' | 'suggestedLabels'>,
  options: MitigationOptions,
): Promise<MitigationResult> {
  const cleaned = applyReport(ds, report, options.mode ?? 'drop');
  options.onProgress?.({ stage: 'evaluate before', done: 0, total: 3 });
  const before = await options.evaluate(options.before);
  options.onProgress?.({ stage: 'retrain', done: 1, total: 3 });
  const model = await options.retrain(cleaned.dataset);
  options.onProgress?.({ stage: 'evaluate after', done: 2, total: 3 });
  const after = await options.evaluate(model);
  options.onProgress?.({ stage: 'done', done: 3, total: 3 });
  return {
    ...cleaned,
    before,
    after,
    der: defenseEffectivenessRating(before, after),
    model,
  };
}
