/**
 * Image backdoor poisoning (Gu et al. 2017, "BadNets: Identifying Vulnerabilities in the Machine
 * Learning Model Supply Chain"): stamp a trigger on some training images and relabel them, so the
 * trained model maps any triggered input to the attacker's class while behaving normally on clean
 * inputs.
 */
import { type Dataset, recordShape } from '../data/dataset.js';
import { AntidoteError } from '../errors.js';
import type { Rng } from '../util/rng.js';
import type {
  InjectionMode,
  PoisoningAttack,
  PoisonRateDefinition,
  PoisonResult,
} from './attack.js';
import {
  assembleBackdoor,
  type BackdoorTargeting,
  checkBackdoorOptions,
  planBackdoor,
} from './backdoor-plan.js';
import { checkSpec, createTrigger, type Trigger, type TriggerSpec } from './triggers.js';

/** Options of {@link backdoorAttack}. */
export interface BackdoorOptions extends BackdoorTargeting {
  /** The trigger: a spec (built-in pictures only) or a trigger from `loadTrigger`. */
  readonly trigger: TriggerSpec | Trigger;
  /** Poison rate in [0, 1), measured by {@link BackdoorOptions.rateDefinition}. */
  readonly rate: number;
  /** Default `'of-training-set'`. `'of-target-class'` is not defined for all-to-all. */
  readonly rateDefinition?: PoisonRateDefinition;
  /** `'replace'` (default) stamps chosen originals; `'add'` appends stamped copies. */
  readonly injection?: InjectionMode;
  /**
   * Set the `source` (provenance) of poisoned records to `'attack:backdoor'` (or the given
   * string). Off by default: a real attacker does not label their poison, so detectors must not
   * get that hint; the ground truth lives in `poisoned` and the attack record.
   */
  readonly markSource?: boolean | string;
}

/** Resolves `TriggerSpec | Trigger` to a trigger. */
function asTrigger(t: TriggerSpec | Trigger): Trigger {
  return 'apply' in t && typeof t.apply === 'function' ? t : createTrigger(t as TriggerSpec);
}

/**
 * The backdoor attack. Candidates are the records of the classes the mode targets; the poisoned
 * ones are a seeded uniform sample of them (stream `rng.fork('select')`), stamped with the trigger
 * (random positions from `rng.fork('trigger')`) and relabelled to the attacker's class.
 */
export const backdoorAttack: PoisoningAttack<BackdoorOptions> = Object.freeze({
  name: 'backdoor',
  poison(ds: Dataset, options: BackdoorOptions, rng: Rng): PoisonResult {
    const shape = recordShape(ds);
    if (shape.length !== 2 && shape.length !== 3) {
      throw new AntidoteError(
        'INVALID_ARGUMENT',
        `image backdoors need image records [H, W] or [H, W, C], got [${shape.join(', ')}]`,
      );
    }
    // Option errors first, then the trigger's, then the poison count's (planBackdoor).
    const o = { ...options, variant: 'dirty-label' as const };
    checkBackdoorOptions(o, ds.classes.length);
    const trigger = asTrigger(options.trigger);
    checkSpec(trigger.spec, shape);
    const plan = planBackdoor(ds, o, rng);
    const triggerRng = rng.fork('trigger');
    return assembleBackdoor(
      ds,
      plan,
      o,
      rng,
      'backdoor',
      { features: (row) => row.set(trigger.apply(row, shape, triggerRng)) },
      {},
      { trigger: trigger.spec, variantParam: false },
    );
  },
});
