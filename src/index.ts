/**
 * Antidote: attack your own training pipeline with data poisoning, find the poison, and lock the
 * pipeline down. The root entry holds the core types and the main entry points — load a dataset,
 * load a model (any kind, as a `Model`), scan the dataset with the registered detectors, run the
 * whole audit, and the attack and detector registries — and each area
 * has its own entry point (`antidote/data`, `antidote/engine`, `antidote/audit`, ...). See
 * ARCHITECTURE.md for the layers.
 *
 * The root entry loads TensorFlow.js and the rest of the toolkit: the CLI never imports it.
 */

export type { AttackRecord, PoisoningAttack, PoisonResult } from './attacks/attack.js';
export { ATTACKS, type AttackEntry, attackEntry } from './attacks/registry.js';
export {
  type AuditOptions,
  type AuditPolicy,
  type AuditResult,
  auditPolicySchema,
  runAudit,
} from './audit/audit.js';
export type { Dataset } from './data/dataset.js';
export {
  type DatasetKind,
  type LoadDatasetOptions,
  type LoadedDataset,
  loadDataset,
} from './data/load.js';
export type { DetectionReport, PoisonDetector } from './defenses/detector.js';
export type { DetectorEntry } from './defenses/detector-entry.js';
export {
  DETECTOR_NAMES,
  DETECTORS,
  type DetectorName,
  detectorByName,
  detectorEntry,
} from './defenses/registry.js';
export {
  DEFAULT_SCAN_METHODS,
  type MergedScan,
  mergeReports,
  type ScanOptions,
  scanDataset,
} from './defenses/scan.js';
export type { Classifier } from './engine/classifier.js';
export {
  loadModel,
  type Model,
  type ModelCapabilities,
  type ModelDomain,
  type ModelInput,
} from './engine/model.js';
export { AntidoteError, type AntidoteErrorCode, ERROR_CODES, isAntidoteError } from './errors.js';
export { Rng } from './util/rng.js';
export { version } from './version.js';
