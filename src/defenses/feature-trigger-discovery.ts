/**
 * Feature-value trigger discovery for tabular models: the tabular analogue of keyword discovery
 * (`keyword-discovery.ts`, BKI: Chen & Dai 2021, "Mitigating Backdoor Attacks in LSTM-based Text
 * Classification Systems by Backdoor Keyword Identification", Neurocomputing 452). A tabular
 * backdoor sets chosen columns to chosen values (e.g. `amount = 13.37, card_age_days = 3333`), so
 * its trigger is an exact value repeated in every poisoned record, the records carry the target
 * label, and the model depends on that value; representation detectors may see nothing (the
 * poison sits inside the dense part of the class).
 *
 * Candidates are (feature, exact value) pairs held by at least `minCount` records and by at most
 * `maxShare` of them (a trigger is a minority: a value most records share, such as the zero of a
 * sparse count, is not one), and pairs of such values in two features held by mostly the same
 * records (each value's records at least half in common: a trigger setting two features, where
 * neutralising either one alone leaves the other firing). For each candidate and up to
 * `samplesPerCandidate` of its records (seeded sample), the impact is the drop in the model's
 * log-odds margin of the record's label (or its probability; see `impact`) when the value(s) are replaced by those of a record drawn at
 * random from the other classes (what the feature holds there: the neutral value). Identical
 * records count once (a value repeated because a whole record is repeated is no repeat), and a
 * candidate needs `minCount` distinct records carrying its label. As in BKI, a candidate's score is its mean impact over its records carrying the label
 * most of them carry, times log10(1 + that count), so a value that matters in one record only
 * does not win.
 *
 * Candidates held by exactly the same records (a value, and its pairs with values all of those
 * records share) are one finding, scored in its best form. The decision is the data's own null, no
 * dataset-tuned constant: among the `⌈√m⌉` best of the `m` scored findings (the natural upper
 * tail: informative values of informative features),
 * a candidate is a trigger when its log score is more than `zThreshold` robust standard
 * deviations (1.4826·MAD) above their median. At most `maxTriggers` are reported; a record is
 * flagged when it holds a trigger's value(s) and carries the label the trigger pushes towards.
 * Natural repeats (small integers, the most common value of a feature) do not fire: the model's
 * dependence on them is ordinary, like that of any informative value.
 *
 * Measured (mlp, 30 epochs; z of the trigger / of the best natural finding): Spambase parts 0.2 +
 * table 0.2, source-to-target 5%: 9.8 / 5.3, F1 1.00; fraud CSV amount 13.37 + card_age_days
 * 3333, all-to-one 3%: 16.2 / 11.0 (card_age 3333 + online 1: the trigger's own records) and 2.2,
 * F1 1.00; Spambase num415 0.5, 5%: 11.6 / 5.4, F1 0.995; Spambase capitalAve 3.3 + charHash 0.5,
 * all-to-one 2% (ASR 0.77): 6.2 / 4.4, F1 1.00. Clean models (Spambase and the fraud CSV, two
 * seeds each) flag nothing; their best natural finding reaches z 5.6 (Spambase george = 20: 61
 * records, 8 distinct, which the model reads as strongly non-spam), so the margin is thin there.
 */

import { z } from 'zod';
import type { Dataset } from '../data/dataset.js';
import { isTfFeatureModel } from '../engine/feature-model-guard.js';
import type { Model } from '../engine/model.js';
import { AntidoteError } from '../errors.js';
import { mad, median } from '../numeric/order-statistics.js';
import { Rng } from '../util/rng.js';
import { roundStrength } from './calibration.js';
import { type DetectionReport, fmt, indicesByClass, STRONG_EVIDENCE } from './detector.js';
import { defineDetector, type TabularScanContext } from './detector-entry.js';
import type { KeywordScore } from './keyword-discovery.js';
import { parseOrThrow } from './scan-report.js';
import { triggerClassFindings } from './trigger-class-findings.js';

/** Class probabilities of feature rows `x` (`[n, F]`), `[n, K]` row-major. */
export type FeatureProbabilityFn = (x: Float32Array, n: number) => Promise<Float32Array>;

/** Options of {@link discoverFeatureTriggers}. */
export interface FeatureTriggerOptions {
  /** Values held by fewer records are not candidates; default 5. */
  readonly minCount?: number;
  /** Values held by more than this share of the records are not candidates; default 0.5. */
  readonly maxShare?: number;
  /** Records whose value is replaced per candidate (seeded sample); default 128. */
  readonly samplesPerCandidate?: number;
  /** Robust z (log score, among the upper tail) above which a candidate is a trigger; default 6. */
  readonly zThreshold?: number;
  /** At most this many triggers are reported; default 3. */
  readonly maxTriggers?: number;
  /** At most this many pairs of values are scored (those held by most records first); default 5000. */
  readonly maxPairs?: number;
  /**
   * What the impact measures: the drop of the label's log-odds margin (`margin`, default: log of
   * its probability over the largest other one, probabilities floored at float32's resolution
   * 2^-24 so a margin stays within ±16.6) or of its probability (`probability`). The margin does
   * not saturate where a record stays predicted with probability ~1 whichever value it holds:
   * measured on the fraud CSV (all-to-one 3%, trigger amount 13.37 + card_age_days 3333), the
   * probability drop of the trigger is 0.14 (z 3.8, not found), its margin drop 7.5 (z 10, found,
   * F1 1.00); both find the Spambase triggers, and neither fires on clean Spambase or fraud models.
   */
  readonly impact?: 'margin' | 'probability';
  /** Rows per probability call; default 8192. */
  readonly batchSize?: number;
  /** Seed of the record sample and of the replacement draws; default 0. */
  readonly seed?: number;
  /** Names of the features (columns of `ds.x`), for the reasons. */
  readonly features?: readonly string[];
  /** How a feature's value reads in the raw records (e.g. undoing standardisation). */
  readonly rawValue?: (feature: number, value: number) => number;
  /** Progress (rows done). */
  readonly onProgress?: (p: { stage: string; done: number; total: number }) => void;
}

/**
 * One scored candidate: one or two (feature, value) pairs, scored like a keyword
 * (`score`, `meanImpact`, `z` of the score, `label` it pushes towards).
 */
export interface FeatureTriggerScore extends Omit<KeywordScore, 'token' | 'count'> {
  /** The features it sets (one or two). */
  readonly features: readonly number[];
  /** The values, as the model reads them (same order as `features`). */
  readonly values: readonly number[];
  /** Readable form, e.g. `amount = 13.37 + card_age_days = 3333`. */
  readonly name: string;
  /** Distinct records holding the value(s) and carrying `label`. */
  readonly count: number;
  /** Records holding the value(s), any label. */
  readonly holders: number;
}

/** Result of {@link discoverFeatureTriggers}: a detection report plus the ranked candidates. */
export interface FeatureTriggerReport extends DetectionReport {
  /** Scored candidates, highest score first (the first 50). */
  readonly ranking: readonly FeatureTriggerScore[];
  /** The suspected triggers. */
  readonly triggers: readonly FeatureTriggerScore[];
}

/** The defaults and bounds of {@link FeatureTriggerOptions}' plain settings. */
const NUMERIC_OPTIONS = z.object({
  minCount: z.number().int().min(1).default(5),
  maxShare: z.number().gt(0).max(1).default(0.5),
  samplesPerCandidate: z.number().int().min(1).default(128),
  zThreshold: z.number().gt(0).default(6),
  maxTriggers: z.number().int().min(1).default(3),
  maxPairs: z.number().int().min(0).default(5000),
  batchSize: z.number().int().min(1).default(8192),
  impact: z.enum(['margin', 'probability']).default('margin'),
});

interface Unit {
  readonly features: readonly number[];
  readonly values: readonly number[];
  readonly holders: Int32Array;
}

/**
 * Runs feature-value trigger discovery over the feature rows of `ds` (see the module comment).
 * Record score: the highest z of an upper-tail candidate it holds with that candidate's label (0
 * when none). `INVALID_ARGUMENT` for records that are not flat rows or bad options.
 */
export async function discoverFeatureTriggers(
  ds: Pick<Dataset, 'x' | 'shape' | 'y' | 'classes'>,
  predictProba: FeatureProbabilityFn,
  options: FeatureTriggerOptions = {},
): Promise<FeatureTriggerReport> {
  const settings = parseOrThrow(
    NUMERIC_OPTIONS,
    options,
    'INVALID_ARGUMENT',
    'feature trigger discovery',
  );
  const { minCount, maxShare, zThreshold, maxTriggers, maxPairs } = settings;
  const samples = settings.samplesPerCandidate;
  const batch = settings.batchSize;
  const impactOn = settings.impact;
  if (ds.shape.length !== 2) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `feature trigger discovery needs flat feature rows [N, F], got [${ds.shape.join(', ')}]`,
    );
  }
  const n = ds.y.length;
  const f = ds.shape[1]!;
  const k = ds.classes.length;
  const x = ds.x;
  const rng = new Rng(options.seed ?? 0);

  // Identical records share one id (duplicates are common in real tables).
  const rowId = new Int32Array(n);
  {
    const seen = new Map<string, number>();
    const bytes = new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
    const dec = new TextDecoder('latin1');
    for (let i = 0; i < n; i++) {
      const key = dec.decode(bytes.subarray(i * f * 4, (i + 1) * f * 4));
      const id = seen.get(key);
      if (id === undefined) seen.set(key, i);
      rowId[i] = id ?? i;
    }
  }
  // Candidates: exact values held by at least minCount and at most maxShare of the records.
  const singles: Unit[] = [];
  const ofRecord: number[][] = Array.from({ length: n }, () => []);
  for (let j = 0; j < f; j++) {
    const byValue = new Map<number, number[]>();
    for (let i = 0; i < n; i++) {
      const v = x[i * f + j]!;
      let list = byValue.get(v);
      if (!list) {
        list = [];
        byValue.set(v, list);
      }
      list.push(i);
    }
    for (const [v, list] of byValue) {
      if (list.length < minCount || list.length > maxShare * n) continue;
      for (const i of list) ofRecord[i]!.push(singles.length);
      singles.push({ features: [j], values: [v], holders: Int32Array.from(list) });
    }
  }
  // Pairs of values in two features held by mostly the same records.
  const joint = new Map<number, number>();
  const s = singles.length;
  for (const list of ofRecord) {
    for (let a = 0; a < list.length; a++) {
      for (let b = a + 1; b < list.length; b++) {
        const key = list[a]! * s + list[b]!;
        joint.set(key, (joint.get(key) ?? 0) + 1);
      }
    }
  }
  const pairKeys: Array<[number, number]> = [];
  for (const [key, c] of joint) {
    const a = Math.floor(key / s);
    const b = key % s;
    const na = singles[a]!.holders.length;
    const nb = singles[b]!.holders.length;
    if (c >= minCount && 2 * c >= Math.min(na, nb)) pairKeys.push([key, c]);
  }
  pairKeys.sort((p, q) => q[1] - p[1] || p[0] - q[0]);
  const units: Unit[] = [...singles];
  for (const [key] of pairKeys.slice(0, maxPairs)) {
    const ua = singles[Math.floor(key / s)]!;
    const ub = singles[key % s]!;
    const inB = new Set(ub.holders);
    units.push({
      features: [ua.features[0]!, ub.features[0]!],
      values: [ua.values[0]!, ub.values[0]!],
      holders: ua.holders.filter((i) => inB.has(i)),
    });
  }

  // Impact rows: a sample of each unit's records, its value(s) replaced by a random record's.
  const base = await predictInChunks(x, n, f, k, predictProba, batch);
  const sampled = units.map((u) =>
    u.holders.length > samples
      ? rng.sample(u.holders.length, samples).map((t) => u.holders[t]!)
      : u.holders,
  );
  const total = sampled.reduce((t, h) => t + h.length, 0);
  const rows = new Float32Array(total * f);
  let r = 0;
  const byClass = indicesByClass(ds.y, k);
  for (const [ui, u] of units.entries()) {
    for (const i of sampled[ui]!) {
      rows.set(x.subarray(i * f, i * f + f), r * f);
      const donor = otherClassRecord(byClass, ds.y[i]!, n, rng);
      for (const j of u.features) rows[r * f + j] = x[donor * f + j]!;
      r++;
    }
  }
  const probs = await predictInChunks(rows, total, f, k, predictProba, batch, (done) =>
    options.onProgress?.({ stage: 'value replacement', done, total }),
  );
  const names = options.features;
  // Raw values to 6 decimals: undoing float32 standardisation leaves noise (0 reads 2.7e-8).
  const describe = (j: number, v: number): string =>
    `${names?.[j] ?? `feature ${j}`} = ${Number((options.rawValue ? options.rawValue(j, v) : v).toFixed(6))}`;
  const scored: Omit<FeatureTriggerScore, 'z'>[] = [];
  r = 0;
  for (const [ui, u] of units.entries()) {
    const labels = new Array<number>(k).fill(0);
    for (const i of u.holders) labels[ds.y[i]!]!++;
    const label = labels.indexOf(Math.max(...labels));
    let sum = 0;
    let m = 0;
    for (const i of sampled[ui]!) {
      if (ds.y[i] === label) {
        sum +=
          impactOn === 'margin'
            ? logMargin(base, i * k, k, label) - logMargin(probs, r * k, k, label)
            : base[i * k + label]! - probs[r * k + label]!;
        m++;
      }
      r++;
    }
    const meanImpact = m ? sum / m : 0;
    // Distinct records: a value repeated because a whole record is repeated is no repeat.
    const distinct = new Set<number>();
    for (const i of u.holders) if (ds.y[i] === label) distinct.add(rowId[i]!);
    const count = distinct.size;
    scored.push({
      features: u.features,
      values: u.values,
      name: u.features.map((j, t) => describe(j, u.values[t]!)).join(' + '),
      score: count >= minCount ? meanImpact * Math.log10(1 + count) : 0,
      count,
      holders: u.holders.length,
      meanImpact,
      label,
    });
  }
  // One finding per set of records: candidates held by exactly the same records (a value and its
  // pairs with values those records all share) are one candidate, its best-scoring form.
  const best = new Map<string, number>();
  for (const [t, c] of scored.entries()) {
    const key = `${c.label}:${units[t]!.holders.join(',')}`;
    const seen = best.get(key);
    if (seen === undefined || c.score > scored[seen]!.score) best.set(key, t);
  }
  const order = [...best.values()]
    .map((t) => ({ c: scored[t]!, t }))
    .sort((a, b) => b.c.score - a.c.score || a.t - b.t);
  // The null: the upper tail (⌈√m⌉ best scores, positive ones), on the log scale.
  const tail = Math.ceil(Math.sqrt(order.length));
  const logs = Float64Array.from(
    order.slice(0, tail).filter((o) => o.c.score > 0),
    (o) => Math.log(o.c.score),
  );
  const med = logs.length ? median(logs) : 0;
  const spread = logs.length ? 1.4826 * mad(logs) : 0;
  const zOf = (score: number): number =>
    score <= 0 || logs.length < 3
      ? 0
      : spread > 0
        ? (Math.log(score) - med) / spread
        : Math.log(score) > med
          ? Number.POSITIVE_INFINITY
          : 0;
  const ranking: FeatureTriggerScore[] = order.map((o, rank) => ({
    ...o.c,
    z: rank < tail ? zOf(o.c.score) : 0,
  }));
  const triggers = ranking.filter((c) => c.z > zThreshold).slice(0, maxTriggers);

  const scores = new Float32Array(n);
  const flagged = new Uint8Array(n);
  for (const [rank, o] of order.slice(0, tail).entries()) {
    const c = ranking[rank]!;
    const isTrigger = triggers.includes(c);
    for (const i of units[o.t]!.holders) {
      if (ds.y[i] !== c.label) continue;
      if (c.z > scores[i]!) scores[i] = c.z;
      if (isTrigger) flagged[i] = 1;
    }
  }
  const perClass = triggerClassFindings(ds, flagged, triggers, {
    strength: (cl) => {
      let best = 0;
      for (const c of ranking.slice(0, tail)) if (c.label === cl && c.z > best) best = c.z;
      // Rescaled so that zThreshold maps to STRONG_EVIDENCE: strong exactly with a trigger.
      return roundStrength((best * STRONG_EVIDENCE) / zThreshold);
    },
    found: (own) =>
      `feature value${own.length > 1 ? 's' : ''} ${own.map((t) => `${t.name} (z ${fmt(t.z)}, in ${t.count} records, mean impact ${fmt(t.meanImpact)})`).join(', ')} push${own.length > 1 ? '' : 'es'} records to this label far beyond ordinary values (z > ${zThreshold})`,
    none: `no repeated feature value pushes records to this label beyond z ${zThreshold}`,
    stats: (own) => ({ triggers: own.map((t) => t.name).join(', '), threshold: zThreshold }),
  });
  return {
    method: 'feature-trigger-discovery',
    scores,
    flagged,
    perClass,
    params: {
      ...settings,
      candidates: units.length,
      pairs: units.length - singles.length,
    },
    ranking: ranking.slice(0, 50),
    triggers,
  };
}

/** float32's resolution at 1 (2^-24): a probability says nothing about log-odds beyond ±log(2^24). */
const FLOOR = 2 ** -24;

/** log p(label) − log max_{j≠label} p(j) in row `p[at .. at + k)`, probabilities floored at {@link FLOOR}. */
function logMargin(p: Float32Array, at: number, k: number, label: number): number {
  let other = 0;
  for (let j = 0; j < k; j++) if (j !== label && p[at + j]! > other) other = p[at + j]!;
  return Math.log(Math.max(p[at + label]!, FLOOR)) - Math.log(Math.max(other, FLOOR));
}

/** A record drawn at random from the classes other than `label` (any record with one class). */
function otherClassRecord(
  byClass: readonly Int32Array[],
  label: number,
  n: number,
  rng: Rng,
): number {
  const others = n - (byClass[label]?.length ?? 0);
  if (others === 0) return rng.int(n);
  let t = rng.int(others);
  for (const [c, idx] of byClass.entries()) {
    if (c === label) continue;
    if (t < idx.length) return idx[t]!;
    t -= idx.length;
  }
  return rng.int(n);
}

async function predictInChunks(
  x: Float32Array,
  n: number,
  f: number,
  k: number,
  fn: FeatureProbabilityFn,
  batch: number,
  progress?: (done: number) => void,
): Promise<Float32Array> {
  const out = new Float32Array(n * k);
  for (let s = 0; s < n; s += batch) {
    const m = Math.min(batch, n - s);
    const p = await fn(x.subarray(s * f, (s + m) * f), m);
    if (p.length !== m * k) {
      throw new AntidoteError(
        'ENGINE_ERROR',
        `the model returned ${p.length} probabilities for ${m} rows of ${k} classes`,
      );
    }
    out.set(p, s * k);
    progress?.(s + m);
  }
  return out;
}

/**
 * The tabular side of a scan of `model` (feature trigger discovery, `ft`): the names of the
 * features it reads and how their values read in the raw records. Empty where the model is not a
 * tabular model, so the scan's defaults (`defaultScanMethods`) add `ft` exactly for tabular
 * models.
 */
export function tabularScanContext(model: Model): { tabular?: TabularScanContext } {
  if (model.input.kind !== 'tabular') return {};
  if (!isTfFeatureModel(model) || model.feature.featurizer.domain !== 'tabular') {
    return { tabular: {} };
  }
  const pre = model.feature.featurizer.preprocessor;
  // Feature index → input column (one-hot levels map to their column, values read as 0/1).
  const column: number[] = [];
  pre.columns.forEach((c, j) => {
    const width = c.kind === 'categorical' ? c.levels.length : 1;
    for (let t = 0; t < width; t++) column.push(c.kind === 'categorical' ? -1 : j);
  });
  return {
    tabular: {
      features: pre.features,
      rawValue: (feature, value) => {
        const j = column[feature];
        return j === undefined || j < 0 ? value : value * pre.std[j]! + pre.mean[j]!;
      },
    },
  };
}

/**
 * Feature trigger discovery in the detector registry: `antidote scan --method ft` (tabular
 * models; a default there). Runs on the records as the model reads them; the tabular context,
 * when given, names the features and their raw values in the reasons.
 */
export const featureTriggerEntry = defineDetector({
  name: 'ft',
  title: 'Feature-value trigger discovery',
  paper:
    'after Chen & Dai 2021, "Mitigating Backdoor Attacks in LSTM-based Text Classification Systems by Backdoor Keyword Identification", Neurocomputing 452 (keywords → exact feature values)',
  finds: 'backdoor',
  domains: ['tabular'],
  options: z.object({
    ftImpact: z.enum(['margin', 'probability']).default('margin').meta({
      placeholder: '<kind>',
      description:
        "ft: score a value's replacement on the label's probability, or on its log-odds margin (no saturation)",
    }),
  }),
  run: (ds, model, options, context) =>
    discoverFeatureTriggers(ds, (x, n) => model.predictProba(x, n), {
      seed: context.seed,
      impact: options.ftImpact,
      ...(context.tabular?.features ? { features: context.tabular.features } : {}),
      ...(context.tabular?.rawValue ? { rawValue: context.tabular.rawValue } : {}),
      ...(context.onProgress ? { onProgress: context.onProgress } : {}),
    }),
});
