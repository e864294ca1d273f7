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
 * the arbitrary labels). The tolerance is a policy (what label noise is not worth a finding),
 * stated in the report and settable (`--ln-tolerance`), not a constant fitted to one dataset.
 * The excess must also show in the upper half of the flat part (u ≥ ¾, count binomial with mean
 * n_c·ρ₀/4 under the null, at the one-sided 5% level, {@link FLAT_PART_CONFIRMATION}); without
 * it the strength is the smaller of the two scores. Arbitrary labels spread over the whole flat
 * part; a class the model barely separates from its neighbours (most of its labels contradicted,
 * all ambiguous) crowds only its lower half with the tail of their u, which read as label flips
 * before (issue 16: an mlp on Fashion-MNIST contradicts 57% of the shirts, and 2,405 clean shirts
 * were flagged as flips on backdoor sets that held none).
 *
 * The records flagged: only in strong classes, and never one whose u < α (default 0.01: its given
 * label is significantly more plausible to the model than for a typical record of the predicted
 * class). Above α the cut adapts to the data (`--ln-cut adaptive`, the default; issue 16): per
 * pair of classes (labelled c, predicted j; ambiguity is a property of pairs, Fashion-MNIST's
 * shirts, T-shirts, pullovers and coats) the records are flagged down to the u where the next ones
 * are estimated more likely ambiguous than arbitrary ({@link arbitraryCut}: Storey's estimate of
 * the arbitrary labels from the flat part of the u histogram, with their measured tilt towards 0,
 * {@link arbitraryShape}). A pair with too few records for that estimate ({@link
 * MIN_PAIR_EVIDENCE}) keeps the fixed cut u ≥ α (`--ln-cut alpha`: every pair). Measured on the
 * detection matrix (cnn, 2 epochs, 60,000 records), the test alone, fixed α → adaptive:
 * Fashion-MNIST 10% random flips precision 0.553 → 0.887, recall 0.967 → 0.906; 30%: 0.815 →
 * 0.939, 0.969 → 0.931; MNIST 10%: 0.981 → 0.985, 0.978 → 0.955; 30%: 0.989 → 0.991, 0.981 →
 * 0.974; clean MNIST (seeds 1–5) and Fashion-MNIST (1–3): no strong class, nothing flagged,
 * either way. The best cut per pair the u statistic allows (chosen with the ground truth) is
 * precision 0.952 at recall 0.911 on Fashion-MNIST 10%: what is left needs a sharper statistic.
 *
 * Limitation (measured on synthetic Gaussian classes with a nearest-mean model, which fits none of
 * its records): when the classes overlap so much that the model contradicts a large share of the
 * correct labels (Bayes error; training accuracy 0.62 at 5 classes), the ambiguous records look
 * as arbitrary as flips and the test reports label flips that are not there; from accuracy 0.73
 * on it found none. The flat-part confirmation narrows this (gap 2 of the test file's Gaussian
 * data, accuracy 0.62–0.63, seeds 1 and 2: 4 and 2 of the 5 classes strong without it, 0 and 1
 * with it, 203 records flagged). A network trained on its records leans towards their labels, which keeps
 * ambiguous records' u near 0 (clean Fashion-MNIST, accuracy 0.88: no finding). With the fixed
 * cut α, many of Fashion-MNIST's ~7,000 naturally ambiguous contradicted records have u ≥ 0.01
 * (precision 0.55 at 10% random flips; MNIST, 600 of them: precision 0.98), hence the adaptive
 * cut above.
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
  /**
   * The per-record cut-off in a strong class: `adaptive` (default) a cut per pair of classes
   * adapted to its mix of arbitrary and ambiguous labels (never below α; see
   * {@link arbitraryCut}), or `alpha`, every u ≥ α.
   */
  readonly cut?: ArbitraryCutRule;
}

/** The per-record cut-off rules of the arbitrary-label test ({@link ArbitraryLabelOptions.cut}). */
export const ARBITRARY_CUT_RULES = ['adaptive', 'alpha'] as const;
/** One of {@link ARBITRARY_CUT_RULES}. */
export type ArbitraryCutRule = (typeof ARBITRARY_CUT_RULES)[number];

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
  const adaptive = (options.cut ?? 'adaptive') === 'adaptive';
  if (!(tolerance > 0 && tolerance < 1)) {
    throw new AntidoteError('INVALID_ARGUMENT', `tolerance must lie in (0, 1), got ${tolerance}`);
  }
  if (!(alpha > 0 && alpha <= 0.5)) {
    throw new AntidoteError('INVALID_ARGUMENT', `alpha must lie in (0, 0.5], got ${alpha}`);
  }
  if (!ARBITRARY_CUT_RULES.includes(options.cut ?? 'adaptive')) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `cut must be one of ${ARBITRARY_CUT_RULES.join(', ')}, got ${options.cut}`,
    );
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
  // First the class findings (the binomial test), then the per-record cut in the strong classes.
  // Per class: its records, those the model contradicts, and those with u ≥ ½ and u ≥ ¾ (one pass).
  const counts = new Int32Array(k);
  const contradictions = new Int32Array(k);
  const arbitraries = new Int32Array(k);
  const uppers = new Int32Array(k);
  for (let i = 0; i < n; i++) {
    const c = y[i]!;
    counts[c]!++;
    if (predicted[i] === c) continue;
    contradictions[c]!++;
    if (arbitrariness[i]! >= 0.5) arbitraries[c]!++;
    if (arbitrariness[i]! >= 0.75) uppers[c]!++;
  }
  const tests = classes.map((_, c) => {
    const count = counts[c]!;
    const contradicted = contradictions[c]!;
    const arbitrary = arbitraries[c]!;
    const upper = uppers[c]!;
    disagreements += contradicted;
    // Under the null (at most a share ρ₀ of arbitrary labels), each record of the class has u ≥ ½
    // with probability ρ₀/2: binomial count, standard score z.
    const z = count > 0 ? binomialScore(arbitrary, count, tolerance / 2) : 0;
    // The flat part's upper half (u ≥ ¾, probability ρ₀/4 under the null) must show the excess
    // too (FLAT_PART_CONFIRMATION): arbitrary labels spread over the whole flat part, the tail of
    // many ambiguous labels crowds its lower half (see the module comment).
    const zUpper = count > 0 ? binomialScore(upper, count, tolerance / 4) : 0;
    const confirmed = zUpper >= FLAT_PART_CONFIRMATION;
    const strength =
      count > 0 ? roundStrength(Math.max(confirmed ? z : Math.min(z, zUpper), 0)) : 0;
    const expected = count * (tolerance / 2);
    const sd = Math.sqrt(Math.max(expected * (1 - tolerance / 2), 1e-12));
    // Power: could the class reach a strong finding at all with this many contradictions?
    if (count > 0 && contradicted >= expected + STRONG_EVIDENCE * sd) anyPower = true;
    return { count, contradicted, arbitrary, upper, expected, z, zUpper, confirmed, strength };
  });
  const strongClass = tests.map((t) => t.strength >= STRONG_EVIDENCE);
  // How arbitrary labels' u falls off (the model's partial memorisation of their labels), from
  // the flat part of the strong classes' contradicted records (see arbitraryShape).
  const pooled: number[] = [];
  for (let i = 0; i < n; i++) {
    if (predicted[i] !== y[i] && strongClass[y[i]!]) pooled.push(arbitrariness[i]!);
  }
  const decay = adaptive ? arbitraryShape(pooled) : 0;
  for (let c = 0; c < k; c++) {
    const { count, contradicted, arbitrary, upper, expected, z, zUpper, confirmed, strength } =
      tests[c]!;
    const strong = strongClass[c]!;
    const to = new Array<number>(k).fill(0);
    let f = 0;
    // The per-record cut-off, per predicted class j (the pair "labelled c, predicted j"): the
    // fixed α, or adapted to the pair's own mix of arbitrary and ambiguous labels (arbitraryCut).
    const cuts: ArbitraryCut[] = [];
    if (strong) {
      const byPredicted: number[][] = Array.from({ length: k }, () => []);
      for (let i = 0; i < n; i++) {
        if (y[i] === c && predicted[i] !== c) byPredicted[predicted[i]!]!.push(i);
      }
      // A pair gets its own cut when it holds enough records in the flat part for a stable F̂
      // (MIN_PAIR_EVIDENCE: a relative standard error of about ⅓ or less); the class's other
      // pairs share one cut.
      const own = adaptive
        ? byPredicted.filter(
            (r) => r.filter((i) => arbitrariness[i]! >= 0.5).length >= MIN_PAIR_EVIDENCE,
          )
        : [];
      const rest = byPredicted.filter((r) => !own.includes(r)).flat();
      for (const records of [...own, rest]) {
        if (records.length === 0) continue;
        const u = records.map((i) => arbitrariness[i]!);
        const cut =
          adaptive && records !== rest ? arbitraryCut(u, alpha, decay) : fixedCut(u, alpha, decay);
        cuts.push(cut);
        for (const i of records) {
          if (!(arbitrariness[i]! >= cut.cut)) continue;
          flagged[i] = 1;
          f++;
          to[predicted[i]!]!++;
        }
      }
    }
    let top = -1;
    for (let j = 0; j < k; j++)
      if (j !== c && to[j]! > 0 && (top < 0 || to[j]! > to[top]!)) top = j;
    const share = count > 0 ? (2 * arbitrary) / count : 0;
    const kept = cuts.reduce((a, x) => a + x.estimatedPrecision * x.flagged, 0);
    const estimated = cuts.reduce((a, x) => a + x.estimated, 0);
    const estimatedPrecision = f > 0 ? kept / f : 1;
    const estimatedRecall = estimated > 0 ? Math.min(kept / estimated, 1) : 1;
    perClass.push({
      classIndex: c,
      className: classes[c]!,
      count,
      flagged: f,
      suspicious: strong,
      strength,
      reason: strong
        ? `label flips: ${f} of ${count} labels look arbitrary (the model predicts another class and gives the given label no more weight than typical records of that class get; estimated ${pct(share)} arbitrary labels, above the ${pct(tolerance)} tolerated as natural noise, z = ${fmt(z)}); ${adaptive ? `per predicted class, flagged from the u cut of the most estimated flips net of ambiguous labels (estimated precision ${fmt(estimatedPrecision)}, recall ${fmt(estimatedRecall)})` : `flagged from u ≥ ${fmt(alpha)}`}${top >= 0 ? `; most often really "${classes[top]}"` : ''}`
        : `no label flips beyond natural noise: ${contradicted} of ${count} labels contradicted by the model, an estimated ${pct(share)} arbitrary (tolerance ${pct(tolerance)}, z = ${fmt(z)})${z >= STRONG_EVIDENCE && !confirmed ? `; the excess lies in the lower half of the flat part only (${upper} labels with u ≥ 0.75, z = ${fmt(zUpper)}): the tail of ambiguous labels, not arbitrary ones` : ''}`,
      stats: {
        contradicted,
        arbitrary,
        upperArbitrary: upper,
        zUpper: Number.isFinite(zUpper) ? zUpper : null,
        estimatedArbitraryShare: share,
        expectedUnderTolerance: expected,
        z: Number.isFinite(z) ? z : null,
        ...(strong
          ? {
              cuts: cuts.filter((x) => x.flagged > 0).map((x) => x.cut),
              estimatedPrecision,
              estimatedRecall,
            }
          : {}),
      },
    });
  }
  // Scores rank only what the test has evidence for: the contradicted records of a strong class,
  // 1 + u (1 where u is undefined). Everything
  // else ties at 0, so that the test's ranks never confirm another detector's finding just
  // because its records are atypical (measured: with 1 − self-confidence as the score, the 12 and
  // 14 clean "3"s that spectral signatures flagged on two clean MNIST runs sat in this test's top
  // decile of their class, a "confirmation" without any evidence of flips).
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
      cut: adaptive ? 'adaptive' : 'alpha',
      uDecay: decay,
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

/**
 * The standard score of the confirmation a class's excess of arbitrary labels needs from the
 * upper half of the flat part (u ≥ ¾): the one-sided 5% level (z ≥ 1.645), a convention, not a
 * fitted constant. Arbitrary labels spread over the whole flat part [½, 1] (about evenly: their u
 * is about uniform, tilted a little towards 0 by memorisation, {@link arbitraryShape}), so a
 * class with flips shows an excess in [¾, 1] as well as in [½, 1]. The tail of a mass of
 * ambiguous labels does not: their u falls off steeply and crowds [½, ¾). Measured (issue 16):
 * an mlp after 2 epochs on Fashion-MNIST contradicts 57% of the shirts (3,391 of 5,972; T-shirts,
 * pullovers, coats), and their u in [½, 1] counts 75, 29, 14, 11 per eighth: 129 with u ≥ ½,
 * above the 90 the 3% tolerance allows (z = 4.2, a strong finding with no flipped record in it,
 * 2,405 clean shirts flagged), 25 with u ≥ ¾ (z = −3.0). Over the 112 cached image cases of the
 * detection matrix without label flips the largest z in [¾, 1] is 0.45; with 10% random flips
 * the smallest over classes is 3.6 (MNIST) and 4.4 (Fashion-MNIST).
 */
export const FLAT_PART_CONFIRMATION = 1.645;

/** Standard score of a binomial count `k` of `n` trials against success probability `q`. */
function binomialScore(k: number, n: number, q: number): number {
  const expected = n * q;
  return (k - expected) / Math.sqrt(Math.max(expected * (1 - q), 1e-12));
}

/**
 * Records with u ≥ ½ a pair of classes (labelled c, predicted j) needs for its own per-record cut
 * ({@link arbitraryCut}): F̂ is a count of about this many, so its relative standard error is at
 * most about 1/√10 ≈ ⅓; pairs with fewer share one cut per class.
 */
export const MIN_PAIR_EVIDENCE = 10;

/** The per-record cut-off of one group of contradicted records (see {@link arbitraryCut}). */
export interface ArbitraryCut {
  /** Records with u ≥ `cut` are flagged. */
  readonly cut: number;
  /** Records at or above the cut. */
  readonly flagged: number;
  /** The estimated number F̂ of arbitrary labels in the group. */
  readonly estimated: number;
  /** The estimated share of arbitrary labels among the flagged records (at most 1). */
  readonly estimatedPrecision: number;
}

/**
 * The share of arbitrary labels whose u is at least `t` when u has the density ∝ e^(−βu) on
 * [0, 1] (`decay` β; β = 0 is uniform): (e^(−βt) − e^(−β)) / (1 − e^(−β)).
 */
export function arbitraryTail(t: number, decay: number): number {
  if (!(decay > 1e-9)) return 1 - t;
  return (Math.exp(-decay * t) - Math.exp(-decay)) / (1 - Math.exp(-decay));
}

/**
 * How arbitrary labels' u falls off (issue 16). Under arbitrary flips u would be uniform, but a
 * network partly memorises the flipped labels it was trained on, which lifts their probability
 * a little above that of typical records of the true class and tilts u towards 0 (measured,
 * MNIST cnn with 10% random flips: 38% of the flips' u lie at ½ or above, not 50%; Fashion-MNIST
 * 41%). The tilt is modelled as the density ∝ e^(−βu) and β estimated from the flat part of the
 * histogram, where ambiguous labels are rare (u ≥ ½, as Storey's λ): the counts a of
 * [½, ¾) and b of [¾, 1] give β = 4·ln(a/b) (0 unless a exceeds b by two standard errors). Measured β: 1.15 and 0.84 (MNIST
 * 10% and 30%), 0.99 and 0.83 (Fashion-MNIST).
 */
export function arbitraryShape(u: ArrayLike<number>): number {
  let a = 0;
  let b = 0;
  for (let i = 0; i < u.length; i++) {
    if (u[i]! >= 0.75) b++;
    else if (u[i]! >= 0.5) a++;
  }
  // Only a tilt the counts show (a exceeds b by two standard errors of a − b): with few records
  // the ratio's noise alone would read as a tilt and inflate F̂.
  return b > 0 && a - b > 2 * Math.sqrt(a + b) ? 4 * Math.log(a / b) : 0;
}

/**
 * The per-record cut-off of the arbitrary-label test in one group of contradicted records (the
 * records labelled c that the model predicts as j), adapted to the data (issue 16). `u` holds
 * their u (NaN: no reference records, never flagged), `decay` the tilt β of arbitrary labels' u
 * ({@link arbitraryShape}).
 *
 * The group holds arbitrary labels (u spread over [0, 1], density ∝ e^(−βu)) and ambiguous ones
 * (u near 0 when the model leans towards their label, spread out where the classes overlap). As
 * in Storey's estimate of the share of true null hypotheses from the flat part of a p-value
 * histogram (Storey 2002, "A direct approach to false discovery rates", JRSS B), the arbitrary
 * labels are counted where the ambiguous ones are rare: F̂ = #(u ≥ ½) / tail(½). A cut t then
 * keeps about F̂·tail(t) of them among the N(t) records at or above it, the rest ambiguous. The cut
 * taken is the one with the most estimated arbitrary labels net of ambiguous ones, 2·F̂·tail(t) −
 * N(t): the records are flagged down to where the next ones are more likely ambiguous than
 * arbitrary (a local false discovery rate of ½, about where the F1 of the flags peaks), and
 * never below `alpha`. Per group because ambiguity is a property of pairs of classes (Fashion-
 * MNIST's shirt, T-shirt, pullover and coat; measured there with 10% random flips: the best cut
 * per group gives precision 0.95 at recall 0.91, the best per class only 0.88 at 0.81).
 */
export function arbitraryCut(u: ArrayLike<number>, alpha: number, decay = 0): ArbitraryCut {
  const values = Array.from(u)
    .filter((v) => v >= alpha)
    .sort((a, b) => b - a);
  let half = 0;
  for (const v of values) if (v >= 0.5) half++;
  const estimated = half / arbitraryTail(0.5, decay);
  const candidates: { cut: ArbitraryCut; net: number }[] = [];
  for (let i = 0; i < values.length; ) {
    const t = values[i]!;
    let j = i;
    while (j < values.length && values[j] === t) j++;
    // Cut at t: the j records with u ≥ t.
    const kept = Math.min(j, estimated * arbitraryTail(t, decay));
    const net = 2 * kept - j;
    candidates.push({ cut: { cut: t, flagged: j, estimated, estimatedPrecision: kept / j }, net });
    i = j;
  }
  let bestNet = 0;
  let best: ArbitraryCut | undefined;
  for (const c of candidates) {
    // The lowest cut of the highest net (candidates run from high u to low).
    if (c.net > 0 && c.net >= bestNet) {
      bestNet = c.net;
      best = c.cut;
    }
  }
  return best ?? { cut: Number.POSITIVE_INFINITY, flagged: 0, estimated, estimatedPrecision: 1 };
}

/** The fixed cut at `alpha`: every record with u ≥ α. */
function fixedCut(u: ArrayLike<number>, alpha: number, decay: number): ArbitraryCut {
  let count = 0;
  let half = 0;
  for (let i = 0; i < u.length; i++) {
    if (u[i]! >= alpha) count++;
    if (u[i]! >= 0.5) half++;
  }
  const estimated = half / arbitraryTail(0.5, decay);
  const kept = Math.min(count, estimated * arbitraryTail(alpha, decay));
  return {
    cut: alpha,
    flagged: count,
    estimated,
    estimatedPrecision: count > 0 ? kept / count : 1,
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
 *
 * Counted without sorting the reference records' probabilities: per predicted class j, the
 * contradicted records' probabilities of each label (few) are sorted, and one pass over the
 * records agreeing on j (many) places each reference probability among them (a binary search);
 * suffix sums of those places give every count at once. The same counts as ranking each record
 * in the sorted reference values, at a fraction of the time (60,000 MNIST records: no sort of
 * the ≈ 6,000 reference values for each of the ≈ 90 pairs of classes).
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
    const m = ref.length;
    if (m === 0) continue;
    // Per label c with contradicted records: their probabilities of c, ascending (`values`, with
    // the records in that order), and how many reference records hold exactly t values ≤ theirs.
    const pairs: { c: number; records: number[]; values: Float64Array; places: Int32Array }[] = [];
    for (let c = 0; c < k; c++) {
      const records = contradicted[j * k + c]!;
      if (records.length === 0) continue;
      records.sort((a, b) => probs[a * k + c]! - probs[b * k + c]!);
      const values = Float64Array.from(records, (i) => probs[i * k + c]!);
      pairs.push({ c, records, values, places: new Int32Array(records.length + 1) });
    }
    if (pairs.length === 0) continue;
    for (let r = 0; r < m; r++) {
      const row = ref[r]! * k;
      for (const p of pairs) {
        const v = probs[row + p.c]!;
        // Below every contradicted record's value (most reference records): counted for none.
        if (v >= p.values[0]!) p.places[upperBound(p.values, v)]!++;
      }
    }
    for (const { records, places } of pairs) {
      // Records whose probability is at least values[q]: those placed after q.
      let atLeast = 0;
      for (let q = records.length - 1; q >= 0; q--) {
        atLeast += places[q + 1]!;
        u[records[q]!] = atLeast / m;
      }
    }
  }
  return u;
}

/** Number of values of ascending `sorted` that are ≤ `v`. */
function upperBound(sorted: Float64Array, v: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid]! <= v) lo = mid + 1;
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
    lnCut: z.enum(ARBITRARY_CUT_RULES).default('adaptive').meta({
      placeholder: '<rule>',
      description:
        'arbitrary-label test: per-record cut in a class with flips, adaptive (per pair of classes, where ambiguous labels outnumber arbitrary ones) or alpha (every record with u >= alpha)',
    }),
  }),
  run: (ds, model, options, context) =>
    arbitraryLabelDetector.detect(ds, model, {
      tolerance: options.lnTolerance,
      alpha: options.lnAlpha,
      cut: options.lnCut,
      ...(context.onProgress ? { onProgress: context.onProgress } : {}),
    }),
});
