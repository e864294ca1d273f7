import type { Dataset } from '../data/dataset.js';
import {
  defaultScanMethods,
  type MergedScan,
  type ScanOptions,
  scanDataset,
} from '../defenses/scan.js';
import type { Classifier } from '../engine/classifier.js';
import { type DetectionEvaluation, evaluateDetection } from '../eval/detection.js';
import { type AuditProgressCallback, startStage } from './progress.js';

/** What the scan stage found. */
export interface ScanFindings {
  /** The merged decision of the detectors (see `scanDataset`). */
  readonly scan: MergedScan;
  /**
   * Detection quality of each detector and of the merged decision (`merged`) against the ground
   * truth, when it is known; empty otherwise.
   */
  readonly detection: Record<string, DetectionEvaluation>;
  /** The model's representations of the records (penultimate layer), for the report's charts. */
  readonly representations: { data: Float32Array; dim: number };
}

/** Options of {@link scanStage}. */
export interface ScanStageOptions {
  /** Detectors; default `defaultScanMethods(context)` (keyword discovery joins for a text model). */
  readonly methods?: readonly string[] | undefined;
  /** What only the caller can give the detectors (`ScanOptions.context`: the raw texts of a text model). */
  readonly context?: ScanOptions['context'];
  readonly seed: number;
  /** Ground truth: 1 for each poisoned record, when known (an attack record, a simulation). */
  readonly truth?: Uint8Array | undefined;
  /** A trusted clean subset, as the model reads it (`ScanOptions.trusted`). */
  readonly trusted?: Dataset | undefined;
  readonly onProgress?: AuditProgressCallback | undefined;
}

/**
 * The scan stage of the audit and the demo: runs the one scan decision of `defenses/scan`
 * (`scanDataset`) on `ds` with the model trained on it, scores each detector against the ground
 * truth when given, and reads the representations the report draws.
 */
export async function scanStage(
  ds: Dataset,
  model: Classifier,
  options: ScanStageOptions,
): Promise<ScanFindings> {
  const methods = options.methods ?? defaultScanMethods(options.context);
  const s = startStage(options.onProgress, 'scan', 'scan for poison', methods.length);
  const scan = await scanDataset(ds, model, {
    methods,
    seed: options.seed,
    ...(options.context ? { context: options.context } : {}),
    ...(options.trusted ? { trusted: options.trusted } : {}),
    onProgress: (method, p) => {
      if (p.stage === 'done' && p.done === p.total) s.tick(method);
    },
  });
  const detection: Record<string, DetectionEvaluation> = {};
  if (options.truth) {
    const t = { poisoned: options.truth, y: ds.y, classes: ds.classes };
    for (const r of scan.reports) detection[r.method] = evaluateDetection(r, t);
    detection.merged = evaluateDetection({ scores: scan.suspicion, flagged: scan.flagged }, t);
  }
  const representations = await model.activations(ds.x, ds.y.length);
  return { scan, detection, representations };
}
