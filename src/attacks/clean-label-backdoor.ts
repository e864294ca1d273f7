/**
 * Clean-label backdoor (Turner, Tsipras & Madry 2019, "Label-Consistent Backdoor Attacks",
 * arXiv:1912.02771). The attacker may not change labels, so a plain trigger on target-class images
 * is ignored: the image's content explains its label. Instead, a share of the target-class training
 * images is first made hard to classify with an L∞ PGD perturbation against a surrogate model
 * (raising the loss of their own, true label), and only then stamped with the trigger. The model
 * can fit these images only by leaning on the trigger, which then sends any triggered input to the
 * target class. Labels are never changed.
 *
 * The paper's three ingredients, each an option here so that their effect can be measured:
 *
 * 1. the surrogate is adversarially trained (its PGD perturbations are semantic, they make the
 *    image look like another class, and they transfer to an independently trained victim; a
 *    standard model's perturbations are high-frequency noise the victim ignores): pass a model
 *    trained with `defenses/adversarial-training.ts`, and an ε large enough to move it;
 * 2. the four-corner trigger ({@link CornerTriggerSpec} `corners: 'four'`);
 * 3. a reduced trigger amplitude on the poisons (`amplitude` < 1), the full trigger at test time.
 *
 * What each adds on MNIST is measured by `bench/attacks.mjs` (the `clean-label-*` cases) and
 * written in `docs/attacks.md`.
 */
import { type Dataset, recordShape, recordSize } from '../data/dataset.js';
import type { Classifier } from '../engine/classifier.js';
import { AntidoteError } from '../errors.js';
import type { Rng } from '../util/rng.js';
import type { PoisonResult } from './attack.js';
import { type CornerTriggerSpec, checkCornerTrigger, cornerTrigger } from './corner-trigger.js';
import {
  type DifferentiableModel,
  type PgdOptions,
  perturbationSize,
  pgdPerturb,
  resolvePgdOptions,
} from './pgd.js';
import {
  cleanLabelResult,
  type ImageTransform,
  sampleTargetClass,
  transformRecords,
} from './target-class.js';
import { checkSpec, createTrigger, type Trigger, type TriggerSpec } from './triggers.js';

/** Options of {@link cleanLabelBackdoor}. */
export interface CleanLabelBackdoorOptions {
  /** The target class (its own images are poisoned). */
  readonly target: number;
  /** Share of the target class's records poisoned, in (0, 1) (rate definition `of-target-class`). */
  readonly rate: number;
  /** L∞ budget ε of the adversarial perturbation (e.g. 0.3 on MNIST in [0, 1]); 0: none. */
  readonly epsilon: number;
  /**
   * The trigger stamped after the perturbation: the paper's corner checkerboard (its amplitude
   * is the poisons'; the test-time trigger is the same pattern at full amplitude), or any image
   * trigger of `triggers.ts`.
   */
  readonly trigger: CornerTriggerSpec | TriggerSpec | Trigger;
  /** PGD steps (default 20) and step size (default 2.5·ε / steps). */
  readonly pgd?: Omit<PgdOptions, 'epsilon'>;
}

/** Extra measurements of a clean-label backdoor run. */
export interface CleanLabelBackdoorResult extends PoisonResult {
  /** Size of the adversarial perturbation alone (before the trigger), per poisoned record. */
  readonly perturbation: ReturnType<typeof perturbationSize>;
  /** Share of the perturbed images the surrogate misclassifies (before the trigger). */
  readonly surrogateMisclassified: number;
  /** The trigger to apply at test time (corner trigger: at full amplitude). */
  readonly testTrigger: ImageTransform;
}

type AnyTrigger = CleanLabelBackdoorOptions['trigger'];

function isCorner(t: AnyTrigger): t is CornerTriggerSpec {
  return !('apply' in t) && (t as { kind: unknown }).kind === 'corner';
}

/** The poisons' trigger, its test-time version and how the record describes it. */
function resolveTrigger(t: AnyTrigger, shape: readonly number[]) {
  if (isCorner(t)) {
    checkCornerTrigger(t, shape);
    const spec: CornerTriggerSpec = {
      kind: 'corner',
      size: t.size ?? 3,
      corners: t.corners ?? 'four',
      amplitude: t.amplitude ?? 1,
    };
    return {
      train: cornerTrigger(spec),
      test: cornerTrigger({ ...spec, amplitude: 1 }),
      params: { trigger: spec },
      extra: {},
    };
  }
  const trigger =
    'apply' in t && typeof t.apply === 'function' ? t : createTrigger(t as TriggerSpec);
  checkSpec(trigger.spec, shape);
  return { train: trigger, test: trigger, params: {}, extra: { trigger: trigger.spec } };
}

/**
 * Runs the clean-label backdoor on a copy of `ds` with `surrogate` (a model trained on clean data
 * of the same shape, adversarially for the paper's attack) providing the PGD gradients. The
 * poisoned records are a seeded sample (`rng.fork('select')`) of the target class, perturbed
 * (random starts from `rng.fork('pgd')`), then triggered (`rng.fork('trigger')`). Labels are
 * verified unchanged before returning.
 */
export async function cleanLabelBackdoor(
  ds: Dataset,
  surrogate: DifferentiableModel & Pick<Classifier, 'predict'>,
  options: CleanLabelBackdoorOptions,
  rng: Rng,
): Promise<CleanLabelBackdoorResult> {
  const shape = recordShape(ds);
  if (shape.length !== 2 && shape.length !== 3) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `the clean-label backdoor needs image records [H, W] or [H, W, C], got [${shape.join(', ')}]`,
    );
  }
  const k = ds.classes.length;
  const size = recordSize(ds);
  const modelSize = surrogate.inputShape.reduce((a, b) => a * b, 1);
  if (modelSize !== size || surrogate.numClasses !== k) {
    throw new AntidoteError(
      'SHAPE_MISMATCH',
      `the surrogate takes [${surrogate.inputShape.join(', ')}] → ${surrogate.numClasses} classes, the data has [${shape.join(', ')}] → ${k}`,
    );
  }
  const trigger = resolveTrigger(options.trigger, shape);
  const pgd = { steps: 20, ...options.pgd, epsilon: options.epsilon };
  resolvePgdOptions(pgd); // bad PGD options fail before any work
  const sample = sampleTargetClass(ds, options.target, options.rate, rng);
  const originals = transformRecords(ds, sample.chosen, (row) => row);
  const p = sample.chosen.length;
  const labels = new Int32Array(p).fill(options.target);
  const perturbed = await pgdPerturb(surrogate, originals, labels, pgd, rng.fork('pgd'));
  const surrogatePred = await surrogate.predict(perturbed, p);
  const misclassified = surrogatePred.filter((c) => c !== options.target).length / p;
  const triggerRng = rng.fork('trigger');
  const rows = new Float32Array(perturbed.length);
  for (let j = 0; j < p; j++) {
    const row = perturbed.subarray(j * size, (j + 1) * size);
    rows.set(trigger.train.apply(row, shape, triggerRng), j * size);
  }
  const perturbation = perturbationSize(originals, perturbed, p);
  const result = cleanLabelResult(
    ds,
    sample,
    rows,
    'clean-label-backdoor',
    {
      target: options.target,
      rate: options.rate,
      epsilon: options.epsilon,
      pgdSteps: pgd.steps,
      ...(pgd.stepSize !== undefined ? { pgdStepSize: pgd.stepSize } : {}),
      ...trigger.params,
      perturbationMeanL2: perturbation.meanL2,
      perturbationMaxLinf: perturbation.maxLinf,
      surrogateMisclassified: misclassified,
    },
    rng.seed,
    trigger.extra,
  );
  return {
    ...result,
    perturbation,
    surrogateMisclassified: misclassified,
    testTrigger: trigger.test,
  };
}
