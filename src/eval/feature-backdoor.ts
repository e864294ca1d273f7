/**
 * Backdoor metrics of text and tabular models (../shared/DESIGN.md §3): the test records a backdoor
 * attacks, triggered as raw records (texts with the word or sentence trigger, tabular rows with
 * the feature values set), predicted by the model from raw records; attack success rate and
 * robust accuracy. Shared by the experiment runner and `antidote evaluate`.
 */
import type { BackdoorTargeting } from '../attacks/backdoor-plan.js';
import { type FeatureTriggerSpec, triggeredRecords } from '../attacks/tabular-backdoor.js';
import { type TextTriggerSpec, triggeredTexts } from '../attacks/text-backdoor.js';
import type { Dataset } from '../data/dataset.js';
import type { Rng } from '../util/rng.js';
import { attackSuccessRate, type BackdoorMetrics, robustAccuracy } from './metrics.js';

/** A text trigger (words, sentence) or a tabular one (feature values). */
export type FeatureBackdoorTrigger = TextTriggerSpec | FeatureTriggerSpec;

/** The triggered copies of the attacked test records, with their true labels and targets. */
export interface TriggeredFeatureTestSet {
  /** Raw records: texts (`shape [n, 0]`) or tabular rows (`[n, D]`); labels are the true ones. */
  readonly dataset: Dataset;
  readonly yTrue: Int32Array;
  readonly targets: Int32Array;
}

/**
 * The records of `test` that a backdoor with `targeting` attacks, with `trigger` applied (text
 * triggers draw their insert positions from `rng`). Errors as `triggeredTexts` /
 * `triggeredRecords` (`INVALID_ARGUMENT` for a trigger or targeting that does not fit `test`).
 */
export function triggeredFeatureTestSet(
  test: Dataset,
  trigger: FeatureBackdoorTrigger,
  targeting: BackdoorTargeting,
  rng: Rng,
): TriggeredFeatureTestSet {
  if (trigger.kind === 'feature-values') {
    const r = triggeredRecords(test, trigger, targeting);
    return {
      dataset: {
        x: r.x,
        shape: [r.n, test.shape[1]!],
        y: r.yTrue,
        classes: test.classes,
        ids: Array.from({ length: r.n }, (_, i) => String(i)),
      },
      yTrue: r.yTrue,
      targets: r.targets,
    };
  }
  const r = triggeredTexts(test, trigger, targeting, rng);
  return {
    dataset: {
      x: new Float32Array(0),
      shape: [r.texts.length, 0],
      y: r.yTrue,
      classes: test.classes,
      ids: r.texts.map((_, i) => String(i)),
      text: r.texts,
    },
    yTrue: r.yTrue,
    targets: r.targets,
  };
}

/**
 * ASR and robust accuracy of a text or tabular model, given as its raw-record predictor, under
 * `trigger` on the attacked records of `test` (see {@link triggeredFeatureTestSet}).
 */
export async function evaluateFeatureBackdoor(
  predictRaw: (ds: Dataset) => Promise<Int32Array>,
  test: Dataset,
  trigger: FeatureBackdoorTrigger,
  targeting: BackdoorTargeting,
  rng: Rng,
): Promise<BackdoorMetrics> {
  const t = triggeredFeatureTestSet(test, trigger, targeting, rng);
  const pred = await predictRaw(t.dataset);
  return {
    attacked: t.yTrue.length,
    attackSuccessRate: attackSuccessRate(pred, t.targets),
    robustAccuracy: robustAccuracy(pred, t.yTrue),
  };
}
