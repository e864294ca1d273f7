/**
 * Poisoned-data detection and mitigation: detectors returning a {@link DetectionReport}
 * (activation clustering, spectral signatures, robust spectral scores, SCAn, training dynamics,
 * confident learning, the arbitrary-label test, k-NN label consistency), the linear algebra behind them, and mitigation (filter or relabel, retrain,
 * before/after scores and DER).
 */

export {
  chiSquareQuantile,
  DENSE_EIGEN_MAX_DIM,
  type EigenPairs,
  mad,
  median,
  type PrincipalComponents,
  principalComponents,
  projectRows,
  quantile,
  type RobustEstimate,
  robustMeanCov,
  rowCovariance,
  rowMean,
  symmetricEigen,
} from '../numeric/index.js';
export {
  type KMeansOptions,
  type KMeansResult,
  kMeans,
  type Silhouette,
  silhouette,
} from '../numeric/kmeans.js';
export {
  AC_ANALYSES,
  type AcAnalysis,
  type AcClassStats,
  type ActivationClusteringInput,
  type ActivationClusteringOptions,
  activationClustering,
  activationClusteringAmongClasses,
  activationClusteringClass,
  activationClusteringDetector,
  type ClassSplit,
  splitClass,
} from './activation-clustering.js';
export * from './adversarial-training.js';
export * from './arbitrary-labels.js';
export * from './calibration.js';
export * from './class-phases.js';
export * from './confusion-training.js';
export {
  type ClassFinding,
  type DetectionProgress,
  type DetectionReport,
  type DetectionReportJSON,
  type FindingValue,
  indicesByClass,
  type PoisonDetector,
  reportFromJSON,
  reportToJSON,
  STRONG_EVIDENCE,
} from './detector.js';
export * from './detector-entry.js';
export * from './feature-trigger-discovery.js';
export * from './fine-pruning.js';
export * from './keyword-discovery.js';
export {
  type KnnConsistencyOptions,
  knnConsistency,
  knnConsistencyDetector,
} from './knn-consistency.js';
export {
  type ConfidentLearningOptions,
  confidentLearningDetector,
  crossValidatedProbabilities,
  type FindLabelIssuesOptions,
  findLabelIssues,
  type LabelIssueFilter,
  type LabelIssues,
  labelIssuesReport,
  stratifiedFolds,
} from './label-noise.js';
export {
  applyReport,
  type CleanedDataset,
  defenseEffectivenessRating,
  type MitigationMode,
  type MitigationOptions,
  type MitigationResult,
  type ModelScores,
  mitigate,
  scoreModel,
  type TriggeredInputs,
} from './mitigation.js';
export * from './neural-cleanse.js';
export * from './pruning.js';
export {
  DETECTOR_NAMES,
  DETECTORS,
  type DetectorName,
  detectorByName,
  detectorEntry,
  detectorsFor,
} from './registry.js';
export {
  checkLayer,
  checkModelMatchesData,
  checkRepresentations,
  computeRepresentations,
  type RepresentationOptions,
  type Representations,
} from './representations.js';
export * from './scan.js';
export * from './scan-report.js';
export {
  type ScanGlobalModel,
  type ScanUntanglingOptions,
  scanGlobalModel,
  scanUntangling,
  scanUntanglingDetector,
} from './scan-untangling.js';
export {
  type SpectralSignatureOptions,
  type SsClassStats,
  spectralSignatures,
  spectralSignaturesAmongClasses,
  spectralSignaturesClass,
  spectralSignaturesDetector,
} from './spectral-signatures.js';
export {
  queScores,
  type SpectreOptions,
  spectre,
  spectreDetector,
} from './spectre.js';
export * from './strip.js';
export * from './text-strip.js';
export {
  lowLossIsolation,
  recordLosses,
  type TrainingDynamicsOptions,
  trainingDynamics,
  trainingDynamicsNotRun,
} from './training-dynamics.js';
export * from './trigger-pruning.js';
export {
  carriesTrigger,
  type TriggerReversalOptions,
  triggerReversalNotRun,
  triggerReversalScan,
} from './trigger-reversal.js';
export { type TriggerTransferOptions, triggerTransfer } from './trigger-transfer.js';
export * from './unlearning.js';
export * from './verdict.js';
