/**
 * The attack lab: training-data poisoning attacks (label flipping, image backdoors) and the
 * triggers they stamp. Every attack is a seeded, pure {@link PoisoningAttack} whose
 * {@link AttackRecord} is the ground truth detectors are scored against.
 */

export * from './adaptive-blend.js';
export * from './adaptive-patch.js';
export {
  type AttackRecord,
  checkClass,
  checkRate,
  type InjectionMode,
  maskOf,
  POISON_RATE_DEFINITIONS,
  type PoisoningAttack,
  type PoisonRateDefinition,
  type PoisonResult,
  resolveClass,
} from './attack.js';
export * from './attack-record.js';
export { type BackdoorOptions, backdoorAttack } from './backdoor.js';
export * from './backdoor-plan.js';
export * from './clean-label-backdoor.js';
export * from './corner-trigger.js';
export * from './feature-collision.js';
export {
  type AdversarialFlipRule,
  adversarialFlipPlan,
  cleanModelProbabilities,
  LABEL_FLIP_MODES,
  type LabelFlipMode,
  type LabelFlipOptions,
  labelFlipAttack,
} from './label-flip.js';
export * from './pgd.js';
export * from './registry.js';
export * from './regularized-backdoor.js';
export * from './sig.js';
export * from './tabular-backdoor.js';
export * from './target-class.js';
export * from './text-backdoor.js';
export * from './transfer-learning.js';
export {
  BUILTIN_TRIGGER_IMAGES,
  type BuiltinTriggerImage,
  builtinTriggerImage,
  decodePngImage,
  isBuiltinTriggerImage,
  type RasterImage,
  readPngImage,
  resampleRaster,
} from './trigger-image.js';
export * from './trigger-options.js';
export {
  addCheckerboardTrigger,
  addPatternTrigger,
  addPixelTrigger,
  applyTriggerBatch,
  type BlendTriggerSpec,
  blendNoiseKey,
  type CheckerboardTriggerSpec,
  type Corner,
  checkSpec as checkTriggerSpec,
  createTrigger,
  type ImageTriggerSpec,
  imageDims,
  loadTrigger,
  type PatternTriggerSpec,
  type PixelTriggerSpec,
  patchOrigin,
  patternTriggerCoords,
  pixelTriggerCoords,
  TRIGGER_KINDS,
  TRIGGER_POSITIONS,
  type Trigger,
  type TriggerFn,
  type TriggerKind,
  type TriggerPosition,
  type TriggerSpec,
  triggerImagePath,
} from './triggers.js';
export * from './wanet.js';
