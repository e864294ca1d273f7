/**
 * Evaluation: model metrics (clean accuracy, ASR, robust accuracy), detection metrics, the
 * experiment runner and sweeps.
 */
export * from './detection.js';
export {
  type AttackSpec,
  type BackdoorAttackSpec,
  checkAttackSpec,
  type ExperimentOptions,
  type ExperimentProgress,
  type ExperimentResult,
  type ExperimentSpec,
  type ExperimentStage,
  engineTrainer,
  type LabelFlipAttackSpec,
  type ModelMetrics,
  poisonUpFront,
  runExperiment,
  type TrainedModel,
  type Trainer,
  type TrainerProgress,
  type VictimSpec,
} from './experiment.js';
export * from './feature-backdoor.js';
export {
  accuracy,
  accuracyDrop,
  attackSuccessRate,
  type BackdoorMetrics,
  type CleanMetrics,
  confusionMatrix,
  evaluateBackdoor,
  evaluateClean,
  perClassAccuracy,
  predictInBatches,
  robustAccuracy,
  type TriggeredTestSet,
  triggeredTestSet,
} from './metrics.js';
export {
  SWEEP_CSV_COLUMNS,
  type SweepOptions,
  type SweepProgress,
  type SweepResult,
  type SweepRow,
  type SweepSpec,
  sweep,
  sweepToCsv,
  triggerLabel,
} from './sweep.js';
export * from './text-experiment.js';
export { type PreviewImage, type TriggerPreview, triggerPreview } from './trigger-preview.js';
