/**
 * Image backdoor poisoning (Gu et al. 2017, "BadNets: Identifying Vulnerabilities in the Machine
 * Learning Model Supply Chain"): stamp a trigger on some training images and relabel them, so the
 * trained model maps any triggered input to the attacker's class while behaving normally on clean
 * inputs.
 */
import { type Dataset, numRecords, recordShape, recordSize } from '../data/dataset.js';
import type { Rng } from '../data/rng.js';
import { AntidoteError } from '../errors.js';
import {
  type AttackRecord,
  checkClass,
  checkRate,
  type InjectionMode,
  maskOf,
  type PoisoningAttack,
  type PoisonRateDefinition,
  type PoisonResult,
} from './attack.js';
import { checkSpec, createTrigger, type Trigger, type TriggerSpec } from './triggers.js';

/**
 * Which inputs the backdoor redirects where:
 * - `'all-to-one'`: every class other than `target` → `target`;
 * - `'all-to-all'`: class s → (s + 1) mod K;
 * - `'source-to-target'`: class `source` → `target` only.
 */
export type BackdoorMode = 'all-to-one' | 'all-to-all' | 'source-to-target';

/** Every backdoor mode, for CLI choices. */
export const BACKDOOR_MODES: readonly BackdoorMode[] = Object.freeze([
  'all-to-one',
  'all-to-all',
  'source-to-target',
]);

/** The mapping from true label to the attacker's label, as recorded in an attack record. */
export interface BackdoorTargeting {
  readonly mode: BackdoorMode;
  /** Target class (all-to-one, source-to-target). */
  readonly target?: number;
  /** Source class (source-to-target). */
  readonly source?: number;
}

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

/**
 * The attacker's label for an input of class `label`, or `null` when the backdoor does not
 * target that class.
 */
export function backdoorTargetOf(t: BackdoorTargeting, label: number, k: number): number | null {
  switch (t.mode) {
    case 'all-to-one':
      return label === t.target ? null : (t.target as number);
    case 'all-to-all':
      return (label + 1) % k;
    case 'source-to-target':
      return label === t.source ? (t.target as number) : null;
  }
}

/** Checks a targeting against `k` classes; throws INVALID_ARGUMENT. */
export function checkTargeting(t: BackdoorTargeting, k: number): void {
  if (!(BACKDOOR_MODES as readonly unknown[]).includes(t.mode)) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `backdoor mode must be one of ${BACKDOOR_MODES.join(', ')}, got ${t.mode}`,
      { field: 'mode' },
    );
  }
  if (k < 2) throw new AntidoteError('INVALID_ARGUMENT', 'a backdoor needs at least 2 classes');
  if (t.mode === 'all-to-one' || t.mode === 'source-to-target') {
    if (t.target === undefined) {
      throw new AntidoteError('INVALID_ARGUMENT', `backdoor mode ${t.mode} needs a target class`, {
        field: 'target',
      });
    }
    checkClass(t.target, k, 'target');
  }
  if (t.mode === 'source-to-target') {
    if (t.source === undefined) {
      throw new AntidoteError('INVALID_ARGUMENT', 'source-to-target needs a source class', {
        field: 'source',
      });
    }
    checkClass(t.source, k, 'source');
    if (t.source === t.target) {
      throw new AntidoteError('INVALID_ARGUMENT', `source and target are both class ${t.source}`, {
        field: 'source',
      });
    }
  }
}

/**
 * Number of records to poison so that the poisoned set meets `rate` under `definition`:
 *
 * - of-training-set: p / (N') = rate, N' = N (replace) or N + p (add);
 * - of-target-class: p / (n_t + p) = rate, where n_t is the clean count of the target class
 *   (the poisons come from other classes, so the target class grows by p in both injections).
 *
 * Rounded to the nearest record.
 */
export function poisonCount(
  rate: number,
  definition: PoisonRateDefinition,
  injection: InjectionMode,
  n: number,
  targetCount: number,
): number {
  checkRate(rate);
  if (definition === 'of-training-set') {
    return Math.round(injection === 'replace' ? rate * n : (rate * n) / (1 - rate));
  }
  if (definition === 'of-target-class') return Math.round((rate * targetCount) / (1 - rate));
  throw new AntidoteError(
    'INVALID_ARGUMENT',
    `rate definition must be 'of-training-set' or 'of-target-class', got ${definition}`,
    { field: 'rateDefinition' },
  );
}

/** Resolves `TriggerSpec | Trigger` to a trigger. */
function asTrigger(t: TriggerSpec | Trigger): Trigger {
  return 'apply' in t && typeof t.apply === 'function' ? t : createTrigger(t as TriggerSpec);
}

/** A fresh id not in `taken`, `${id}#bd`, `${id}#bd2`, ... */
function copyId(id: string, taken: Set<string>, suffix: string): string {
  let candidate = `${id}#${suffix}`;
  for (let k = 2; taken.has(candidate); k++) candidate = `${id}#${suffix}${k}`;
  taken.add(candidate);
  return candidate;
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
    const k = ds.classes.length;
    checkTargeting(options, k);
    checkRate(options.rate);
    const definition = options.rateDefinition ?? 'of-training-set';
    const injection = options.injection ?? 'replace';
    if (injection !== 'replace' && injection !== 'add') {
      throw new AntidoteError(
        'INVALID_ARGUMENT',
        `injection must be replace or add, got ${injection}`,
        {
          field: 'injection',
        },
      );
    }
    if (definition === 'of-target-class' && options.mode === 'all-to-all') {
      throw new AntidoteError(
        'INVALID_ARGUMENT',
        "rate definition 'of-target-class' is not defined for all-to-all (every class is a target); use 'of-training-set'",
        { field: 'rateDefinition' },
      );
    }
    const trigger = asTrigger(options.trigger);
    checkSpec(trigger.spec, shape);

    const n = numRecords(ds);
    const candidates: number[] = [];
    let targetCount = 0;
    for (let i = 0; i < n; i++) {
      if (backdoorTargetOf(options, ds.y[i]!, k) !== null) candidates.push(i);
      if (ds.y[i] === options.target) targetCount++;
    }
    const p = poisonCount(options.rate, definition, injection, n, targetCount);
    if (p > candidates.length) {
      throw new AntidoteError(
        'INVALID_ARGUMENT',
        `rate ${options.rate} (${definition}, ${injection}) needs ${p} poisoned records but only ${candidates.length} records are eligible`,
        { field: 'rate' },
      );
    }
    const chosen = Array.from(
      rng.fork('select').sample(candidates.length, p),
      (j) => candidates[j]!,
    );
    chosen.sort((a, b) => a - b);

    const size = recordSize(ds);
    const outN = injection === 'replace' ? n : n + p;
    const x = new Float32Array(outN * size);
    x.set(ds.x);
    const y = new Int32Array(outN);
    y.set(ds.y);
    const ids = ds.ids.slice();
    const source = ds.source?.slice();
    const text = ds.text?.slice();
    const mark =
      options.markSource === true
        ? 'attack:backdoor'
        : typeof options.markSource === 'string'
          ? options.markSource
          : undefined;
    const sourceArr = source ?? (mark !== undefined ? new Array<string>(n).fill('') : undefined);
    const taken = new Set(ds.ids);
    const triggerRng = rng.fork('trigger');
    const indices: number[] = [];
    const originalLabels: number[] = [];
    const poisonedLabels: number[] = [];
    const newIds: string[] = [];
    for (let j = 0; j < p; j++) {
      const i = chosen[j]!;
      const dst = injection === 'replace' ? i : n + j;
      const stamped = trigger.apply(ds.x.subarray(i * size, (i + 1) * size), shape, triggerRng);
      x.set(stamped, dst * size);
      const label = backdoorTargetOf(options, ds.y[i]!, k) as number;
      y[dst] = label;
      if (injection === 'add') {
        ids.push(copyId(ds.ids[i]!, taken, 'bd'));
        if (sourceArr) sourceArr.push(ds.source?.[i] ?? '');
        if (text) text.push(ds.text![i]!);
      }
      if (mark !== undefined && sourceArr) sourceArr[dst] = mark;
      indices.push(dst);
      newIds.push(ids[dst]!);
      originalLabels.push(ds.y[i]!);
      poisonedLabels.push(label);
    }
    const dataset: Dataset = {
      x,
      shape: [outN, ...shape],
      y,
      classes: ds.classes,
      ids,
      ...(sourceArr ? { source: sourceArr } : {}),
      ...(text ? { text } : {}),
    };
    const achievedRate =
      definition === 'of-training-set'
        ? outN === 0
          ? 0
          : p / outN
        : targetCount + p === 0
          ? 0
          : p / (targetCount + p);
    const params: Record<string, unknown> = {
      mode: options.mode,
      rate: options.rate,
      rateDefinition: definition,
      injection,
      markSource: mark ?? false,
    };
    if (options.target !== undefined) params.target = options.target;
    if (options.source !== undefined) params.source = options.source;
    const record: AttackRecord = {
      attack: 'backdoor',
      params,
      seed: rng.seed,
      indices,
      ids: newIds,
      sourceIndices: chosen,
      originalLabels,
      poisonedLabels,
      trigger: trigger.spec,
      rateDefinition: definition,
      achievedRate,
      cleanSize: n,
      poisonedSize: outN,
    };
    return { dataset, poisoned: maskOf(outN, indices), record };
  },
});
