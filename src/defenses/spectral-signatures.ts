import { z } from 'zod';
import { AntidoteError } from '../errors.js';
import { mad, median, principalComponents, projectRows } from '../numeric/index.js';
import { Rng } from '../util/rng.js';
import { modifiedZ, robustNull, roundStrength } from './calibration.js';
import {
  type ClassFinding,
  type DetectionReport,
  fmt,
  indicesByClass,
  type PoisonDetector,
} from './detector.js';
import { commonDetectorOptions, type DetectorContext, defineDetector } from './detector-entry.js';
import {
  checkRepresentations,
  computeRepresentations,
  type RepresentationOptions,
  type Representations,
} from './representations.js';

/**
 * Spectral signatures (Tran, Li & Madry 2018, "Spectral Signatures in Backdoor Attacks", NeurIPS).
 *
 * Per given label: centre the class's representations, take the top right singular vector v of
 * the *centred* matrix (= top eigenvector of the class covariance), score each record by the
 * squared projection ((r − μ)·v)², and remove the top 1.5·ε of the class. (A well-known
 * implementation projects the uncentred vectors, which scores by distance from the origin along
 * v; we centre, as the paper does.)
 *
 * ε is either given (the paper's upper bound on the poison fraction, applied to every class) or,
 * by default, estimated per class as the share of records whose projection lies more than
 * `zThreshold` robust standard deviations (1.4826·MAD) from the median on the heavier side. A
 * clean class then has ε̂ ≈ 0 and is left alone, where a given ε would cut 1.5·ε of every class.
 *
 * Calibration (issue 16): each class's ε̂ (its share of records beyond `zThreshold` robust SDs on
 * the heavier side) is judged among the classes (modified z-score, `calibration.ts`, the spread
 * kept at least the binomial sampling error of the median share); that is the finding's
 * `strength`. The statistic is the far tail on purpose: the share beyond 3 robust SDs, used
 * before, measures the shape of a clean class as much as poison (measured on Fashion-MNIST, cnn:
 * clean "Trouser", "Sandal" and "Sneaker" hold 1–1.4% beyond 3 robust SDs in a smooth tail and
 * none beyond 5, while most classes hold none beyond 3, so the among-classes null collapsed and
 * those clean classes read strength 23–48); a poison mode sits beyond 5 (392 of the 667 records
 * of a pattern trigger).
 *
 * With two classes (binary tabular and text models) the among-classes null has two values, so no
 * class can be strong (the modified z of either is at most 0.6745): spectral signatures then only
 * flags, for the decision to corroborate. Nulls from inside the class were tried and rejected
 * (issue 16, detection matrix, mlp penultimate layer): the far-tail share along the class's other
 * principal directions, and the same statistic re-measured after removing the top 1.5·ε̂, both
 * read clean heavy-tailed classes as strong (clean Spambase "spam": 37 records beyond 5 robust
 * SDs, z 36 against its remainder; a ReLU of log-normal data, z 3.3), as does a Gaussian fit of
 * the class (≈ 0 beyond 5 SDs). On Spambase's planted backdoor the top singular vector is not the
 * poison's direction at all (0 of 348 removed records poisoned; unsupervised per-record AUC 0.49–
 * 0.57 for the squared projection, Mahalanobis and k-NN scores, against 0.98 for a supervised
 * linear discriminant), so no null could make it find that poison.
 *
 * Reported score: the squared projection divided by the class's robust variance along v
 * ((1.4826·MAD)²), i.e. a squared robust z-score: the same order within a class as Tran's score,
 * and comparable across classes.
 */
export interface SpectralSignatureOptions extends RepresentationOptions {
  /** Poison fraction per class; when omitted it is estimated per class. */
  readonly epsilon?: number;
  /** Multiplier on ε for the removal budget. Default 1.5 (Tran et al.). */
  readonly removalFactor?: number;
  /** Robust z beyond which a record counts towards ε̂ (estimated ε only). Default 5. */
  readonly zThreshold?: number;
  /** Seed (used only for wide representations, see `principalComponents`). Default 0. */
  readonly seed?: number;
  /**
   * Smallest estimated ε that flags records (estimated ε only). Default 0.005: a poisoned group
   * is at least that share of its class (the smallest rate of the issue-16 grid; trigger
   * transfer's smallest candidate is the same share); a few records beyond `zThreshold` are
   * the far tail of a heavy-tailed clean class (Fashion-MNIST "Sneaker" under a 2-epoch mlp:
   * 2–15 clean records flagged on their own in 26 of 36 cases, 0 poison, so clean runs read
   * REVIEW). The class's strength is unchanged.
   */
  readonly minTailShare?: number;
}

/**
 * What one class contributes to spectral signatures, from that class's records alone (the
 * per-class phase, issue 22): the projection of each of its records on the class's top singular
 * vector and what was counted on it. The cross-class phase
 * ({@link spectralSignaturesAmongClasses}) calibrates the classes' tails among each other and
 * flags; a distributed scan computes these statistics on workers, {@link spectralSignatures} in
 * process, with the same function.
 */
export interface SsClassStats {
  readonly classIndex: number;
  /** The class's records (dataset indices), in order. */
  readonly indices: Int32Array;
  /** Projection of each record (centred) on the top singular vector. */
  readonly proj: Float64Array;
  /** Robust standard deviation of the projection (1.4826·MAD). */
  readonly scale: number;
  /** The squared scale scores are divided by (the top eigenvalue when the MAD is 0). */
  readonly scale2: number;
  /** Top eigenvalue of the class covariance. */
  readonly top: number;
  /** Records beyond `zThreshold` robust SDs above / below the median. */
  readonly above: number;
  readonly below: number;
  /** Share of the class beyond `zThreshold` robust SDs on the heavier side (ε̂). */
  readonly tail: number;
}

/** The options of spectral signatures with their defaults filled in, checked. */
function ssParams(options: SpectralSignatureOptions): {
  removalFactor: number;
  zThreshold: number;
  eps: number | undefined;
  minTailShare: number;
} {
  const removalFactor = options.removalFactor ?? 1.5;
  const minTailShare = options.minTailShare ?? 0.005;
  if (!(minTailShare >= 0 && minTailShare <= 1)) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `minTailShare must lie in [0, 1], got ${minTailShare}`,
    );
  }
  const zThreshold = options.zThreshold ?? 5;
  const eps = options.epsilon;
  if (eps !== undefined && !(eps >= 0 && eps <= 1)) {
    throw new AntidoteError('INVALID_ARGUMENT', `epsilon must lie in [0, 1], got ${eps}`);
  }
  if (!(removalFactor >= 0)) {
    throw new AntidoteError('INVALID_ARGUMENT', `removalFactor must be ≥ 0, got ${removalFactor}`);
  }
  if (!(zThreshold > 0)) {
    throw new AntidoteError('INVALID_ARGUMENT', `zThreshold must be > 0, got ${zThreshold}`);
  }
  return { removalFactor, zThreshold, eps, minTailShare };
}

/**
 * The per-class phase of spectral signatures on one class (see {@link SsClassStats}): the
 * class's records are rows `rows` of `reps` and records `indices` of the dataset. Undefined for a
 * class of fewer than 2 records (too few for a spectral signature).
 */
export function spectralSignaturesClass(
  reps: Representations,
  rows: Int32Array,
  indices: Int32Array,
  classIndex: number,
  options: SpectralSignatureOptions = {},
): SsClassStats | undefined {
  const { zThreshold } = ssParams(options);
  const c = classIndex;
  if (rows.length !== indices.length) {
    throw new AntidoteError(
      'SHAPE_MISMATCH',
      `class ${c}: ${rows.length} rows for ${indices.length} records`,
    );
  }
  if (rows.length < 2) return undefined;
  const rng = new Rng(options.seed ?? 0);
  const pcs = principalComponents(reps.data, reps.dim, rows, 1, rng.fork(`class-${c}`));
  const proj = projectRows(reps.data, reps.dim, rows, pcs.mean, pcs.vectors, 1);
  const med = median(proj);
  const scale = 1.4826 * mad(proj, med);
  const scale2 = scale > 0 ? scale * scale : Math.max(pcs.values[0]!, 1e-30);
  const sd = scale > 0 ? scale : Math.sqrt(scale2);
  // ε̂: robust outliers on the heavier side of the projection (beyond zThreshold), the class
  // statistic judged among the classes.
  let above = 0;
  let below = 0;
  for (let r = 0; r < proj.length; r++) {
    const z = (proj[r]! - med) / sd;
    if (z > zThreshold) above++;
    else if (z < -zThreshold) below++;
  }
  return {
    classIndex: c,
    indices,
    proj,
    scale,
    scale2,
    top: pcs.values[0]!,
    above,
    below,
    tail: Math.max(above, below) / rows.length,
  };
}

/**
 * Spectral signatures on precomputed representations; see {@link SpectralSignatureOptions}.
 * Runs in two phases: {@link spectralSignaturesClass} on each class, then
 * {@link spectralSignaturesAmongClasses}; a distributed scan runs the first on workers.
 */
export function spectralSignatures(
  input: { reps: Representations; y: Int32Array; classes: readonly string[] },
  options: SpectralSignatureOptions = {},
): DetectionReport {
  checkRepresentations(input.reps, input.y.length);
  ssParams(options);
  const byClass = indicesByClass(input.y, input.classes.length);
  const stats = byClass.map((idx, c) => spectralSignaturesClass(input.reps, idx, idx, c, options));
  return spectralSignaturesAmongClasses(input, stats, options);
}

/**
 * The cross-class phase of spectral signatures: from every class's statistics (one per class,
 * in class order, undefined for a class too small; from {@link spectralSignaturesClass} with the
 * same options), judges each class's tail among the classes, estimates ε and removes the top
 * `removalFactor`·ε of each class by squared projection.
 */
export function spectralSignaturesAmongClasses(
  input: { y: Int32Array; classes: readonly string[] },
  stats: readonly (SsClassStats | undefined)[],
  options: SpectralSignatureOptions = {},
): DetectionReport {
  const n = input.y.length;
  const { removalFactor, zThreshold, eps, minTailShare } = ssParams(options);
  const k = input.classes.length;
  const byClass = indicesByClass(input.y, k);
  if (stats.length !== k || stats.some((st, c) => st !== undefined && st.classIndex !== c)) {
    throw new AntidoteError(
      'SHAPE_MISMATCH',
      `spectral signatures needs the statistics of the ${k} classes in order, got ${stats.length}`,
    );
  }
  const scores = new Float32Array(n);
  const flagged = new Uint8Array(n);
  const measured = stats.filter((st): st is SsClassStats => st !== undefined);
  for (const m of measured) {
    for (let r = 0; r < m.proj.length; r++) {
      scores[m.indices[r]!] = (m.proj[r]! * m.proj[r]!) / m.scale2;
    }
  }
  // Calibration (issue 16): each class's ε̂ among the classes (modified z, spread at least the
  // binomial sampling error of the median share).
  const tails = measured.map((m) => m.tail);
  const n0 = measured.length
    ? measured.reduce((a, m) => a + m.indices.length, 0) / measured.length
    : 1;
  const mTail = median(tails.length ? tails : [0]);
  const nul = robustNull(tails.length ? tails : [0], Math.sqrt(Math.max(mTail, 1 / n0) / n0));
  const perClass: ClassFinding[] = [];
  for (let c = 0; c < k; c++) {
    const idx = byClass[c]!;
    const className = input.classes[c]!;
    const m = measured.find((x) => x.classIndex === c);
    if (!m) {
      perClass.push({
        classIndex: c,
        className,
        count: idx.length,
        flagged: 0,
        suspicious: false,
        strength: 0,
        reason: `${idx.length} record(s): too few for a spectral signature, left alone`,
        stats: {},
      });
      continue;
    }
    const { proj, scale, scale2, above, below } = m;
    const strength = modifiedZ(m.tail, nul);
    // ε: given, or the estimate ε̂ (records beyond zThreshold robust SDs); an estimate below
    // minTailShare is a heavy tail, not a poisoned group, and flags nothing.
    const tooFew = eps === undefined && m.tail > 0 && m.tail < minTailShare;
    const epsilon = eps ?? (tooFew ? 0 : m.tail);
    const budget = Math.min(idx.length, Math.round(removalFactor * epsilon * idx.length));
    const order = Array.from(proj.keys()).sort((a, b) => proj[b]! ** 2 - proj[a]! ** 2);
    for (let t = 0; t < budget; t++) flagged[idx[order[t]!]!] = 1;
    const cut = budget > 0 ? proj[order[budget - 1]!]! ** 2 / scale2 : null;
    const tailText = `estimated ε ${fmt(m.tail)} (${Math.max(above, below)} records beyond ${zThreshold} robust SDs along the top singular vector), strength ${fmt(strength)} among the classes`;
    perClass.push({
      classIndex: c,
      className,
      count: idx.length,
      flagged: budget,
      suspicious: budget > 0,
      strength: roundStrength(strength),
      reason:
        budget > 0
          ? `${eps === undefined ? tailText : `given ε ${fmt(epsilon)}`}; removed the top ${removalFactor}·ε = ${budget} records by squared projection`
          : tooFew
            ? `${tailText}: fewer than ${fmt(minTailShare * 100)}% of the class, the far tail of the class rather than a poisoned group: left alone`
            : eps === undefined
              ? `no record lies beyond ${zThreshold} robust SDs along the top singular vector (top eigenvalue ${fmt(m.top)}): left alone`
              : `given ε ${fmt(epsilon)} leaves no record to remove`,
      stats: {
        epsilon,
        epsilonEstimated: eps === undefined,
        removed: budget,
        topEigenvalue: m.top,
        robustScale: scale,
        outliersAbove: above,
        outliersBelow: below,
        tailShare: m.tail,
        strength: roundStrength(strength),
        scoreThreshold: cut,
      },
    });
  }
  return {
    method: 'spectral-signatures',
    scores,
    flagged,
    perClass,
    params: {
      epsilon: eps ?? null,
      removalFactor,
      zThreshold,
      minTailShare,
      seed: options.seed ?? 0,
      layer: options.layer ?? null,
    },
  };
}

/** Spectral signatures as a {@link PoisonDetector}. */
export const spectralSignaturesDetector: PoisonDetector<SpectralSignatureOptions> = {
  name: 'spectral-signatures',
  async detect(ds, model, options = {}) {
    const reps = await computeRepresentations(ds, model, options);
    return spectralSignatures({ reps, y: ds.y, classes: ds.classes }, options);
  },
};

/**
 * The options of spectral signatures as the registry runs it (`--method ss`): the scan's
 * context (the detector has no flags of its own). A distributed scan derives the workers'
 * options from the same function.
 */
export function ssEntryOptions(
  _options: object,
  context: DetectorContext,
): SpectralSignatureOptions {
  return commonDetectorOptions(context);
}

/** Spectral signatures in the detector registry: `antidote scan --method ss`. */
export const spectralSignaturesEntry = defineDetector({
  name: 'ss',
  title: 'Spectral signatures',
  paper: 'Tran, Li & Madry 2018, "Spectral Signatures in Backdoor Attacks", NeurIPS',
  finds: 'backdoor',
  domains: ['features', 'text', 'tabular'],
  options: z.object({}),
  run: (ds, model, options, context) =>
    spectralSignaturesDetector.detect(ds, model, ssEntryOptions(options, context)),
});
