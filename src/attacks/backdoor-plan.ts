/**
 * Backdoor poison planning shared by the image, text and tabular backdoors (Gu et al. 2017,
 * "BadNets"; Turner, Tsipras & Madry 2019, "Label-Consistent Backdoor Attacks" for the
 * clean-label variant): which inputs the backdoor redirects where (targeting), how many records a
 * poison rate needs, which records to poison (a seeded sample), and the assembly of the poisoned
 * dataset and its attack record. Each attack only says how one record is modified.
 */
import { type Dataset, numRecords, recordShape, recordSize } from '../data/dataset.js';
import { AntidoteError } from '../errors.js';
import type { Rng } from '../util/rng.js';
import {
  type AttackRecord,
  checkClass,
  checkRate,
  type InjectionMode,
  maskOf,
  type PoisonRateDefinition,
  type PoisonResult,
} from './attack.js';
import type { TriggerSpec } from './triggers.js';

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

/** Dirty-label (relabel the poison) or clean-label (poison only target-class records). */
export type BackdoorVariant = 'dirty-label' | 'clean-label';

/** Every variant, for CLI choices. */
export const BACKDOOR_VARIANTS: readonly BackdoorVariant[] = Object.freeze([
  'dirty-label',
  'clean-label',
]);

/** Options shared by the text and tabular backdoors (the image backdoor's, plus a variant). */
export interface FeatureBackdoorOptions extends BackdoorTargeting {
  /** Poison rate in [0, 1), measured by {@link FeatureBackdoorOptions.rateDefinition}. */
  readonly rate: number;
  /** Default `'of-training-set'`. */
  readonly rateDefinition?: PoisonRateDefinition;
  /** `'replace'` (default) modifies chosen originals; `'add'` appends modified copies. */
  readonly injection?: InjectionMode;
  /** Default `'dirty-label'`. Clean-label needs a target (all-to-one or source-to-target). */
  readonly variant?: BackdoorVariant;
  /** Set `source` of poisoned records to `attack:<name>` (or this string); off by default. */
  readonly markSource?: boolean | string;
}

/** Which records a backdoor poisons and the labels they get. */
export interface BackdoorPlan {
  /** Indices of the clean records to poison (ascending). */
  readonly chosen: readonly number[];
  /** The label each chosen record gets. */
  readonly labels: readonly number[];
  readonly definition: PoisonRateDefinition;
  readonly injection: InjectionMode;
  readonly variant: BackdoorVariant;
  readonly achievedRate: number;
}

/** A backdoor's options with their defaults resolved (see {@link checkBackdoorOptions}). */
export interface ResolvedBackdoorOptions {
  readonly definition: PoisonRateDefinition;
  readonly injection: InjectionMode;
  readonly variant: BackdoorVariant;
}

/**
 * Checks a backdoor's options against `k` classes — targeting, rate, injection, variant and rate
 * definition, `INVALID_ARGUMENT` naming the field — and resolves their defaults.
 */
export function checkBackdoorOptions(
  o: FeatureBackdoorOptions,
  k: number,
): ResolvedBackdoorOptions {
  checkTargeting(o, k);
  checkRate(o.rate);
  const definition = o.rateDefinition ?? 'of-training-set';
  const injection = o.injection ?? 'replace';
  const variant = o.variant ?? 'dirty-label';
  if (injection !== 'replace' && injection !== 'add') {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `injection must be replace or add, got ${injection}`,
      {
        field: 'injection',
      },
    );
  }
  if (!BACKDOOR_VARIANTS.includes(variant)) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `variant must be dirty-label or clean-label, got ${variant}`,
      { field: 'variant' },
    );
  }
  if (variant === 'clean-label' && o.mode === 'all-to-all') {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      'a clean-label backdoor needs a single target class',
      {
        field: 'variant',
      },
    );
  }
  if (definition === 'of-target-class' && o.mode === 'all-to-all') {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      "rate definition 'of-target-class' is not defined for all-to-all (every class is a target); use 'of-training-set'",
      { field: 'rateDefinition' },
    );
  }
  return { definition, injection, variant };
}

/**
 * Chooses the records to poison (seeded uniform sample from `rng.fork('select')`), validating
 * every option first ({@link checkBackdoorOptions}). Counts: dirty-label as `poisonCount`;
 * clean-label with `'of-target-class'` and `'replace'` poisons `round(rate · n_target)` (the
 * target class does not grow).
 */
export function planBackdoor(ds: Dataset, o: FeatureBackdoorOptions, rng: Rng): BackdoorPlan {
  const k = ds.classes.length;
  const { definition, injection, variant } = checkBackdoorOptions(o, k);
  const n = numRecords(ds);
  const candidates: number[] = [];
  let targetCount = 0;
  for (let i = 0; i < n; i++) {
    const label = ds.y[i]!;
    if (label === o.target) targetCount++;
    const eligible =
      variant === 'clean-label' ? label === o.target : backdoorTargetOf(o, label, k) !== null;
    if (eligible) candidates.push(i);
  }
  const p =
    variant === 'clean-label' && definition === 'of-target-class' && injection === 'replace'
      ? Math.round(o.rate * targetCount)
      : poisonCount(o.rate, definition, injection, n, targetCount);
  if (p > candidates.length) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `rate ${o.rate} (${definition}, ${injection}, ${variant}) needs ${p} poisoned records but only ${candidates.length} records are eligible`,
      { field: 'rate' },
    );
  }
  const chosen = Array.from(rng.fork('select').sample(candidates.length, p), (j) => candidates[j]!);
  chosen.sort((a, b) => a - b);
  const labels = chosen.map((i) =>
    variant === 'clean-label' ? ds.y[i]! : (backdoorTargetOf(o, ds.y[i]!, k) as number),
  );
  const outN = injection === 'replace' ? n : n + p;
  const achievedRate =
    definition === 'of-training-set'
      ? outN === 0
        ? 0
        : p / outN
      : variant === 'clean-label' && injection === 'replace'
        ? targetCount === 0
          ? 0
          : p / targetCount
        : targetCount + p === 0
          ? 0
          : p / (targetCount + p);
  return { chosen, labels, definition, injection, variant, achievedRate };
}

/** A fresh id not in `taken`: `${id}#suffix`, `${id}#suffix2`, ... */
function copyId(id: string, taken: Set<string>, suffix: string): string {
  let c = `${id}#${suffix}`;
  for (let k = 2; taken.has(c); k++) c = `${id}#${suffix}${k}`;
  taken.add(c);
  return c;
}

/** What {@link assembleBackdoor} adds to the attack record beyond the plan. */
export interface BackdoorRecordExtras {
  /** The trigger stamped on image records (recorded as `record.trigger`). */
  readonly trigger?: TriggerSpec;
  /** Record the variant in `record.params` (default true; the image backdoor has none). */
  readonly variantParam?: boolean;
}

/**
 * Builds the poisoned dataset and attack record from a plan: `modify` changes a record (its text
 * or its feature row, both given as copies), labels come from the plan. Used by the image, text
 * and tabular backdoors.
 */
export function assembleBackdoor(
  ds: Dataset,
  plan: BackdoorPlan,
  o: FeatureBackdoorOptions,
  rng: Rng,
  attack: string,
  modify: { text?: (text: string) => string; features?: (row: Float32Array) => void },
  extraParams: Record<string, unknown>,
  extras: BackdoorRecordExtras = {},
): PoisonResult {
  const n = numRecords(ds);
  const p = plan.chosen.length;
  const outN = plan.injection === 'replace' ? n : n + p;
  // Text attacks drop features (they would be stale); tabular ones keep and modify them.
  const keepX = !modify.text;
  const size = keepX ? recordSize(ds) : 0;
  const x = new Float32Array(outN * size);
  if (keepX) x.set(ds.x);
  const y = new Int32Array(outN);
  y.set(ds.y);
  const ids = ds.ids.slice();
  const text = ds.text?.slice();
  if (modify.text && !text) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `${attack} needs a text dataset (records with text)`,
    );
  }
  const mark =
    o.markSource === true
      ? `attack:${attack}`
      : typeof o.markSource === 'string'
        ? o.markSource
        : undefined;
  const source =
    ds.source?.slice() ?? (mark !== undefined ? new Array<string>(n).fill('') : undefined);
  const taken = new Set(ds.ids);
  const indices: number[] = [];
  const newIds: string[] = [];
  const originalLabels: number[] = [];
  for (let j = 0; j < p; j++) {
    const i = plan.chosen[j]!;
    const dst = plan.injection === 'replace' ? i : n + j;
    if (plan.injection === 'add') {
      ids.push(copyId(ds.ids[i]!, taken, 'bd'));
      source?.push(ds.source?.[i] ?? '');
      text?.push(ds.text![i]!);
    }
    if (modify.text) text![dst] = modify.text(ds.text![i]!);
    if (modify.features) {
      const row = ds.x.slice(i * size, (i + 1) * size);
      modify.features(row);
      x.set(row, dst * size);
    }
    y[dst] = plan.labels[j]!;
    if (mark !== undefined) source![dst] = mark;
    indices.push(dst);
    newIds.push(ids[dst]!);
    originalLabels.push(ds.y[i]!);
  }
  const shape = keepX ? [outN, ...recordShape(ds)] : [outN, 0];
  const dataset: Dataset = {
    x,
    shape,
    y,
    classes: ds.classes,
    ids,
    ...(source ? { source } : {}),
    ...(text ? { text } : {}),
  };
  const params: Record<string, unknown> = {
    mode: o.mode,
    rate: o.rate,
    rateDefinition: plan.definition,
    injection: plan.injection,
    ...(extras.variantParam === false ? {} : { variant: plan.variant }),
    markSource: mark ?? false,
    ...extraParams,
  };
  if (o.target !== undefined) params.target = o.target;
  if (o.source !== undefined) params.source = o.source;
  const record: AttackRecord = {
    attack,
    params,
    seed: rng.seed,
    indices,
    ids: newIds,
    sourceIndices: [...plan.chosen],
    originalLabels,
    poisonedLabels: [...plan.labels],
    ...(extras.trigger ? { trigger: extras.trigger } : {}),
    rateDefinition: plan.definition,
    achievedRate: plan.achievedRate,
    cleanSize: n,
    poisonedSize: outN,
  };
  return { dataset, poisoned: maskOf(outN, indices), record };
}
