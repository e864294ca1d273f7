import type { Dataset } from '../data/dataset.js';
import { AntidoteError } from '../errors.js';
import type { Rng } from '../util/rng.js';
import type { TriggerSpec } from './triggers.js';

/**
 * How a poison rate is measured. Both definitions are offered and every record names the one it
 * used, because papers mix them up:
 *
 * - `'of-training-set'`: poisoned records / records in the *poisoned* training set;
 * - `'of-target-class'`: poisoned records / records labelled with the target class in the
 *   *poisoned* training set (the poisons included).
 */
export type PoisonRateDefinition = 'of-training-set' | 'of-target-class';

/** Every rate definition, for CLI choices and validation. */
export const POISON_RATE_DEFINITIONS: readonly PoisonRateDefinition[] = Object.freeze([
  'of-training-set',
  'of-target-class',
]);

/**
 * How poisoned records enter the training set: `'replace'` modifies chosen originals in place
 * (the set keeps its size); `'add'` appends modified copies and keeps the originals.
 */
export type InjectionMode = 'replace' | 'add';

/**
 * The JSON-serialisable ground truth of one poisoning run. It is stored in the poisoned dataset
 * directory (`dataset.json`'s `attack` field) and is what every detector is scored against.
 */
export interface AttackRecord {
  /** Attack name, e.g. `'backdoor'` or `'label-flip'`. */
  readonly attack: string;
  /** The options the attack ran with (JSON values only). */
  readonly params: Readonly<Record<string, unknown>>;
  /** Seed of the `Rng` the attack was given. */
  readonly seed: number;
  /** Positions of the poisoned records in the poisoned dataset, ascending. */
  readonly indices: readonly number[];
  /** Ids of the poisoned records, in the order of {@link AttackRecord.indices}. */
  readonly ids: readonly string[];
  /**
   * For each poisoned record, the position of the clean record it was made from in the clean
   * dataset (equal to `indices` for in-place attacks).
   */
  readonly sourceIndices: readonly number[];
  /** Labels of the poisoned records before the attack. */
  readonly originalLabels: readonly number[];
  /** Labels of the poisoned records after the attack. */
  readonly poisonedLabels: readonly number[];
  /** The trigger stamped on the poisoned records, when there is one. */
  readonly trigger?: TriggerSpec;
  /** The rate definition the requested rate was measured with, when a rate was given. */
  readonly rateDefinition?: PoisonRateDefinition;
  /** The achieved rate under {@link AttackRecord.rateDefinition} (after rounding to records). */
  readonly achievedRate?: number;
  /** Records in the clean and in the poisoned dataset. */
  readonly cleanSize: number;
  /** Records in the poisoned dataset. */
  readonly poisonedSize: number;
}

/** What a {@link PoisoningAttack} returns. */
export interface PoisonResult {
  /** The poisoned training set (a new dataset; the input is never modified). */
  readonly dataset: Dataset;
  /** Ground truth, one byte per record of `dataset`: 1 = poisoned. */
  readonly poisoned: Uint8Array;
  /** The JSON-serialisable attack record. */
  readonly record: AttackRecord;
}

/**
 * A training-data poisoning attack (../shared/DESIGN.md §2): a pure, seeded function from a clean
 * dataset to a poisoned one plus its ground truth. The same dataset, options and seed give
 * byte-identical output.
 */
export interface PoisoningAttack<O> {
  /** Stable attack name, recorded in {@link AttackRecord.attack}. */
  readonly name: string;
  /** Poisons a copy of `ds`. Throws `AntidoteError('INVALID_ARGUMENT')` on bad options. */
  poison(ds: Dataset, options: O, rng: Rng): PoisonResult;
}

/** Throws INVALID_ARGUMENT unless `rate` is a finite number in [0, 1). */
export function checkRate(rate: number, name = 'rate'): void {
  if (typeof rate !== 'number' || !Number.isFinite(rate) || rate < 0 || rate >= 1) {
    throw new AntidoteError('INVALID_ARGUMENT', `${name} must be a number in [0, 1), got ${rate}`, {
      field: name,
    });
  }
}

/** Throws INVALID_ARGUMENT unless `label` is an integer class index in [0, k). */
export function checkClass(label: number, k: number, name: string): void {
  if (!Number.isInteger(label) || label < 0 || label >= k) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `${name} must be a class index in [0, ${k}), got ${label}`,
      { field: name },
    );
  }
}

/**
 * Resolves a class given by index or by name against `classes`. Numeric strings are indices.
 * Throws INVALID_ARGUMENT when it is neither.
 */
export function resolveClass(
  value: number | string,
  classes: readonly string[],
  name: string,
): number {
  if (typeof value === 'number') {
    checkClass(value, classes.length, name);
    return value;
  }
  const byName = classes.indexOf(value);
  if (byName >= 0) return byName;
  if (/^\d+$/.test(value)) {
    const i = Number(value);
    checkClass(i, classes.length, name);
    return i;
  }
  throw new AntidoteError(
    'INVALID_ARGUMENT',
    `${name} "${value}" is neither a class name (${classes.join(', ')}) nor an index`,
    { field: name },
  );
}

/** A ground-truth mask of length `n` with ones at `indices`. */
export function maskOf(n: number, indices: ArrayLike<number>): Uint8Array {
  const m = new Uint8Array(n);
  for (let i = 0; i < indices.length; i++) m[indices[i]!] = 1;
  return m;
}
