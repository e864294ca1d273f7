/**
 * Tabular backdoor poisoning: a feature-value trigger — chosen columns set to chosen values —
 * stamped on some training records, which are relabelled to the attacker's class (dirty-label)
 * or chosen from it (clean-label). E.g. on German Credit, applicants with
 * `checking_status = 'no checking'` and `duration = 7` get scored "good"; on Spambase, spam with
 * a chosen word frequency slips past the filter. The tabular analogue of BadNets (Gu et al.
 * 2017) used for tabular poisoning studies (e.g. Joe et al. 2021, "Exploiting Missing Value
 * Patterns for a Backdoor Attack on Machine Learning Models of Electronic Health Records").
 *
 * Values are raw feature values (for categorical columns: the level index); see
 * {@link resolveFeatureTrigger} to build a trigger from column and level names. Rate, targeting,
 * variants and injection are those of the text backdoor (`planBackdoor`).
 */
import { type Dataset, recordShape } from '../data/dataset.js';
import { columnIndex, columnValue, type TabularColumn } from '../data/datasets/tabular.js';
import { AntidoteError } from '../errors.js';
import type { Rng } from '../util/rng.js';
import type { PoisoningAttack, PoisonResult } from './attack.js';
import {
  assembleBackdoor,
  type BackdoorTargeting,
  backdoorTargetOf,
  checkTargeting,
  type FeatureBackdoorOptions,
  planBackdoor,
} from './backdoor-plan.js';

/** A feature-value trigger: `x[features[j]] = values[j]`. */
export interface FeatureTriggerSpec {
  readonly kind: 'feature-values';
  /** Column indices (distinct). */
  readonly features: readonly number[];
  /** One value per column. */
  readonly values: readonly number[];
}

/** Options of {@link tabularBackdoorAttack}. */
export interface TabularBackdoorOptions extends FeatureBackdoorOptions {
  readonly trigger: FeatureTriggerSpec;
}

/** Checks a trigger against records of `d` features; `INVALID_ARGUMENT` naming the field. */
export function checkFeatureTrigger(spec: FeatureTriggerSpec, d: number): void {
  const bad = (msg: string, field: string): never => {
    throw new AntidoteError('INVALID_ARGUMENT', msg, { field });
  };
  if (spec?.kind !== 'feature-values') bad('tabular triggers are of kind feature-values', 'kind');
  if (!Array.isArray(spec.features) || spec.features.length === 0) {
    bad('a feature trigger needs at least one feature', 'features');
  }
  if (!Array.isArray(spec.values) || spec.values.length !== spec.features.length) {
    bad(`a feature trigger needs one value per feature (${spec.features.length})`, 'values');
  }
  const seen = new Set<number>();
  for (const f of spec.features) {
    if (!Number.isInteger(f) || f < 0 || f >= d)
      bad(`feature ${f} is outside [0, ${d})`, 'features');
    if (seen.has(f)) bad(`feature ${f} appears twice`, 'features');
    seen.add(f);
  }
  for (const v of spec.values)
    if (!Number.isFinite(v)) bad(`trigger value ${v} is not finite`, 'values');
}

/** Stamps the trigger on one record (in place). */
export function applyFeatureTrigger(row: Float32Array, spec: FeatureTriggerSpec): void {
  spec.features.forEach((f, j) => {
    row[f] = spec.values[j]!;
  });
}

/**
 * Builds a trigger from column names and values (numbers, or level names of categorical
 * columns), e.g. `{ checking_status: 'no checking', duration: 7 }`.
 */
export function resolveFeatureTrigger(
  columns: readonly TabularColumn[],
  assignments: Readonly<Record<string, string | number>>,
): FeatureTriggerSpec {
  const features: number[] = [];
  const values: number[] = [];
  for (const [name, value] of Object.entries(assignments)) {
    const i = columnIndex(columns, name);
    features.push(i);
    values.push(columnValue(columns, i, value));
  }
  if (features.length === 0) {
    throw new AntidoteError('INVALID_ARGUMENT', 'a feature trigger needs at least one column', {
      field: 'features',
    });
  }
  return { kind: 'feature-values', features, values };
}

/** The tabular backdoor attack; the trigger is recorded in `record.params.trigger`. */
export const tabularBackdoorAttack: PoisoningAttack<TabularBackdoorOptions> = Object.freeze({
  name: 'tabular-backdoor',
  poison(ds: Dataset, options: TabularBackdoorOptions, rng: Rng): PoisonResult {
    const shape = recordShape(ds);
    if (shape.length !== 1) {
      throw new AntidoteError(
        'INVALID_ARGUMENT',
        `tabular backdoors need records of shape [D], got [${shape.join(', ')}]`,
      );
    }
    checkFeatureTrigger(options.trigger, shape[0]!);
    const plan = planBackdoor(ds, options, rng);
    return assembleBackdoor(
      ds,
      plan,
      options,
      rng,
      'tabular-backdoor',
      { features: (row) => applyFeatureTrigger(row, options.trigger) },
      {
        trigger: {
          kind: 'feature-values',
          features: [...options.trigger.features],
          values: [...options.trigger.values],
        },
      },
    );
  },
});

/**
 * Triggered copies of the test records the backdoor targets (see `triggeredTexts`), as a
 * feature matrix `[n, D]`.
 */
export function triggeredRecords(
  ds: Dataset,
  spec: FeatureTriggerSpec,
  targeting: BackdoorTargeting,
): { x: Float32Array; n: number; yTrue: Int32Array; targets: Int32Array } {
  const d = ds.shape[1];
  if (ds.shape.length !== 2 || d === undefined) {
    throw new AntidoteError(
      'SHAPE_MISMATCH',
      `tabular backdoors need records of shape [D], got [${ds.shape.slice(1).join(', ')}]`,
    );
  }
  checkFeatureTrigger(spec, d);
  const k = ds.classes.length;
  checkTargeting(targeting, k);
  const rows: number[] = [];
  const tg: number[] = [];
  for (let i = 0; i < ds.y.length; i++) {
    const t = backdoorTargetOf(targeting, ds.y[i]!, k);
    if (t !== null) {
      rows.push(i);
      tg.push(t);
    }
  }
  const x = new Float32Array(rows.length * d);
  rows.forEach((i, j) => {
    const row = ds.x.slice(i * d, (i + 1) * d);
    applyFeatureTrigger(row, spec);
    x.set(row, j * d);
  });
  return {
    x,
    n: rows.length,
    yTrue: Int32Array.from(rows, (i) => ds.y[i]!),
    targets: Int32Array.from(tg),
  };
}
