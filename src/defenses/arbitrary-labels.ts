import { z } from 'zod';
import type { Dataset } from '../data/dataset.js';
import type { Classifier } from '../engine/classifier.js';
import { AntidoteError } from '../errors.js';
import { roundStrength } from './calibration.js';
import {
  type ClassFinding,
  type DetectionProgress,
  type DetectionReport,
  fmt,
  type PoisonDetector,
  STRONG_EVIDENCE,
} from './detector.js';
import { defineDetector } from './detector-entry.js';
import { computeProbabilities } from './representations.js';

/**
 * The arbitrary-label test: label flips found from the scanned model's own, in-sample class
 * probabilities, cheap enough for the default scan (one forward pass, no retraining; issue 16).
 *
 * Why in-sample probabilities carry the signal. Deep networks fit the consistent patterns of
 * their training data before they memorise the labels that contradict them (Arpit et al. 2017,
 * "A Closer Look at Memorization in Deep Networks", ICML; Zhang et al. 2017, "Understanding deep
 * learning requires rethinking generalization", ICLR): an early or regularised model still
 * predicts the true class of a flipped record, which is what confident learning (Northcutt,
 * Jiang & Chuang 2021, JAIR 70) and the area under the margin (Pleiss et al. 2020, "Identifying
 * Mislabeled Data using the Area Under the Margin Ranking", NeurIPS) read. Measured on the
 * detection matrix's MNIST cnn after 2 epochs with 10% random flips, the model predicts another
 * class than the given label for 5,985 of the 6,000 flipped records. When that fails: a model that
 * memorised its labels agrees with (almost) all of them, and its in-sample probabilities cannot
 * show the flips; the report then says the test was inconclusive ({@link ArbitraryLabelReport}'s
 * `params.inconclusive`) and points to out-of-sample confident learning (`cl --folds 5`).
 *
 * Why not the model's calibration as the null. Trained with cross-entropy on noisy labels, the
 * model learns P(noisy label | x), noise included: on the matrix case above it expects 6,812
 * disagreements with the given labels and sees 6,805, so a test of "more disagreements than the
 * model expects" finds nothing, while on clean Fashion-MNIST (over-confident on its ambiguous
 * shirts and pullovers) it would fire. Nor the raw count of confident contradictions: clean
 * Fashion-MNIST has 2.7% of them (ambiguity), clean MNIST 0.04%, so any fixed share is tuned.
 *
 * The statistic: whether a contradicted label is *arbitrary*. A record labelled i that the model
 * predicts as j is either ambiguous or naturally mislabelled (it resembles class i: the model
 * gives i more weight than it gives typical j records), or flipped without regard to its content
 * (then it is a typical j record and its weight on i is drawn from the same distribution as that
 * of the records labelled and predicted j). Per contradicted record, u = the share of the records
 * labelled and predicted j whose probability of i is at least the record's own: u is about
 * uniform on [0, 1] for an arbitrary label and near 0 for a resembling one. As in Storey's
 * estimate of the share of true null hypotheses from the flat part of a p-value histogram (Storey
 * 2002, "A direct approach to false discovery rates", JRSS B), twice the count of u ≥ ½ estimates
 * the number of arbitrary labels of a class. Measured: 2,257 of the 10%-flip case's contradictions
 * have u ≥ ½ (all flipped), 158 on clean Fashion-MNIST (82 of them shirts), 1 on clean MNIST.
 *
 * The finding: a class's estimated share of arbitrary labels is tested against a tolerance ρ₀ for
 * natural label noise (default 3%, the average share of label errors Northcutt, Athalye & Mueller
 * found in ten curated benchmark test sets, "Pervasive Label Errors in Test Sets Destabilize
 * Machine Learning Benchmarks", NeurIPS Datasets and Benchmarks 2021): under that null the count
 * of u ≥ ½ is binomial with mean n_c·ρ₀/2, and its standard score is the finding's strength
 * (strong from `STRONG_EVIDENCE`, 3.5 standard errors). Every class may be tested positive at
 * once (random flips), and a single class too (source → target flips: the target class carries
 * the arbitrary labels). Records are flagged only in strong classes: contradicted records whose
 * u ≥ α (default 0.01), i.e. whose given label is not significantly more plausible to the model
 * than for a typical record of the predicted class. The tolerance is a policy (what label noise is
 * not worth a finding), stated in the report and settable (`--ln-tolerance`), not a constant
 * fitted to one dataset.
 *
 * Limitation (measured on synthetic Gaussian classes with a nearest-mean model, which fits none of
 * its records): when the classes overlap so much that the model contradicts a large share of the
 * correct labels (Bayes error; training accuracy 0.62 at 5 classes), the ambiguous records look
 * as arbitrary as flips and the test reports label flips that are not there; from accuracy 0.73
 * on it found none. A network trained on its records leans towards their labels, which keeps
 * ambiguous records' u near 0 (clean Fashion-MNIST, accuracy 0.88: no finding). The per-record
 * cut α is not adaptive: on Fashion-MNIST with 10% random flips the classes are found (FAIL) and
 * recall is 0.97, but precision is 0.55 (10,501 flagged), because many of its ~7,000 naturally
 * ambiguous contradicted records also have u ≥ 0.01 (MNIST, 600 of them: precision 0.98).
 */

/** Options of {@link arbitraryLabels}. */
export interface ArbitraryLabelOptions {
  /** Share of arbitrary labels per class tolerated as natural label noise (ρ₀). Default 0.03. */
  readonly tolerance?: number;
  /**
   * Significance below which a contradicted label counts as resembling its record (not flagged):
   * records with u ≥ α are flagged in a strong class. Default 0.01.
   */
  readonly alpha?: number;
}

/** Default {@link ArbitraryLabelOptions.tolerance}. */
export const DEFAULT_NOISE_TOLERANCE = 0.03;

/** Default {@link ArbitraryLabelOptions.alpha}. */
export const DEFAULT_ARBITRARY_ALPHA = 0.01;

/** A {@link DetectionReport} of the arbitrary-label test, with its per-record statistic. */
export interface ArbitraryLabelReport extends DetectionReport {
  /**
   * `[n]`: for a record the model assigns to another class than its label, the share u of the
   * records labelled and predicted as that class that give the record's label at least as much
   * probability (NaN for records the model agrees with, or without such reference records).
   */
  readonly arbitrariness: Float64Array;
}

/**
 * The arbitrary-label test on in-sample probabilities `probs` (`[n, K]` row-major) of a model
 * trained on the records labelled `y`; see the module comment. Pure: the functional core of
 * {@link arbitraryLabelDetector}.
 */
export function arbitraryLabels(
  y: Int32Array,
  probs: Float32Array,
  classes: readonly string[],
  options: ArbitraryLabelOptions = {},
): ArbitraryLabelReport {
  const n = y.length;
  const k = classes.length;
  const tolerance = options.tolerance ?? DEFAULT_NOISE_TOLERANCE;
  const alpha = options.alpha ?? DEFAULT_ARBITRARY_ALPHA;
  if (!(tolerance > 0 && tolerance < 1)) {
    throw new AntidoteError('INVALID_ARGUMENT', `tolerance must lie in (0, 1), got ${tolerance}`);
  }
  if (!(alpha > 0 && alpha <= 0.5)) {
    throw new AntidoteError('INVALID_ARGUMENT', `alpha must lie in (0, 0.5], got ${alpha}`);
  }
  if (n === 0) throw new AntidoteError('INVALID_ARGUMENT', 'arbitraryLabels: no records');
  if (k < 2 || probs.length !== n * k) {
    throw new AntidoteError(
      'SHAPE_MISMATCH',
      `probabilities hold ${probs.length} values, not [${n}, ${k}] (${k} classes, at least 2)`,
    );
  }
  const predicted = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = y[i]!;
    if (!(c >= 0 && c < k)) {
      throw new AntidoteError(
        'LABEL_OUT_OF_RANGE',
        `record ${i} has label ${c}, outside [0, ${k})`,
        {
          record: i,
        },
      );
    }
    let best = 0;
    for (let j = 0; j < k; j++) {
      const p = probs[i * k + j]!;
      if (!Number.isFinite(p)) {
        throw new AntidoteError('NON_FINITE_VALUE', `probability of record ${i} is not finite`, {
          record: i,
        });
      }
      if (p > probs[i * k + best]!) best = j;
    }
    predicted[i] = best;
  }
  const arbitrariness = arbitrarinessOf(y, probs, predicted, k);

  const flagged = new Uint8Array(n);
  const perClass: ClassFinding[] = [];
  let anyPower = false;
  let disagreements = 0;
  for (let c = 0; c < k; c++) {
    let count = 0;
    let contradicted = 0;
    let arbitrary = 0;
    for (let i = 0; i < n; i++) {
      if (y[i] !== c) continue;
      count++;
      if (predicted[i] === c) continue;
      contradicted++;
      if (arbitrariness[i]! >= 0.5) arbitrary++;
    }
    disagreements += contradicted;
    // Under the null (at most a share ρ₀ of arbitrary labels), each record of the class has u ≥ ½
    // with probability ρ₀/2: binomial count, standard score = strength.
    const q = tolerance / 2;
    const expected = count * q;
    const sd = Math.sqrt(Math.max(expected * (1 - q), 1e-12));
    const z = count > 0 ? (arbitrary - expected) / sd : 0;
    const strength = count > 0 ? roundStrength(Math.max(z, 0)) : 0;
    // Power: could the class reach a strong finding at all with this many contradictions?
    if (count > 0 && contradicted >= expected + STRONG_EVIDENCE * sd) anyPower = true;
    const strong = strength >= STRONG_EVIDENCE;
    const to = new Array<number>(k).fill(0);
    let f = 0;
    if (strong) {
      for (let i = 0; i < n; i++) {
        if (y[i] !== c || predicted[i] === c || !(arbitrariness[i]! >= alpha)) continue;
        flagged[i] = 1;
        f++;
        to[predicted[i]!]!++;
      }
    }
    let top = -1;
    for (let j = 0; j < k; j++)
      if (j !== c && to[j]! > 0 && (top < 0 || to[j]! > to[top]!)) top = j;
    const share = count > 0 ? (2 * arbitrary) / count : 0;
    perClass.push({
      classIndex: c,
      className: classes[c]!,
      count,
      flagged: f,
      suspicious: strong,
      strength,
      reason: strong
        ? `label flips: ${f} of ${count} labels look arbitrary (the model predicts another class and gives the given label no more weight than typical records of that class get; estimated ${pct(share)} arbitrary labels, above the ${pct(tolerance)} tolerated as natural noise, z = ${fmt(z)})${top >= 0 ? `; most often really "${classes[top]}"` : ''}`
        : `no label flips beyond natural noise: ${contradicted} of ${count} labels contradicted by the model, an estimated ${pct(share)} arbitrary (tolerance ${pct(tolerance)}, z = ${fmt(z)})`,
      stats: {
        contradicted,
        arbitrary,
        estimatedArbitraryShare: share,
        expectedUnderTolerance: expected,
        z: Number.isFinite(z) ? z : null,
      },
    });
  }
  // Scores rank only what the test has evidence for: the contradicted records of a strong class,
  // 1 + u (1 where u is undefined). Everything
  // else ties at 0, so that the test's ranks never confirm another detector's finding just
  // because its records are atypical (measured: with 1 − self-confidence as the score, the 12 and
  // 14 clean "3"s that spectral signatures flagged on two clean MNIST runs sat in this test's top
  // decile of their class, a "confirmation" without any evidence of flips).
  const strongClass = perClass.map((f) => f.suspicious);
  const scores = new Float32Array(n);
  const suggestedLabels = new Int32Array(n).fill(-1);
  for (let i = 0; i < n; i++) {
    if (predicted[i] === y[i]) continue;
    suggestedLabels[i] = predicted[i]!;
    if (!strongClass[y[i]!]) continue;
    const u = arbitrariness[i]!;
    scores[i] = 1 + (Number.isNaN(u) ? 0 : u);
  }
  const trainingAccuracy = 1 - disagreements / n;
  const inconclusive = !anyPower;
  return {
    method: 'arbitrary-labels',
    scores,
    flagged,
    perClass,
    params: {
      probabilities: 'in-sample',
      tolerance,
      alpha,
      trainingAccuracy,
      inconclusive,
      limitation: inconclusive
        ? `inconclusive for memorised flips: the model agrees with ${pct(trainingAccuracy)} of the given labels, too many for any class to show label flips beyond the ${pct(tolerance)} tolerance in-sample; a model that memorised flipped labels looks the same, so check with out-of-sample probabilities (--method cl --folds 5)`
        : null,
    },
    suggestedLabels,
    arbitrariness,
  };
}

/** Percentage with up to 2 significant decimals. */
function pct(v: number): string {
  return `${fmt(100 * v)}%`;
}

/**
 * u per contradicted record (see {@link ArbitraryLabelReport.arbitrariness}): for a record
 * labelled i and predicted j, the share of the records labelled and predicted j whose
 * probability of i is at least the record's.
 */
function arbitrarinessOf(
  y: Int32Array,
  probs: Float32Array,
  predicted: Int32Array,
  k: number,
): Float64Array {
  const n = y.length;
  const u = new Float64Array(n).fill(Number.NaN);
  const agreeing: number[][] = Array.from({ length: k }, () => []);
  const contradicted: number[][] = Array.from({ length: k * k }, () => []);
  for (let i = 0; i < n; i++) {
    if (predicted[i] === y[i]) agreeing[y[i]!]!.push(i);
    else contradicted[predicted[i]! * k + y[i]!]!.push(i);
  }
  for (let j = 0; j < k; j++) {
    const ref = agreeing[j]!;
    if (ref.length === 0) continue;
    for (let c = 0; c < k; c++) {
      const records = contradicted[j * k + c]!;
      if (records.length === 0) continue;
      const sorted = Float64Array.from(ref, (r) => probs[r * k + c]!).sort();
      for (const i of records) {
        const below = lowerBound(sorted, probs[i * k + c]!);
        u[i] = (sorted.length - below) / sorted.length;
      }
    }
  }
  return u;
}

/** Index of the first value of ascending `sorted` that is ≥ `v`. */
function lowerBound(sorted: Float64Array, v: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid]! < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Options of {@link arbitraryLabelDetector}. */
export interface ArbitraryLabelDetectorOptions extends ArbitraryLabelOptions {
  /** Records per predict call, when the probabilities need a pass of their own. Default 2048. */
  readonly batchSize?: number;
  /**
   * The model's in-sample class probabilities on the records, `[n, K]`, computed already (the
   * shards of a distributed scan): no forward pass then. Default: the scan's shared forward pass
   * (`computeProbabilities`, which reuses the pass that gave the representations).
   */
  readonly probabilities?: Float32Array;
  /** Progress: the forward pass (`probabilities`), then the test (`test`). */
  readonly onProgress?: (p: DetectionProgress) => void;
}

/**
 * The arbitrary-label test as a {@link PoisonDetector}: the model's probabilities (given, or from
 * the scan's shared forward pass), then {@link arbitraryLabels}.
 */
export const arbitraryLabelDetector: PoisonDetector<ArbitraryLabelDetectorOptions> = {
  name: 'arbitrary-labels',
  async detect(ds: Dataset, model: Classifier, options = {}) {
    options.onProgress?.({ stage: 'probabilities', done: 0, total: 2 });
    const probs =
      options.probabilities ??
      (await computeProbabilities(ds, model, { batchSize: options.batchSize ?? 2048 }));
    options.onProgress?.({ stage: 'test', done: 1, total: 2 });
    const report = arbitraryLabels(ds.y, probs, ds.classes, options);
    options.onProgress?.({ stage: 'test', done: 2, total: 2 });
    return report;
  },
};

/**
 * The arbitrary-label test in the detector registry: `antidote scan --method ln`, and one of the
 * default detectors (label flips; no retraining).
 */
export const arbitraryLabelEntry = defineDetector({
  name: 'ln',
  title: 'Arbitrary-label test (label flips, in-sample)',
  paper:
    'Northcutt, Jiang & Chuang 2021, "Confident Learning", JAIR 70; Arpit et al. 2017, "A Closer Look at Memorization in Deep Networks", ICML; Storey 2002, JRSS B',
  finds: 'label-noise',
  domains: ['features', 'text', 'tabular'],
  options: z.object({
    lnTolerance: z.number().gt(0).lt(1).default(DEFAULT_NOISE_TOLERANCE).meta({
      placeholder: '<share>',
      description:
        'arbitrary-label test: share of arbitrary labels per class tolerated as natural label noise',
    }),
    lnAlpha: z.number().gt(0).max(0.5).default(DEFAULT_ARBITRARY_ALPHA),
  }),
  run: (ds, model, options, context) =>
    arbitraryLabelDetector.detect(ds, model, {
      tolerance: options.lnTolerance,
      alpha: options.lnAlpha,
      ...(context.onProgress ? { onProgress: context.onProgress } : {}),
    }),
});
