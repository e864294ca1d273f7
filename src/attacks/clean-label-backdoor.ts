/**
 * Clean-label backdoor (Turner, Tsipras & Madry 2019, "Label-Consistent Backdoor Attacks",
 * arXiv:1912.02771). The attacker may not change labels, so a plain trigger on target-class images
 * is ignored: the image's content explains its label. Instead, a share of the target-class training
 * images is first made hard to classify with an L∞ PGD perturbation against a surrogate model
 * (raising the loss of their own, true label), and only then stamped with the trigger. The model
 * can fit these images only by leaning on the trigger, which then sends any triggered input to the
 * target class. Labels are never changed.
 */
import { type Dataset, numRecords, recordShape, recordSize } from '../data/dataset.js';
import type { Classifier } from '../engine/classifier.js';
import { AntidoteError } from '../errors.js';
import type { Rng } from '../util/rng.js';
import { type AttackRecord, checkClass, checkRate, maskOf, type PoisonResult } from './attack.js';
import { type DifferentiableModel, type PgdOptions, perturbationSize, pgdPerturb } from './pgd.js';
import { checkSpec, createTrigger, type Trigger, type TriggerSpec } from './triggers.js';

/** Options of {@link cleanLabelBackdoor}. */
export interface CleanLabelBackdoorOptions {
  /** The target class (its own images are poisoned). */
  readonly target: number;
  /** Share of the target class's records poisoned, in (0, 1) (rate definition `of-target-class`). */
  readonly rate: number;
  /** L∞ budget ε of the adversarial perturbation (e.g. 0.3 on MNIST in [0, 1]). */
  readonly epsilon: number;
  /** The trigger stamped after the perturbation. */
  readonly trigger: TriggerSpec | Trigger;
  /** PGD steps (default 20) and step size (default 2.5·ε / steps). */
  readonly pgd?: Omit<PgdOptions, 'epsilon'>;
}

/** Extra measurements of a clean-label backdoor run. */
export interface CleanLabelBackdoorResult extends PoisonResult {
  /** Size of the adversarial perturbation alone (before the trigger), per poisoned record. */
  readonly perturbation: ReturnType<typeof perturbationSize>;
  /** Share of the perturbed images the surrogate misclassifies (before the trigger). */
  readonly surrogateMisclassified: number;
}

function asTrigger(t: TriggerSpec | Trigger): Trigger {
  return 'apply' in t && typeof t.apply === 'function' ? t : createTrigger(t as TriggerSpec);
}

/**
 * Runs the clean-label backdoor on a copy of `ds` with `surrogate` (a model trained on clean data
 * of the same shape) providing the PGD gradients. The poisoned records are a seeded sample
 * (`rng.fork('select')`) of the target class, perturbed (random starts from `rng.fork('pgd')`),
 * then triggered (`rng.fork('trigger')`). Labels are verified unchanged before returning.
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
  checkClass(options.target, k, 'target');
  checkRate(options.rate);
  if (options.rate <= 0) {
    throw new AntidoteError('INVALID_ARGUMENT', 'rate must be > 0 for a clean-label backdoor', {
      field: 'rate',
    });
  }
  const size = recordSize(ds);
  const modelSize = surrogate.inputShape.reduce((a, b) => a * b, 1);
  if (modelSize !== size || surrogate.numClasses !== k) {
    throw new AntidoteError(
      'SHAPE_MISMATCH',
      `the surrogate takes [${surrogate.inputShape.join(', ')}] → ${surrogate.numClasses} classes, the data has [${shape.join(', ')}] → ${k}`,
    );
  }
  const trigger = asTrigger(options.trigger);
  checkSpec(trigger.spec, shape);
  const n = numRecords(ds);
  const candidates: number[] = [];
  for (let i = 0; i < n; i++) if (ds.y[i] === options.target) candidates.push(i);
  const p = Math.round(options.rate * candidates.length);
  if (p < 1) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `rate ${options.rate} of ${candidates.length} target-class records poisons no record`,
      { field: 'rate' },
    );
  }
  const chosen = Array.from(rng.fork('select').sample(candidates.length, p), (j) => candidates[j]!);
  chosen.sort((a, b) => a - b);

  const originals = new Float32Array(p * size);
  for (let j = 0; j < p; j++) {
    originals.set(ds.x.subarray(chosen[j]! * size, (chosen[j]! + 1) * size), j * size);
  }
  const labels = new Int32Array(p).fill(options.target);
  const pgd = { steps: 20, ...options.pgd, epsilon: options.epsilon };
  const perturbed = await pgdPerturb(surrogate, originals, labels, pgd, rng.fork('pgd'));
  const surrogatePred = await surrogate.predict(perturbed, p);
  const misclassified = surrogatePred.filter((c) => c !== options.target).length / p;

  const x = ds.x.slice();
  const y = ds.y.slice();
  const triggerRng = rng.fork('trigger');
  for (let j = 0; j < p; j++) {
    const stamped = trigger.apply(perturbed.subarray(j * size, (j + 1) * size), shape, triggerRng);
    x.set(stamped, chosen[j]! * size);
  }
  for (let i = 0; i < n; i++) {
    if (y[i] !== ds.y[i]) {
      throw new AntidoteError(
        'INVALID_STATE',
        `clean-label backdoor changed the label of record ${i}`,
      );
    }
  }
  const perturbation = perturbationSize(originals, perturbed, p);
  const labelsOfChosen = chosen.map((i) => ds.y[i]!);
  const record: AttackRecord = {
    attack: 'clean-label-backdoor',
    params: {
      target: options.target,
      rate: options.rate,
      epsilon: options.epsilon,
      pgdSteps: pgd.steps,
      ...(pgd.stepSize !== undefined ? { pgdStepSize: pgd.stepSize } : {}),
      perturbationMeanL2: perturbation.meanL2,
      perturbationMaxLinf: perturbation.maxLinf,
      surrogateMisclassified: misclassified,
      labelsUnchanged: true,
    },
    seed: rng.seed,
    indices: chosen,
    ids: chosen.map((i) => ds.ids[i]!),
    sourceIndices: chosen,
    originalLabels: labelsOfChosen,
    poisonedLabels: labelsOfChosen,
    trigger: trigger.spec,
    rateDefinition: 'of-target-class',
    achievedRate: p / candidates.length,
    cleanSize: n,
    poisonedSize: n,
  };
  return {
    dataset: { ...ds, x, y },
    poisoned: maskOf(n, chosen),
    record,
    perturbation,
    surrogateMisclassified: misclassified,
  };
}
