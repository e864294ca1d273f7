/**
 * What the clean-label attacks share (SIG, the label-consistent backdoor): a seeded sample of the
 * target class's records, modified in place with labels untouched, and the attack record of such
 * a run. A clean-label attack may only change the pixels of records that already carry the target
 * label (Turner, Tsipras & Madry 2019; Barni, Kallas & Tondi 2019).
 */
import { type Dataset, numRecords, recordSize } from '../data/dataset.js';
import { AntidoteError } from '../errors.js';
import type { Rng } from '../util/rng.js';
import { type AttackRecord, checkClass, maskOf, type PoisonResult } from './attack.js';
import type { TriggerFn } from './triggers.js';

/** A trigger applied at test time (or to training records): a pure function of one image. */
export interface ImageTransform {
  /** Returns a new, transformed copy of one HWC image of `shape`. */
  readonly apply: TriggerFn;
}

/** A seeded sample of the target class: its records, and the chosen ones (ascending). */
export interface TargetClassSample {
  /** Positions of every record labelled `target`. */
  readonly candidates: readonly number[];
  /** The chosen positions, ascending. */
  readonly chosen: readonly number[];
}

/**
 * Chooses `round(rate · |target class|)` records of the target class, uniformly, from
 * `rng.fork('select')`. `INVALID_ARGUMENT` for a target out of range, a rate outside (0, 1), or
 * a rate that poisons no record.
 */
export function sampleTargetClass(
  ds: Dataset,
  target: number,
  rate: number,
  rng: Rng,
): TargetClassSample {
  checkClass(target, ds.classes.length, 'target');
  checkTargetRate(rate);
  const candidates: number[] = [];
  for (let i = 0; i < numRecords(ds); i++) if (ds.y[i] === target) candidates.push(i);
  const p = Math.round(rate * candidates.length);
  if (p < 1) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `rate ${rate} of ${candidates.length} target-class records poisons no record`,
      { field: 'rate' },
    );
  }
  const chosen = Array.from(rng.fork('select').sample(candidates.length, p), (j) => candidates[j]!);
  chosen.sort((a, b) => a - b);
  return { candidates, chosen };
}

/** `INVALID_ARGUMENT` unless `rate` (a share of the target class) is a number in (0, 1). */
export function checkTargetRate(rate: number): void {
  if (typeof rate !== 'number' || !Number.isFinite(rate) || rate <= 0 || rate >= 1) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `rate must be a share of the target class in (0, 1), got ${rate}`,
      { field: 'rate' },
    );
  }
}

/**
 * The poisoned result of a clean-label attack that replaced the records at `sample.chosen` with
 * `rows` (one record each, in the same order): labels untouched (verified), the record written
 * with `rateDefinition: 'of-target-class'`.
 */
export function cleanLabelResult(
  ds: Dataset,
  sample: TargetClassSample,
  rows: Float32Array,
  attack: string,
  params: Readonly<Record<string, unknown>>,
  seed: number,
  extra: Partial<Pick<AttackRecord, 'trigger'>> = {},
): PoisonResult {
  const size = recordSize(ds);
  const n = numRecords(ds);
  const { chosen } = sample;
  if (rows.length !== chosen.length * size) {
    throw new AntidoteError(
      'SHAPE_MISMATCH',
      `${rows.length} values for ${chosen.length} records of ${size}`,
    );
  }
  const x = ds.x.slice();
  for (let j = 0; j < chosen.length; j++) {
    x.set(rows.subarray(j * size, (j + 1) * size), chosen[j]! * size);
  }
  const labels = chosen.map((i) => ds.y[i]!);
  const record: AttackRecord = {
    attack,
    params: { ...params, labelsUnchanged: true },
    seed,
    indices: [...chosen],
    ids: chosen.map((i) => ds.ids[i]!),
    sourceIndices: [...chosen],
    originalLabels: labels,
    poisonedLabels: labels,
    ...extra,
    rateDefinition: 'of-target-class',
    achievedRate: chosen.length / sample.candidates.length,
    cleanSize: n,
    poisonedSize: n,
  };
  return { dataset: { ...ds, x, y: ds.y.slice() }, poisoned: maskOf(n, chosen), record };
}

/** The records at `indices` of `ds`, transformed by `transform`, laid out one after another. */
export function transformRecords(
  ds: Dataset,
  indices: readonly number[],
  transform: (row: Float32Array, j: number) => Float32Array,
): Float32Array {
  const size = recordSize(ds);
  const out = new Float32Array(indices.length * size);
  for (let j = 0; j < indices.length; j++) {
    const i = indices[j]!;
    out.set(transform(ds.x.subarray(i * size, (i + 1) * size), j), j * size);
  }
  return out;
}
