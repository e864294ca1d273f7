/**
 * The plan shared by the backdoors that pair their poisons with "regularization" records: WaNet's
 * noise mode (Nguyen & Tran 2021: warped with a random extra warp, labels kept) and
 * Adaptive-Blend's conservatism ratio (Qi et al. 2023: the trigger stamped, labels kept). The
 * poisons are a seeded sample of the records whose label is not the target (relabelled to the
 * target, all-to-one); the regularization records a seeded sample of the remaining ones (any
 * class). Both kinds are written in the record's ground truth (`indices`): the attacker modified
 * them. `originalLabels` / `poisonedLabels` tell them apart (only poisons change label), and
 * `params.poisons` / `params.regularization` count them.
 */
import { type Dataset, numRecords, recordSize } from '../data/dataset.js';
import { AntidoteError } from '../errors.js';
import type { Rng } from '../util/rng.js';
import { type AttackRecord, checkClass, checkRate, maskOf, type PoisonResult } from './attack.js';

/** Which records a regularized backdoor poisons and which it uses as regularization. */
export interface RegularizedPlan {
  /** Records relabelled to the target, ascending. */
  readonly poisons: readonly number[];
  /** Records modified with their label kept, ascending. */
  readonly regularization: readonly number[];
}

/**
 * Chooses `round(rate · N)` poisons among the non-target records (`rng.fork('select')`) and
 * `regularization` records among the rest (`rng.fork('regularization')`). `INVALID_ARGUMENT`
 * for a bad target or rate, a rate that poisons nothing, or more records than there are.
 */
export function planRegularizedBackdoor(
  ds: Dataset,
  target: number,
  rate: number,
  regularization: (poisons: number) => number,
  rng: Rng,
): RegularizedPlan {
  checkClass(target, ds.classes.length, 'target');
  checkRate(rate);
  const n = numRecords(ds);
  const p = Math.round(rate * n);
  const candidates: number[] = [];
  for (let i = 0; i < n; i++) if (ds.y[i] !== target) candidates.push(i);
  if (p < 1) {
    throw new AntidoteError('INVALID_ARGUMENT', `rate ${rate} of ${n} records poisons no record`, {
      field: 'rate',
    });
  }
  if (p > candidates.length) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `rate ${rate} needs ${p} records outside the target class; there are ${candidates.length}`,
      { field: 'rate' },
    );
  }
  const poisons = Array.from(
    rng.fork('select').sample(candidates.length, p),
    (j) => candidates[j]!,
  );
  const taken = new Set(poisons);
  const rest: number[] = [];
  for (let i = 0; i < n; i++) if (!taken.has(i)) rest.push(i);
  const r = regularization(p);
  if (!Number.isInteger(r) || r < 0 || r > rest.length) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `${r} regularization records asked, ${rest.length} records are left after the poisons`,
      { field: 'regularization' },
    );
  }
  const reg = Array.from(rng.fork('regularization').sample(rest.length, r), (j) => rest[j]!);
  return {
    poisons: poisons.sort((a, b) => a - b),
    regularization: reg.sort((a, b) => a - b),
  };
}

/**
 * The plan of the backdoors whose regularization records are a share of the training set
 * (Adaptive-Blend's and Adaptive-Patch's cover rate): `round(coverRate · N)` of them.
 */
export function planWithCoverRate(
  ds: Dataset,
  target: number,
  rate: number,
  coverRate: number,
  rng: Rng,
): RegularizedPlan {
  const n = numRecords(ds);
  return planRegularizedBackdoor(ds, target, rate, () => Math.round(coverRate * n), rng);
}

/**
 * Applies a plan: poisons get `poison(row, j)` and the target label, regularization records get
 * `regularize(row, j)` and keep theirs (j counts within each kind, in ascending order).
 */
export function assembleRegularizedBackdoor(
  ds: Dataset,
  plan: RegularizedPlan,
  target: number,
  poison: (row: Float32Array, j: number) => Float32Array,
  regularize: (row: Float32Array, j: number) => Float32Array,
  record: Pick<AttackRecord, 'attack' | 'params' | 'seed'>,
): PoisonResult {
  const n = numRecords(ds);
  const size = recordSize(ds);
  const x = ds.x.slice();
  const y = ds.y.slice();
  const row = (i: number) => ds.x.subarray(i * size, (i + 1) * size);
  plan.poisons.forEach((i, j) => {
    x.set(poison(row(i), j), i * size);
    y[i] = target;
  });
  plan.regularization.forEach((i, j) => {
    x.set(regularize(row(i), j), i * size);
  });
  const indices = [...plan.poisons, ...plan.regularization].sort((a, b) => a - b);
  const full: AttackRecord = {
    attack: record.attack,
    params: {
      ...record.params,
      poisons: plan.poisons.length,
      regularization: plan.regularization.length,
    },
    seed: record.seed,
    indices,
    ids: indices.map((i) => ds.ids[i]!),
    sourceIndices: indices,
    originalLabels: indices.map((i) => ds.y[i]!),
    poisonedLabels: indices.map((i) => y[i]!),
    rateDefinition: 'of-training-set',
    achievedRate: plan.poisons.length / n,
    cleanSize: n,
    poisonedSize: n,
  };
  return { dataset: { ...ds, x, y }, poisoned: maskOf(n, indices), record: full };
}
