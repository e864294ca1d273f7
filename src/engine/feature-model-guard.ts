/**
 * Tells a text or tabular model Antidote trained (`TfFeatureModel`) from any other {@link Model}
 * without importing its class, whose module loads TensorFlow.js: the scan's contexts
 * (`defenses/text-scan-context.ts`, `defenses/feature-trigger-discovery.ts`) ask it of every
 * model, including a distributed scan's coordinator that never runs one (issue 22).
 */
import type { Model } from './model-interface.js';
import type { TfFeatureModel } from './tf-feature-model.js';

/** The brand every `TfFeatureModel` carries (a property keyed by this symbol). */
export const TF_FEATURE_MODEL: unique symbol = Symbol('antidote.TfFeatureModel');

/** Whether `model` is a `TfFeatureModel` (as `instanceof` would say, without its module). */
export function isTfFeatureModel(model: Model): model is TfFeatureModel {
  return TF_FEATURE_MODEL in model;
}
