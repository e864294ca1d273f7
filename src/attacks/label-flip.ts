/**
 * Label-flipping poisoning: change the labels of some training records, features untouched.
 *
 * Modes:
 * - `'random'`: each chosen record gets a uniformly random *other* class (uniform label noise);
 * - `'targeted'`: records of class `source` are relabelled `target` (e.g. spam → ham);
 * - `'swap'`: records of classes `source` and `target` trade labels;
 * - `'adversarial'`: the budget goes to the flips that hurt most, chosen with a clean model's
 *   class probabilities (see {@link adversarialFlipPlan}).
 */
import { type Dataset, numRecords, recordSize } from '../data/dataset.js';
import type { Classifier } from '../engine/classifier.js';
import { AntidoteError } from '../errors.js';
import type { Rng } from '../util/rng.js';
import {
  type AttackRecord,
  checkClass,
  checkRate,
  maskOf,
  type PoisoningAttack,
  type PoisonResult,
} from './attack.js';

/** The label-flip modes. */
export type LabelFlipMode = 'random' | 'targeted' | 'swap' | 'adversarial';

/** Every label-flip mode, for CLI choices. */
export const LABEL_FLIP_MODES: readonly LabelFlipMode[] = Object.freeze([
  'random',
  'targeted',
  'swap',
  'adversarial',
]);

/**
 * How the adversarial mode ranks records (Xiao et al. 2015, "Support vector machines under
 * adversarial label contamination", Neurocomputing 160: the farthest-first and nearest-first
 * flip heuristics they compare ALFA against):
 * - `'farthest-first'` (default): flip the records the clean model classifies most confidently
 *   correct, i.e. farthest from the decision boundary: their flipped labels contradict the
 *   model most, so each flip carries the largest training loss;
 * - `'nearest-first'`: flip the records closest to the decision boundary (smallest |margin|).
 */
export type AdversarialFlipRule = 'farthest-first' | 'nearest-first';

/** Options of {@link labelFlipAttack}. Give exactly one of `rate` and `count`. */
export interface LabelFlipOptions {
  readonly mode: LabelFlipMode;
  /** Budget as a fraction in [0, 1) of the training set. */
  readonly rate?: number;
  /** Budget as a number of records. */
  readonly count?: number;
  /** targeted: the class to relabel; swap: one of the two classes. */
  readonly source?: number;
  /** targeted: the new label; swap: the other class. */
  readonly target?: number;
  /**
   * adversarial: the clean model's class probabilities on this dataset, `[N, K]` row-major
   * (see {@link cleanModelProbabilities}). Required for that mode.
   */
  readonly probabilities?: Float32Array;
  /** adversarial: the ranking rule; default `'farthest-first'`. */
  readonly rule?: AdversarialFlipRule;
  /** Set `source` of flipped records to `'attack:label-flip'` (or this string); off by default. */
  readonly markSource?: boolean | string;
}

/**
 * The clean model's class probabilities on `ds`, `[N, K]`, computed in batches: the input the
 * adversarial flip needs.
 */
export async function cleanModelProbabilities(
  model: Classifier,
  ds: Dataset,
  batchSize = 1024,
): Promise<Float32Array> {
  const n = numRecords(ds);
  const size = recordSize(ds);
  const k = model.numClasses;
  if (k !== ds.classes.length) {
    throw new AntidoteError(
      'SHAPE_MISMATCH',
      `model has ${k} classes but the dataset has ${ds.classes.length}`,
    );
  }
  const out = new Float32Array(n * k);
  for (let s = 0; s < n; s += batchSize) {
    const m = Math.min(batchSize, n - s);
    out.set(await model.predictProba(ds.x.subarray(s * size, (s + m) * size), m), s * k);
  }
  return out;
}

/**
 * The adversarial flip plan: which records to flip (in rank order) and to which class.
 *
 * Score: the margin `log p[y] − log max_{k≠y} p[k]` of the clean model on the record's given
 * label (probabilities clamped at 1e-30). `farthest-first` ranks by margin descending,
 * `nearest-first` by |margin| ascending; ties broken by a seeded permutation.
 *
 * New label: for every record of class c the same class — the one the clean model confuses c
 * with most (highest mean probability over the records of c, c excluded). Class-consistent
 * flips bias the learnt boundary instead of averaging out as uniform noise does.
 */
export function adversarialFlipPlan(
  y: Int32Array,
  probabilities: Float32Array,
  k: number,
  rule: AdversarialFlipRule,
  rng: Rng,
): { order: Int32Array; flipTo: Int32Array } {
  const n = y.length;
  if (probabilities.length !== n * k) {
    throw new AntidoteError(
      'SHAPE_MISMATCH',
      `adversarial flip needs [${n}, ${k}] probabilities, got ${probabilities.length} values`,
      { field: 'probabilities' },
    );
  }
  const meanProb = new Float64Array(k * k);
  const counts = new Float64Array(k);
  const margin = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const c = y[i]!;
    counts[c]!++;
    let best = 0;
    for (let j = 0; j < k; j++) {
      const p = probabilities[i * k + j]!;
      if (!Number.isFinite(p)) {
        throw new AntidoteError('NON_FINITE_VALUE', `probability of record ${i} is ${p}`, {
          record: i,
        });
      }
      meanProb[c * k + j]! += p;
      if (j !== c && p > best) best = p;
    }
    const own = probabilities[i * k + c]!;
    margin[i] = Math.log(Math.max(own, 1e-30)) - Math.log(Math.max(best, 1e-30));
  }
  const flipTo = new Int32Array(k);
  for (let c = 0; c < k; c++) {
    let arg = -1;
    let best = -1;
    for (let j = 0; j < k; j++) {
      if (j === c) continue;
      const v = counts[c]! > 0 ? meanProb[c * k + j]! / counts[c]! : 0;
      if (v > best) {
        best = v;
        arg = j;
      }
    }
    flipTo[c] = arg;
  }
  const tiebreak = rng.permutation(n);
  const rank = new Int32Array(n);
  for (let i = 0; i < n; i++) rank[tiebreak[i]!] = i;
  const key = (i: number) => (rule === 'farthest-first' ? -margin[i]! : Math.abs(margin[i]!));
  const order = Int32Array.from({ length: n }, (_, i) => i).sort(
    (a, b) => key(a) - key(b) || rank[a]! - rank[b]!,
  );
  return { order, flipTo };
}

function budgetOf(options: LabelFlipOptions, n: number): number {
  if ((options.rate === undefined) === (options.count === undefined)) {
    throw new AntidoteError('INVALID_ARGUMENT', 'give exactly one of rate and count', {
      field: 'rate',
    });
  }
  if (options.rate !== undefined) {
    checkRate(options.rate);
    return Math.round(options.rate * n);
  }
  const c = options.count as number;
  if (!Number.isInteger(c) || c < 0 || c > n) {
    throw new AntidoteError('INVALID_ARGUMENT', `count must be an integer in [0, ${n}], got ${c}`, {
      field: 'count',
    });
  }
  return c;
}

/**
 * The label-flip attack (Biggio et al. 2012 and Xiao et al. 2015 study it against SVMs). Records
 * are chosen from the eligible ones (all, the source class, or the two swapped classes) uniformly
 * with `rng.fork('select')`, or by the adversarial ranking; features are never changed, so
 * `poisoned` marks exactly the records whose label differs from the clean one.
 */
export const labelFlipAttack: PoisoningAttack<LabelFlipOptions> = Object.freeze({
  name: 'label-flip',
  poison(ds: Dataset, options: LabelFlipOptions, rng: Rng): PoisonResult {
    const n = numRecords(ds);
    const k = ds.classes.length;
    if (!(LABEL_FLIP_MODES as readonly unknown[]).includes(options.mode)) {
      throw new AntidoteError(
        'INVALID_ARGUMENT',
        `label-flip mode must be one of ${LABEL_FLIP_MODES.join(', ')}, got ${options.mode}`,
        { field: 'mode' },
      );
    }
    if (k < 2)
      throw new AntidoteError('INVALID_ARGUMENT', 'label flipping needs at least 2 classes');
    const budget = budgetOf(options, n);
    const rule = options.rule ?? 'farthest-first';
    if (options.mode === 'targeted' || options.mode === 'swap') {
      for (const f of ['source', 'target'] as const) {
        if (options[f] === undefined) {
          throw new AntidoteError(
            'INVALID_ARGUMENT',
            `${options.mode} label flip needs a ${f} class`,
            {
              field: f,
            },
          );
        }
        checkClass(options[f] as number, k, f);
      }
      if (options.source === options.target) {
        throw new AntidoteError(
          'INVALID_ARGUMENT',
          `source and target are both class ${options.source}`,
          {
            field: 'source',
          },
        );
      }
    }
    if (options.mode === 'adversarial' && rule !== 'farthest-first' && rule !== 'nearest-first') {
      throw new AntidoteError('INVALID_ARGUMENT', `unknown adversarial rule ${rule}`, {
        field: 'rule',
      });
    }
    if (options.mode === 'adversarial' && !options.probabilities) {
      throw new AntidoteError(
        'INVALID_ARGUMENT',
        "adversarial label flip needs the clean model's probabilities (cleanModelProbabilities)",
        { field: 'probabilities' },
      );
    }

    let chosen: number[];
    const newLabel = new Map<number, number>();
    const labelRng = rng.fork('labels');
    if (options.mode === 'adversarial') {
      const plan = adversarialFlipPlan(ds.y, options.probabilities!, k, rule, rng.fork('tiebreak'));
      chosen = Array.from(plan.order.subarray(0, budget));
      for (const i of chosen) newLabel.set(i, plan.flipTo[ds.y[i]!]!);
    } else {
      const eligible: number[] = [];
      for (let i = 0; i < n; i++) {
        const c = ds.y[i];
        if (
          options.mode === 'random' ||
          (options.mode === 'targeted' && c === options.source) ||
          (options.mode === 'swap' && (c === options.source || c === options.target))
        ) {
          eligible.push(i);
        }
      }
      if (budget > eligible.length) {
        throw new AntidoteError(
          'INVALID_ARGUMENT',
          `budget of ${budget} flips exceeds the ${eligible.length} eligible records`,
          { field: options.rate !== undefined ? 'rate' : 'count' },
        );
      }
      chosen = Array.from(rng.fork('select').sample(eligible.length, budget), (j) => eligible[j]!);
      chosen.sort((a, b) => a - b);
      for (const i of chosen) {
        const c = ds.y[i]!;
        let to: number;
        if (options.mode === 'random') {
          to = labelRng.int(k - 1);
          if (to >= c) to++;
        } else if (options.mode === 'targeted') {
          to = options.target as number;
        } else {
          to = c === options.source ? (options.target as number) : (options.source as number);
        }
        newLabel.set(i, to);
      }
    }
    chosen.sort((a, b) => a - b);

    const y = ds.y.slice();
    const mark =
      options.markSource === true
        ? 'attack:label-flip'
        : typeof options.markSource === 'string'
          ? options.markSource
          : undefined;
    const source =
      mark !== undefined
        ? (ds.source?.slice() ?? new Array<string>(n).fill(''))
        : ds.source?.slice();
    const originalLabels: number[] = [];
    const poisonedLabels: number[] = [];
    for (const i of chosen) {
      originalLabels.push(ds.y[i]!);
      y[i] = newLabel.get(i) as number;
      poisonedLabels.push(y[i]);
      if (mark !== undefined && source) source[i] = mark;
    }
    const dataset: Dataset = {
      x: ds.x.slice(),
      shape: ds.shape.slice(),
      y,
      classes: ds.classes,
      ids: ds.ids.slice(),
      ...(source ? { source } : {}),
      ...(ds.text ? { text: ds.text.slice() } : {}),
    };
    const params: Record<string, unknown> = { mode: options.mode, markSource: mark ?? false };
    if (options.rate !== undefined) params.rate = options.rate;
    if (options.count !== undefined) params.count = options.count;
    if (options.source !== undefined) params.source = options.source;
    if (options.target !== undefined) params.target = options.target;
    if (options.mode === 'adversarial') {
      params.rule = rule;
      params.ruleSource =
        'Xiao et al. 2015, Support vector machines under adversarial label contamination (farthest-/nearest-first flips), flipping to the class the clean model confuses most';
    }
    const record: AttackRecord = {
      attack: 'label-flip',
      params,
      seed: rng.seed,
      indices: chosen,
      ids: chosen.map((i) => ds.ids[i]!),
      sourceIndices: chosen,
      originalLabels,
      poisonedLabels,
      ...(options.rate !== undefined ? { rateDefinition: 'of-training-set' as const } : {}),
      achievedRate: n === 0 ? 0 : chosen.length / n,
      cleanSize: n,
      poisonedSize: n,
    };
    return { dataset, poisoned: maskOf(n, chosen), record };
  },
});
