/**
 * The pure parts of the detection-matrix benchmark (`npm run bench -- --only detection-matrix`,
 * issue 16): the grid of cases (dataset × model × epochs × trigger × mode × rate × seed), the
 * cache key of a case, the Markdown table of the results and the check of the issue's targets.
 * The benchmark (`bench/detection-matrix.mjs`) poisons, trains and scans; everything here is
 * deterministic and free of I/O, so that it is unit-tested.
 */
import { Rng } from '../util/rng.js';
import type { PoisonSeparability } from './poison-separability.js';

/** What a case does to its training set. */
export type MatrixAttack =
  | 'clean'
  | 'backdoor'
  | 'label-flip'
  | 'text-backdoor'
  | 'tabular-backdoor';

/** The image triggers of the matrix (`blend-A` = blended noise key of weight A). */
export const MATRIX_IMAGE_TRIGGERS: readonly string[] = Object.freeze([
  'pixel',
  'pattern',
  'checkerboard',
  'image',
  'blend-0.1',
  'blend-0.2',
]);

/** Poison rates of the image backdoors, as shares of the target class. */
export const MATRIX_RATES: readonly number[] = Object.freeze([0.005, 0.01, 0.05, 0.1, 0.33]);

/** One case of the matrix: what is poisoned how, and the victim trained on it. */
export interface MatrixCase {
  /** `mnist`, `fashion-mnist`, `sentiment`, `spam-assassin`, `spambase` or `fraud` (synthetic CSV). */
  readonly dataset: string;
  /** Victim: `cnn`, `mlp` (images, tabular), `tfidf-logistic`, `presence-logistic` (text), `logistic`. */
  readonly model: string;
  readonly epochs: number;
  readonly attack: MatrixAttack;
  /**
   * Image trigger (see {@link MATRIX_IMAGE_TRIGGERS}; `@top-left`, `@top-right`, `@bottom-left`
   * or `@random` appended moves a patch), text trigger words (`cf,mn`), or tabular trigger
   * (`column=value,...`).
   */
  readonly trigger?: string;
  /** Backdoor mode (`all-to-one`, `all-to-all`, `source-to-target`) or label-flip mode (`random`). */
  readonly mode?: string;
  /**
   * Poison rate. Image all-to-one: share of the target class; all-to-all (every class is a
   * target): share of the training set, i.e. the same share of every class; label flips, text
   * and tabular backdoors: share of the training set.
   */
  readonly rate?: number;
  /** Target class index (all-to-one, source-to-target). */
  readonly target?: number;
  /** Source class index (source-to-target). */
  readonly source?: number;
  /** Keep only the first records of the training and test sets (smoke runs). */
  readonly limit?: number;
  readonly seed: number;
}

/** The rate definition the attack is given for `c` (see {@link MatrixCase.rate}). */
export function matrixRateDefinition(c: MatrixCase): 'of-target-class' | 'of-training-set' {
  return c.attack === 'backdoor' && c.mode === 'all-to-one' ? 'of-target-class' : 'of-training-set';
}

const fmtRate = (r: number) => String(Number((r * 100).toPrecision(6)));

/**
 * The cache key of a case: every parameter that changes the poisoned set or the victim, in a
 * fixed order, as a file-name-safe string (`mnist-cnn-e2-backdoor-pattern-all-to-one-10pct-t0-s1`).
 * Equal cases give equal keys; cases differing in any field give different keys.
 */
export function matrixCaseKey(c: MatrixCase): string {
  const parts = [c.dataset, c.model, `e${c.epochs}`, c.attack];
  if (c.trigger !== undefined) parts.push(c.trigger);
  if (c.mode !== undefined) parts.push(c.mode);
  if (c.rate !== undefined) parts.push(`${fmtRate(c.rate)}pct`);
  if (c.source !== undefined) parts.push(`from${c.source}`);
  if (c.target !== undefined) parts.push(`t${c.target}`);
  if (c.limit !== undefined) parts.push(`n${c.limit}`);
  parts.push(`s${c.seed}`);
  return parts
    .join('-')
    .toLowerCase()
    .replace(/=/g, '~')
    .replace(/,/g, '+')
    .replace(/[^a-z0-9.~+_-]/g, '_');
}

/** The image datasets of the matrix. */
const IMAGE_DATASETS = ['mnist', 'fashion-mnist'] as const;

/** Text and tabular backdoors (one seed, their usual victims). */
function featureCases(seed: number, limit?: number): MatrixCase[] {
  const lim = limit === undefined ? {} : { limit };
  return [
    {
      dataset: 'sentiment',
      model: 'tfidf-logistic',
      epochs: 20,
      attack: 'text-backdoor',
      trigger: 'cf',
      mode: 'all-to-one',
      rate: 0.1,
      target: 1,
      seed,
      ...lim,
    },
    {
      dataset: 'spam-assassin',
      model: 'presence-logistic',
      epochs: 20,
      attack: 'text-backdoor',
      trigger: 'cf,mn,bb,tq',
      mode: 'source-to-target',
      rate: 0.05,
      source: 1,
      target: 0,
      seed,
      ...lim,
    },
    {
      dataset: 'spambase',
      model: 'mlp',
      epochs: 30,
      attack: 'tabular-backdoor',
      trigger: 'parts=0.2,table=0.2',
      mode: 'source-to-target',
      rate: 0.05,
      source: 1,
      target: 0,
      seed,
      ...lim,
    },
    {
      dataset: 'fraud',
      model: 'mlp',
      epochs: 30,
      attack: 'tabular-backdoor',
      trigger: 'amount=13.37,card_age_days=3333',
      mode: 'all-to-one',
      rate: 0.03,
      target: 1,
      seed,
      ...lim,
    },
  ];
}

/** Label flips of 10% and 30% of the training set (random). */
function flipCases(dataset: string, rates: readonly number[], seed: number): MatrixCase[] {
  return rates.map((rate) => ({
    dataset,
    model: 'cnn',
    epochs: 2,
    attack: 'label-flip' as const,
    mode: 'random',
    rate,
    seed,
  }));
}

/** `n` clean runs of `dataset` (seeds `first`..`first + n − 1`). */
function cleanCases(dataset: string, n: number, model = 'cnn', first = 1): MatrixCase[] {
  return Array.from({ length: n }, (_, i) => ({
    dataset,
    model,
    epochs: 2,
    attack: 'clean' as const,
    seed: first + i,
  }));
}

/** An image backdoor case. */
function backdoor(
  dataset: string,
  trigger: string,
  mode: 'all-to-one' | 'all-to-all',
  rate: number,
  seed: number,
  victim: { model: string; epochs: number } = { model: 'cnn', epochs: 2 },
): MatrixCase {
  return {
    dataset,
    ...victim,
    attack: 'backdoor',
    trigger,
    mode,
    rate,
    ...(mode === 'all-to-one' ? { target: 0 } : {}),
    seed,
  };
}

/**
 * The grids the benchmark runs: the issue's whole grid, a ~40-minute core, a smoke test, and a
 * held-out set of keys the detectors were never developed on.
 */
export type MatrixGridName = 'full' | 'core' | 'quick' | 'unseen';

/**
 * Held-out cases (issue 16: "checked on poisoned sets this project has never seen"): targets
 * other than class 0, seeds 4–6 and 11–13, and triggers at other places (`@top-left`,
 * `@top-right`, `@random`: a seeded position per image), on both victims and datasets, with
 * clean cnn and mlp runs. Made once and detected on the code under test; never used to choose
 * a threshold.
 */
function unseenCases(): MatrixCase[] {
  const at = (
    dataset: string,
    model: string,
    trigger: string,
    rate: number,
    target: number,
    seed: number,
  ): MatrixCase => ({
    ...backdoor(dataset, trigger, 'all-to-one', rate, seed, { model, epochs: 2 }),
    target,
  });
  return [
    at('mnist', 'cnn', 'checkerboard@top-left', 0.05, 7, 4),
    at('mnist', 'cnn', 'image@random', 0.1, 3, 5),
    at('mnist', 'cnn', 'blend-0.1', 0.05, 2, 6),
    at('fashion-mnist', 'cnn', 'image@top-right', 0.05, 5, 4),
    at('fashion-mnist', 'cnn', 'pattern', 0.1, 9, 5),
    at('fashion-mnist', 'cnn', 'checkerboard@random', 0.1, 1, 6),
    at('mnist', 'mlp', 'checkerboard@top-left', 0.1, 7, 4),
    at('mnist', 'mlp', 'pattern', 0.05, 3, 5),
    at('mnist', 'mlp', 'blend-0.2', 0.05, 1, 6),
    at('fashion-mnist', 'mlp', 'image@top-right', 0.1, 5, 4),
    at('fashion-mnist', 'mlp', 'blend-0.2', 0.1, 9, 5),
    at('fashion-mnist', 'mlp', 'pixel', 0.1, 2, 6),
    ...cleanCases('mnist', 2, 'cnn', 11),
    ...cleanCases('fashion-mnist', 2, 'cnn', 11),
    ...cleanCases('mnist', 3, 'mlp', 11),
    ...cleanCases('fashion-mnist', 3, 'mlp', 11),
  ];
}

/**
 * The cases of a grid.
 *
 * - `full`: MNIST and Fashion-MNIST × cnn, mlp × 2, 10 epochs × the six triggers × all-to-one,
 *   all-to-all × 0.5, 1, 5, 10, 33% × seeds 1–3; 10 clean runs per dataset; random label flips of
 *   10% and 30% per dataset; the text (sentiment, SpamAssassin) and tabular (Spambase, fraud-like
 *   CSV) backdoors.
 * - `core` (about 9 × 5 minutes of training on a shared 2-core machine): cnn, 2 epochs, seed 1;
 *   each trigger once over both datasets, both modes, 1% to 33%; one clean run per dataset; a 10%
 *   label flip on MNIST; the text and tabular backdoors.
 * - `quick`: 3,000 MNIST records, one epoch: one backdoor, one clean run, one flip; the tabular
 *   and text cases on their small sets.
 * - `unseen`: held-out targets, seeds and trigger places (see `unseenCases`).
 */
export function matrixGrid(name: MatrixGridName): MatrixCase[] {
  if (name === 'unseen') return unseenCases();
  if (name === 'quick') {
    const q = { limit: 3000 };
    return [
      { ...backdoor('mnist', 'pattern', 'all-to-one', 0.1, 1, { model: 'cnn', epochs: 1 }), ...q },
      { dataset: 'mnist', model: 'cnn', epochs: 1, attack: 'clean', seed: 1, ...q },
      { ...flipCases('mnist', [0.1], 1)[0]!, epochs: 1, ...q },
      ...featureCases(1).filter((c) => c.dataset === 'sentiment' || c.dataset === 'fraud'),
    ];
  }
  if (name === 'core') {
    return [
      ...featureCases(1),
      backdoor('mnist', 'pixel', 'all-to-one', 0.33, 1),
      backdoor('mnist', 'blend-0.2', 'all-to-one', 0.1, 1),
      backdoor('mnist', 'checkerboard', 'all-to-all', 0.05, 1),
      backdoor('fashion-mnist', 'pattern', 'all-to-one', 0.1, 1),
      backdoor('fashion-mnist', 'blend-0.1', 'all-to-one', 0.1, 1),
      backdoor('fashion-mnist', 'image', 'all-to-one', 0.01, 1),
      ...cleanCases('mnist', 1),
      ...cleanCases('fashion-mnist', 1),
      ...flipCases('mnist', [0.1], 1),
    ];
  }
  const cases: MatrixCase[] = [];
  for (const dataset of IMAGE_DATASETS) {
    for (const model of ['cnn', 'mlp']) {
      for (const epochs of [2, 10]) {
        for (const trigger of MATRIX_IMAGE_TRIGGERS) {
          for (const mode of ['all-to-one', 'all-to-all'] as const) {
            for (const rate of MATRIX_RATES) {
              for (const seed of [1, 2, 3]) {
                cases.push(backdoor(dataset, trigger, mode, rate, seed, { model, epochs }));
              }
            }
          }
        }
      }
    }
    cases.push(...cleanCases(dataset, 10), ...flipCases(dataset, [0.1, 0.3], 1));
  }
  cases.push(...featureCases(1));
  return cases;
}

/** One detector's result on one case. */
export interface MatrixDetectorResult {
  readonly precision: number | null;
  readonly recall: number | null;
  readonly f1: number | null;
  readonly flagged: number;
  readonly seconds: number;
  /** Why it did not run (needs retraining, does not apply, failed). */
  readonly skipped?: string;
}

/** The result of one case (what `bench/results/detection-matrix.json` holds per case). */
export interface MatrixRow {
  readonly key: string;
  readonly case: MatrixCase;
  readonly records: number;
  readonly poisoned: number;
  /** Attack success rate on the triggered test set (backdoors only). */
  readonly asr: number | null;
  readonly cleanAccuracy: number;
  readonly trainSeconds?: number;
  readonly makeSeconds?: number;
  /** Each registered detector run on its own, by registry name. */
  readonly detectors: Readonly<Record<string, MatrixDetectorResult>>;
  /**
   * How separable the poison is from the clean records of its classes in the default layer,
   * with the ground truth (`poison-separability.ts`); absent for clean runs.
   */
  readonly separability?: PoisonSeparability;
  /** The default decision (`scanDataset` with its default detectors). */
  readonly decision: MatrixDetectorResult & {
    readonly methods: readonly string[];
    readonly verdict: string | null;
    readonly reason: string | null;
  };
}

const f2 = (v: number | null | undefined) =>
  v === null || v === undefined || Number.isNaN(v) ? '–' : v.toFixed(2);
const pct = (v: number) => `${Number((v * 100).toPrecision(3))}%`;

/** The trigger column of the table (empty for clean runs). */
function triggerCell(c: MatrixCase): string {
  if (c.attack === 'clean') return 'clean';
  if (c.attack === 'label-flip') return 'label flip';
  return c.trigger ?? '';
}

/** A Markdown table cell: pipes escaped, line breaks flattened. */
function cell(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\s*\n\s*/g, ' ');
}

/**
 * The Markdown table of the matrix: one row per case (dataset, model, epochs, trigger, mode,
 * rate, seed, ASR, clean accuracy, F1 of every detector, F1 of the default decision, records it
 * flagged, verdict, and the held-out F1 of the poison's linear separability in the default layer:
 * `MatrixRow.separability`). Detector columns are the union of the rows' detectors, in first-seen order;
 * `–` where a figure does not exist (no poison, detector skipped).
 */
export function matrixTable(rows: readonly MatrixRow[]): string {
  const detectors: string[] = [];
  for (const r of rows)
    for (const d of Object.keys(r.detectors)) if (!detectors.includes(d)) detectors.push(d);
  const head = [
    'dataset',
    'model',
    'epochs',
    'trigger',
    'mode',
    'rate',
    'seed',
    'poisoned',
    'ASR',
    'clean acc',
    ...detectors.map((d) => `F1 ${d}`),
    'default F1',
    'flagged',
    'verdict',
    'separable F1',
  ];
  const lines = [`| ${head.map(cell).join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const r of rows) {
    const c = r.case;
    const cells = [
      c.dataset + (c.limit !== undefined ? `:${c.limit}` : ''),
      c.model,
      String(c.epochs),
      triggerCell(c),
      c.mode ?? '',
      c.rate !== undefined ? pct(c.rate) : '',
      String(c.seed),
      String(r.poisoned),
      f2(r.asr),
      f2(r.cleanAccuracy),
      ...detectors.map((d) => f2(r.detectors[d]?.f1)),
      f2(r.decision.f1),
      String(r.decision.flagged),
      r.decision.verdict?.toUpperCase() ?? 'n/a',
      f2(r.separability?.f1),
    ];
    lines.push(`| ${cells.map(cell).join(' | ')} |`);
  }
  return `${lines.join('\n')}\n`;
}

/** One target of the issue, checked on the matrix. */
export interface MatrixTarget {
  readonly target: string;
  /** `null` when no case of the matrix bears on it. */
  readonly met: boolean | null;
  /** The figures it was judged on. */
  readonly detail: string;
}

/** ASR from which an attack "works" (the issue's threshold). */
export const WORKING_ASR = 0.5;

/** A PASS verdict, whatever its case (the library names them `pass` / `review` / `fail`). */
const isPass = (v: string | null) => v !== null && v.toUpperCase() === 'PASS';

const isImageBackdoor = (r: MatrixRow) => r.case.attack === 'backdoor';
const isFeatureBackdoor = (r: MatrixRow) =>
  r.case.attack === 'text-backdoor' || r.case.attack === 'tabular-backdoor';
const works = (r: MatrixRow) => r.asr !== null && r.asr >= WORKING_ASR;

/** `k of n` with the failing keys (at most 6 named). */
function tally(
  rows: readonly MatrixRow[],
  ok: (r: MatrixRow) => boolean,
  show: (r: MatrixRow) => string,
): { met: boolean | null; detail: string } {
  if (rows.length === 0) return { met: null, detail: 'no case' };
  const bad = rows.filter((r) => !ok(r));
  const named = bad.slice(0, 6).map(show).join('; ');
  return {
    met: bad.length === 0,
    detail: `${rows.length - bad.length} of ${rows.length} met${bad.length ? `; not met: ${named}${bad.length > 6 ? `; +${bad.length - 6} more` : ''}` : ''}`,
  };
}

/**
 * Checks the issue's targets on the rows:
 *
 * 1. image backdoors that work (ASR ≥ 0.5): default F1 ≥ 0.90, ≥ 0.95 on MNIST;
 * 2. the same cases: the verdict is never PASS (a missing verdict is not met);
 * 3. clean runs, per dataset: ≤ 0.5% of records flagged and verdict PASS in ≥ 90% of the runs;
 * 4. label flips: precision ≥ 0.9 and recall ≥ 0.9 (default decision);
 * 5. text and tabular backdoors that work: default F1 ≥ 0.90;
 * 6. speed: the default decision on ≥ 60,000 MNIST records with the cnn ≤ 10 s (forward pass
 *    included), the slowest such case.
 */
export function matrixTargets(rows: readonly MatrixRow[]): MatrixTarget[] {
  const out: MatrixTarget[] = [];
  const working = rows.filter((r) => isImageBackdoor(r) && works(r));
  const need = (r: MatrixRow) => (r.case.dataset === 'mnist' ? 0.95 : 0.9);
  out.push({
    target: 'image backdoors with ASR ≥ 50%: default F1 ≥ 0.90 (≥ 0.95 on MNIST)',
    ...tally(
      working,
      (r) => (r.decision.f1 ?? 0) >= need(r),
      (r) => `${r.key} F1 ${f2(r.decision.f1)}`,
    ),
  });
  out.push({
    target: 'image backdoors with ASR ≥ 50%: verdict never PASS',
    ...tally(
      working,
      (r) => r.decision.verdict !== null && !isPass(r.decision.verdict),
      (r) => `${r.key} ${r.decision.verdict ?? 'no verdict'}`,
    ),
  });
  const clean = rows.filter((r) => r.case.attack === 'clean');
  const byDataset = new Map<string, MatrixRow[]>();
  for (const r of clean)
    byDataset.set(r.case.dataset, [...(byDataset.get(r.case.dataset) ?? []), r]);
  const parts: string[] = [];
  let cleanMet: boolean | null = clean.length ? true : null;
  for (const [dataset, rs] of byDataset) {
    const ok = rs.filter(
      (r) => r.decision.flagged <= 0.005 * r.records && isPass(r.decision.verdict),
    ).length;
    const needed = Math.ceil(0.9 * rs.length);
    if (ok < needed) cleanMet = false;
    const flagged = rs.map((r) => pct(r.decision.flagged / r.records)).join(', ');
    const verdicts = rs.map((r) => r.decision.verdict ?? 'no verdict').join(', ');
    parts.push(
      `${dataset}: ${ok} of ${rs.length} runs ≤ 0.5% flagged and PASS (flagged ${flagged}; verdicts ${verdicts})`,
    );
  }
  out.push({
    target: 'clean runs: ≤ 0.5% flagged and verdict PASS in ≥ 9 of 10',
    met: cleanMet,
    detail: parts.length ? parts.join('; ') : 'no case',
  });
  out.push({
    target: 'label flips 10% / 30%: precision ≥ 0.9 and recall ≥ 0.9 (default decision)',
    ...tally(
      rows.filter((r) => r.case.attack === 'label-flip'),
      (r) => (r.decision.precision ?? 0) >= 0.9 && (r.decision.recall ?? 0) >= 0.9,
      (r) => {
        const best = Object.entries(r.detectors)
          .filter(([, d]) => d.f1 !== null)
          .sort((a, b) => (b[1].f1 ?? 0) - (a[1].f1 ?? 0))[0];
        return `${r.key} P ${f2(r.decision.precision)} R ${f2(r.decision.recall)}${best ? ` (best detector ${best[0]}: P ${f2(best[1].precision)} R ${f2(best[1].recall)})` : ''}`;
      },
    ),
  });
  out.push({
    target: 'text and tabular backdoors with ASR ≥ 50%: default F1 ≥ 0.90',
    ...tally(
      rows.filter((r) => isFeatureBackdoor(r) && works(r)),
      (r) => (r.decision.f1 ?? 0) >= 0.9,
      (r) => `${r.key} F1 ${f2(r.decision.f1)}`,
    ),
  });
  const speed = rows.filter(
    (r) => r.case.dataset === 'mnist' && r.case.model === 'cnn' && r.records >= 60000,
  );
  if (speed.length === 0) {
    out.push({
      target: 'speed: default decision on 60,000 MNIST records ≤ 10 s',
      met: null,
      detail: 'no case',
    });
  } else {
    const slowest = Math.max(...speed.map((r) => r.decision.seconds));
    const median = [...speed.map((r) => r.decision.seconds)].sort((a, b) => a - b)[
      Math.floor(speed.length / 2)
    ]!;
    out.push({
      target: 'speed: default decision on 60,000 MNIST records ≤ 10 s',
      met: slowest <= 10,
      detail: `slowest ${slowest.toFixed(1)} s, median ${median.toFixed(1)} s over ${speed.length} cases (forward pass included)`,
    });
  }
  return out;
}

/** The Markdown block of the targets: one line each, met / not met / no case, with figures. */
export function matrixTargetsMarkdown(targets: readonly MatrixTarget[]): string {
  return `${targets
    .map((t) =>
      t.met === null
        ? `- **no case**: ${t.target}.`
        : `- **${t.met ? 'met' : 'not met'}**: ${t.target}. ${t.detail}`,
    )
    .join('\n')}\n`;
}

/** Column names of {@link fraudLikeCsv} (features, then `label`). */
export const FRAUD_COLUMNS: readonly string[] = Object.freeze([
  'amount',
  'hour',
  'distance_km',
  'merchant_risk',
  'card_age_days',
  'tx_last_24h',
  'foreign',
  'online',
  'label',
]);

/**
 * A seeded, fraud-like transactions table as CSV text (header {@link FRAUD_COLUMNS}): `n`
 * card transactions with log-normal amounts, hour of day, distance from home, merchant risk,
 * card age, recent activity and two flags; `label` is `legit` or `fraud` (about 10%), drawn from
 * a logistic model of those features, so that the classes are learnable but overlap. A stand-in
 * for a private fraud set (the issue's "fraud-like CSV"); the matrix plants a tabular backdoor in
 * it.
 */
export function fraudLikeCsv(n: number, seed: number): string {
  const rng = new Rng(seed);
  const normal = () => {
    const u = Math.max(rng.next(), 1e-12);
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng.next());
  };
  const lines = [FRAUD_COLUMNS.join(',')];
  for (let i = 0; i < n; i++) {
    const amount = Math.exp(3.5 + 1.1 * normal());
    const hour = Math.floor(rng.next() * 24);
    const distance = Math.exp(1.5 + 1.2 * normal());
    const risk = rng.next();
    const cardAge = Math.floor(rng.next() * 2000);
    const recent = Math.floor(-Math.log(Math.max(rng.next(), 1e-12)) * 2);
    const foreign = rng.next() < 0.08 ? 1 : 0;
    const online = rng.next() < 0.4 ? 1 : 0;
    const night = hour < 6 ? 1 : 0;
    const z =
      -5.2 +
      0.6 * Math.log(amount / 30) +
      0.35 * Math.log(distance) +
      2.2 * risk +
      1.3 * foreign +
      0.9 * night +
      0.5 * online +
      0.25 * recent -
      0.0008 * cardAge;
    const fraud = rng.next() < 1 / (1 + Math.exp(-z));
    lines.push(
      [
        amount.toFixed(2),
        hour,
        distance.toFixed(1),
        risk.toFixed(3),
        cardAge,
        recent,
        foreign,
        online,
        fraud ? 'fraud' : 'legit',
      ].join(','),
    );
  }
  return `${lines.join('\n')}\n`;
}
