import { z } from 'zod';
import type { Dataset } from '../data/dataset.js';
import { recordSize } from '../data/dataset.js';
import { valueRange } from '../data/range.js';
import type { Classifier } from '../engine/classifier.js';
import { AntidoteError } from '../errors.js';
import {
  DENSE_EIGEN_MAX_DIM,
  type EigenPairs,
  orthonormalizeRows,
  principalComponents,
  symmetricEigen,
} from '../numeric/index.js';
import { Rng } from '../util/rng.js';
import { modifiedZ, robustNull, roundStrength } from './calibration.js';
import {
  type ClassFinding,
  type DetectionReport,
  fmt,
  indicesByClass,
  STRONG_EVIDENCE,
} from './detector.js';
import { commonDetectorOptions, type DetectorContext, defineDetector } from './detector-entry.js';
import { consistentDeparture, type Departure, departureMapsAgree } from './pattern-departure.js';
import {
  coreFailures,
  fallModes,
  type PatternRemoval,
  patternRemoval,
  removalCarriers,
  strongerControl,
} from './pattern-removal.js';
import {
  checkModelMatchesData,
  computeRepresentations,
  type RepresentationOptions,
  type Representations,
} from './representations.js';
import { splitAtTail, twoModeSplit } from './two-mode-split.js';

/**
 * Low-variance cluster trigger transfer (issue 16): finds a backdoor cluster that sits along a
 * direction where its class varies little (not in the class's tail, so activation clustering and
 * spectral signatures pass it), then confirms it is causal.
 *
 * 1. Candidates. The directions spanned by the class means are projected out of every record's
 *    representation (its class mean subtracted, then the component in span{class means − grand
 *    mean} removed), so what remains is within-class variation the classes do not share. Per
 *    class, the top `dims` principal directions of that residual are whitened and searched along
 *    two kinds of direction: the principal directions (split where two 1-D Gaussians with their
 *    own variances fit best: a tight minority mode), and the directions of largest kurtosis (FOBI,
 *    Cardoso 1989, "Source separation using higher order moments", ICASSP; split by 1-D 2-means),
 *    both among the first 32 whitened directions; the kurtosis directions once more among all
 *    `dims` (the wide search, for a poison too small to add a direction of its own variance:
 *    0.5% of a class), its candidates judged among the classes' wide candidates.
 *    The smaller side of each split is a candidate cluster, unless the best split is at the
 *    smallest allowed size (a heavy tail, not a mode: measured on clean Fashion-MNIST, such
 *    30-record extremes transfer to their class as well as a trigger). Of the first
 *    principal directions (`principalDirections`: by default those above the average variance,
 *    at least 3) and the first `kurtosisDirections` FOBI directions of each search, the one
 *    of each kind whose refined candidate is the cleanest mode (largest separation) is kept: a
 *    heavy tail can out-rank the poison's direction in kurtosis, and the class's own broad
 *    variation in variance (an mlp's ReLU layer; docs/detectors.md, "Trigger transfer on an mlp" and "the
 *    poison along a later principal direction").
 * 2. Confirmation by trigger transfer. A natural sub-style of a class is as tight as a backdoor
 *    cluster in that space (Fashion-MNIST "Trouser"), but it is not a trigger. The candidate's
 *    input-space pattern is estimated as the mean difference between its records and their nearest
 *    records of other classes (a sample), added to a seeded sample of records of other classes
 *    (clipped to the data's range), and the share the model then assigns to the candidate's class
 *    is measured; the same is done for a random subset of the class of the same size (the class's
 *    own semantics transfer too). The class statistic is the best candidate's transfer minus that
 *    control, judged among the classes (modified z-score, median/MAD, the spread at least the
 *    binomial sampling error of a difference of two rates). A class at {@link STRONG_EVIDENCE} or
 *    more is strong; the largest of its candidates whose own gain is strong is flagged, after a
 *    linear refinement (Fisher's direction between it and the rest of the class, iterated).
 *    All-to-all (docs/detectors.md, "Trigger transfer on all-to-all"): a trigger that moves class
 *    k to k + 1 sends few probes to the candidate's class, every class alike. So a second
 *    confirmation measures the share of probes the pattern moves out of their own class, one
 *    destination per source (`pattern-departure.ts`), against the control's (its pattern also
 *    scaled to the candidate's norm) by a two-proportion z within the class; it counts where a
 *    departing candidate of another class moves the probes alike (one trigger, one map).
 * 3. Expansion by a per-record removal test (`pattern-removal.ts`; docs/detectors.md, "Trigger
 *    transfer: the per-record removal test"). On an mlp the poison keeps its source class in the
 *    representation, so it forms one sub-mode per source and the candidate is one of them. For
 *    each candidate whose transfer beats its control beyond sampling error, the pattern is
 *    re-estimated from the refined candidate and removed from every record of the class
 *    (clipped to the data's range); the records the model then sends out of the class, with
 *    their fall in log-probability in the upper mode of the class's falls, and which lose more
 *    of the class than when the control's pattern is removed the same way, fail the test. The
 *    records that need the pattern must carry it: a candidate's transfer is the smaller of its
 *    own and that of its core, the records that fail the test as deeply as the candidate's own
 *    (`coreFailures`: at least the candidate's median fall; a natural sub-style's core, the
 *    class's records that need its strokes, does not transfer; the upper mode alone, at 1% of a
 *    class, is diluted by clean records), and the failing records beyond the refined candidate
 *    are flagged with it only if their own pattern beats the control (fragile clean records near
 *    a boundary do not carry the pattern). The failing records (with the carriers the model did not
 *    fit, which it does not assign to the class even with the trigger) are split in two groups by
 *    the pattern's own effect on each, its fall beyond the control's matched in strength
 *    (`fallModes`); the lower group is dropped where its own pattern does not carry, and with it
 *    the candidate's own records of as small an effect where theirs does not either. A candidate
 *    whose departure (not its transfer) beats
 *    the control's is tested the same way, the records beyond it judged by their own pattern's
 *    departure and map; they are flagged only where the candidate is confirmed by its departure
 *    (all-to-all). One or two forward passes of the class per tested candidate (its pattern, and
 *    the control's scaled to its norm where that is stronger), plus one of the class as it is.
 *
 * Images only (records of two or more dimensions); on tabular rows and token sequences the
 * detector abstains (nothing flagged, strength 0).
 *
 * Reported score: the record's whitened distance from its class's bulk along the candidate's
 * direction, towards the candidate's side (0 elsewhere), for the flagged candidate.
 */
export interface TriggerTransferOptions extends RepresentationOptions {
  /**
   * Whitened principal directions of each class's residual kept: the space the wide kurtosis
   * directions are searched in (the principal ones and the first kurtosis ones are searched in
   * the first 32, {@link NARROW_SPAN}). Default 64. A poison of a few records adds little
   * variance of its own (a share p shifted by δ adds p·δ² along its direction), so at 0.5% of a
   * class its direction is not among the class's largest: MNIST mlp, 30 poisoned records of 5,953
   * (image insert, blend α 0.1, pattern), 10–17% of the poison's mean difference lies beyond the
   * first 32 principal directions, in directions of 1–2% of the first one's variance. In 32 the
   * largest-kurtosis direction held none of the blend's or the pattern's poison; in 64 it holds
   * all 30 of each (kurtosis 96–163, poison in its top 30: 30, 24 and 30 of 30). 32 or fewer: no
   * wide search.
   */
  readonly dims?: number;
  /**
   * Smallest candidate of the principal and the first kurtosis directions, as a share of its
   * class. Default 0.005. Not much lower: at 0.002 modes of 14–20 records became the cleanest of
   * their directions and shrank the control to their size (a smaller random subset's pattern is
   * noisier and moves more probes: 0.375 against 0.175), and the poison of Fashion-MNIST cnn,
   * blend α 0.1 at 5% of "T-shirt/top" (ASR 0.59), went unconfirmed (PASS).
   */
  readonly minShare?: number;
  /**
   * Smallest candidate of the wide kurtosis directions (see `dims`), as a share of its class.
   * Default 0.004: it must lie below the smallest poison share to be found, because a best split
   * at this boundary is read as a heavy tail, not a mode (`splitSmall`); with 0.005 a poison of
   * exactly 0.5% of its class (30 of 5,953 records) was cut at the boundary and dropped. The wide
   * search is what finds a poison too small to add a direction of its own variance, so its
   * smallest candidate goes below the first directions'.
   */
  readonly wideMinShare?: number;
  /**
   * Principal directions of the residual searched, largest variance first: a count, or
   * `'above-average'` (the default): every whitened direction whose variance exceeds the average
   * of the `dims` kept (Kaiser's rule, Kaiser 1960, "The application of electronic computers to
   * factor analysis", Educational and Psychological Measurement 20), and at least 3. The class's
   * own broad variation can out-rank the poison's direction (MNIST mlp, blend α 0.2 at 10% of the
   * target, seed 2: the poison lies along the second principal direction, alone at AUC 1.00; the
   * first, a flat spread of excess kurtosis −1.1, offers no candidate), and several can: MNIST
   * mlp, single pixel at 10% of every class (all-to-all), the poison of "2" lies along the fourth
   * and eighth (AUC 0.95 and 0.94), none of the first three; nine of its 32 directions are above
   * the average. With `'above-average'` the cleanest mode of the directions beyond the first
   * three is a candidate of its own, beside the cleanest of the first three (kept as before: a
   * later direction can hold a cleaner sub-mode of the poison, Fashion-MNIST cnn, blend α 0.1 at
   * 10%: 183 records at separation 14.5 against the 561 at 10.5 that the removal test expands).
   */
  readonly principalDirections?: number | 'above-average';
  /**
   * FOBI directions searched, largest kurtosis first. Default 6: a heavy-tailed direction (a few
   * extreme records, no mode) can out-rank the poison's: on an mlp's 256-unit ReLU layer (MNIST,
   * pixel trigger at 5% of the target) the poison lies along the third (cosine 0.87 with the
   * poison-versus-class mean difference), the first two being tails of kurtosis 23 and 16.
   * At 1% of a class the poison can lie further down (Fashion-MNIST mlp, blend α 0.2 at 1% of
   * "T-shirt/top", seed 2, a case never used in development: the fifth, where its 72-record mode
   * holds all 61 carriers at separation 14.5, the cleanest of the six). Of all of them only the
   * cleanest mode is a candidate, so a wider search costs splits, not transfer tests.
   */
  readonly kurtosisDirections?: number;
  /** Candidate records used to estimate the pattern. Default 100. */
  readonly patternRecords?: number;
  /** Records of other classes searched for nearest neighbours. Default 500. */
  readonly references?: number;
  /** Records of other classes the pattern is added to. Default 200. */
  readonly probes?: number;
  /** Seed of the samples. Default 0. */
  readonly seed?: number;
}

/**
 * Classes whose departing candidates must move the probes alike before a departure counts: an
 * all-to-all trigger serves every class, so it is found in many; two classes' natural sub-styles
 * can agree by chance (see {@link triggerTransferAmongClasses}).
 */
const DEPARTURE_QUORUM = 3;

/**
 * The one-sided 5% level of a standard normal: a candidate whose transfer beats its control by
 * this many standard errors, but not by {@link STRONG_EVIDENCE}, is purified (see
 * {@link purifiedTransfer}).
 */
const PROMISING = 1.645;

/** A candidate cluster of one class and its transfer measurement. */
interface Candidate {
  readonly direction: 'principal' | 'kurtosis' | 'wide-kurtosis';
  /** Rank of the direction among its kind (0: the first principal / largest-kurtosis one). */
  readonly rank: number;
  /**
   * The directions of which the cleanest mode is kept: the kurtosis ones, the first
   * {@link FIRST_PRINCIPAL} principal ones, and those beyond them that the above-average rule
   * adds (see {@link TriggerTransferOptions.principalDirections}).
   */
  readonly group: 'principal' | 'principal-later' | 'kurtosis' | 'wide-kurtosis';
  /** Dataset indices of the candidate's records. */
  readonly members: Int32Array;
  /** Whitened projection of every class record, signed so that the candidate lies above. */
  readonly proj: Float64Array;
  /** Positions of the members among the class's records. */
  readonly rows: Int32Array;
  /** The class's whitened residual coordinates, `[class records, stride]`. */
  readonly coords: Float64Array;
  readonly stride: number;
  /**
   * The leading coordinates the candidate is refined in, the space it was searched in: the
   * first {@link NARROW_SPAN} for a principal or kurtosis candidate, all of them for a wide
   * kurtosis one.
   */
  readonly dims: number;
  /** Share of the probes the model assigns to the class with the pattern added. */
  transfer: number;
}

/** Best split of a 1-D sample into a low and a high side (`twoModeSplit`); returns the smaller side (sorted positions). */
function splitSmall(
  p: Float64Array,
  minShare: number,
  unequalVariances: boolean,
): { small: Int32Array; above: boolean } | undefined {
  const n = p.length;
  const lo = Math.max(2, Math.ceil(n * minShare));
  const split = twoModeSplit(p, lo, unequalVariances);
  // A best split at the smallest allowed side is a heavy tail, not a mode: no candidate.
  if (!split || splitAtTail(split, n, lo)) return undefined;
  const { order, cut } = split;
  const above = cut > n - cut;
  const small = above ? order.subarray(cut) : order.subarray(0, cut);
  return { small: Int32Array.from(small), above };
}

/**
 * The top `k` eigen-pairs of the covariance of the centred rows `res` (`[n, d]`): the dense
 * `d × d` covariance and its full decomposition up to {@link DENSE_EIGEN_MAX_DIM} dimensions (the
 * zoo's representation layers: the same numbers as always); seeded block subspace iteration for
 * wider layers, whose dense decomposition is cubic in d (the ONNX CNN fixture's flattened
 * convolution output: 27 s of a 300-record audit went to it; the whole audit now takes 4.9 s).
 */
function residualEigen(
  res: Float64Array,
  n: number,
  d: number,
  k: number,
  classIndex: number,
): EigenPairs {
  if (d > DENSE_EIGEN_MAX_DIM) {
    const pc = principalComponents(
      Float32Array.from(res),
      d,
      Int32Array.from({ length: n }, (_, i) => i),
      k,
      new Rng(0).fork(`tt-residual-${classIndex}`),
    );
    return { values: pc.values, vectors: pc.vectors };
  }
  const cov = new Float64Array(d * d);
  // Four rows per pass over the covariance (a quarter of its loads and stores), the last rows one
  // at a time, each row's products added in the same order: the same sums to the bit.
  let r = 0;
  for (; r + 3 < n; r += 4) {
    const o1 = r * d;
    const o2 = o1 + d;
    const o3 = o2 + d;
    const o4 = o3 + d;
    for (let a = 0; a < d; a++) {
      const ra = res[o1 + a]!;
      const sa = res[o2 + a]!;
      const ta = res[o3 + a]!;
      const ua = res[o4 + a]!;
      if (ra === 0 && sa === 0 && ta === 0 && ua === 0) continue;
      const ca = a * d;
      for (let b = a; b < d; b++)
        cov[ca + b] =
          cov[ca + b]! +
          ra * res[o1 + b]! +
          sa * res[o2 + b]! +
          ta * res[o3 + b]! +
          ua * res[o4 + b]!;
    }
  }
  for (; r < n; r++) {
    const row = res.subarray(r * d, (r + 1) * d);
    for (let a = 0; a < d; a++) {
      const ra = row[a]!;
      if (ra === 0) continue;
      for (let b = a; b < d; b++) cov[a * d + b]! += ra * row[b]!;
    }
  }
  for (let a = 0; a < d; a++) {
    for (let b = a; b < d; b++) {
      cov[a * d + b]! /= n;
      cov[b * d + a] = cov[a * d + b]!;
    }
  }
  return symmetricEigen(cov, d, k);
}

/**
 * Per class, the whitened residual coordinates (see {@link TriggerTransferOptions}) and the two
 * candidate clusters; undefined for a class too small to split.
 */
function classCandidates(
  reps: Representations,
  idx: Int32Array,
  means: Float64Array,
  basis: Float64Array,
  basisRows: number,
  classIndex: number,
  dims: number,
  minShare: number,
  wideMinShare: number,
  principalDirections: number | 'above-average',
  kurtosisDirections: number,
): Candidate[] {
  const d = reps.dim;
  const n = idx.length;
  if (n < 20) return [];
  const mu = means.subarray(classIndex * d, (classIndex + 1) * d);
  // Residuals with the class-mean span projected out.
  const res = new Float64Array(n * d);
  const center = new Float64Array(d);
  for (let r = 0; r < n; r++) {
    const o = idx[r]! * d;
    const row = res.subarray(r * d, (r + 1) * d);
    for (let j = 0; j < d; j++) row[j] = reps.data[o + j]! - mu[j]!;
    for (let b = 0; b < basisRows; b++) {
      const q = basis.subarray(b * d, (b + 1) * d);
      let dot = 0;
      for (let j = 0; j < d; j++) dot += row[j]! * q[j]!;
      for (let j = 0; j < d; j++) row[j]! -= dot * q[j]!;
    }
    for (let j = 0; j < d; j++) center[j]! += row[j]! / n;
  }
  for (let r = 0; r < n; r++) {
    const row = res.subarray(r * d, (r + 1) * d);
    for (let j = 0; j < d; j++) row[j]! -= center[j]!;
  }
  const eig = residualEigen(res, n, d, Math.min(dims, d, n - 1), classIndex);
  let k = 0;
  const top = eig.values[0] ?? 0;
  while (k < eig.values.length && eig.values[k]! > Math.max(top, 1e-30) * 1e-9) k++;
  if (k < 1) return [];
  // Whitened coordinates [n, k].
  // Two records and four directions per pass (each value read once for four or two products,
  // each coordinate summed in order: the same coordinates to the bit).
  const zc = new Float64Array(n * k);
  const vec = eig.vectors;
  const scale = Float64Array.from({ length: k }, (_, c) => Math.sqrt(eig.values[c]!));
  const k4 = k - (k % 4);
  let r = 0;
  for (; r + 1 < n; r += 2) {
    const o = r * d;
    const p = o + d;
    for (let c = 0; c < k4; c += 4) {
      const v0 = c * d;
      const v1 = v0 + d;
      const v2 = v1 + d;
      const v3 = v2 + d;
      let a0 = 0;
      let a1 = 0;
      let a2 = 0;
      let a3 = 0;
      let b0 = 0;
      let b1 = 0;
      let b2 = 0;
      let b3 = 0;
      for (let j = 0; j < d; j++) {
        const x = res[o + j]!;
        const y = res[p + j]!;
        const u0 = vec[v0 + j]!;
        const u1 = vec[v1 + j]!;
        const u2 = vec[v2 + j]!;
        const u3 = vec[v3 + j]!;
        a0 += x * u0;
        a1 += x * u1;
        a2 += x * u2;
        a3 += x * u3;
        b0 += y * u0;
        b1 += y * u1;
        b2 += y * u2;
        b3 += y * u3;
      }
      const z = r * k + c;
      zc[z] = a0 / scale[c]!;
      zc[z + 1] = a1 / scale[c + 1]!;
      zc[z + 2] = a2 / scale[c + 2]!;
      zc[z + 3] = a3 / scale[c + 3]!;
      zc[z + k] = b0 / scale[c]!;
      zc[z + k + 1] = b1 / scale[c + 1]!;
      zc[z + k + 2] = b2 / scale[c + 2]!;
      zc[z + k + 3] = b3 / scale[c + 3]!;
    }
  }
  if (r < n) whitenRow(res, r, d, vec, scale, zc, k, 0, k4);
  if (k4 < k) for (let t = 0; t < n; t++) whitenRow(res, t, d, vec, scale, zc, k, k4, k);
  // The principal directions and the first kurtosis ones are searched among the first
  // NARROW_SPAN coordinates (as when `dims` was 32); the wide kurtosis ones among all k.
  const span = Math.min(k, NARROW_SPAN);
  const out: Candidate[] = [];
  const searched: [
    Candidate['direction'],
    number,
    Float64Array,
    boolean,
    Candidate['group'],
    number,
  ][] = [];
  for (
    let t = 0;
    t < Math.min(searchedPrincipal(eig.values, span, principalDirections), span);
    t++
  ) {
    const axis = new Float64Array(k);
    axis[t] = 1;
    const later = principalDirections === 'above-average' && t >= FIRST_PRINCIPAL;
    searched.push(['principal', t, axis, true, later ? 'principal-later' : 'principal', span]);
  }
  const spaces: [Candidate['direction'], number][] = [['kurtosis', span]];
  if (k > span) spaces.push(['wide-kurtosis', k]);
  for (const [direction, m] of spaces) {
    const fobi = fobiDirections(zc, n, k, m, kurtosisDirections);
    for (let t = 0; t < fobi.values.length; t++) {
      const u = new Float64Array(k);
      u.set(fobi.vectors.subarray(t * m, (t + 1) * m));
      searched.push([direction, t, u, false, direction, m]);
    }
  }
  for (const [direction, rank, u, unequal, group, m] of searched) {
    const p = new Float64Array(n);
    for (let r = 0; r < n; r++) {
      let dot = 0;
      for (let c = 0; c < m; c++) dot += zc[r * k + c]! * u[c]!;
      p[r] = dot;
    }
    const split = splitSmall(p, direction === 'wide-kurtosis' ? wideMinShare : minShare, unequal);
    if (!split) continue;
    if (!split.above) for (let r = 0; r < n; r++) p[r] = -p[r]!;
    out.push({
      direction,
      rank,
      group,
      members: Int32Array.from(split.small, (r) => idx[r]!),
      proj: p,
      rows: split.small,
      coords: zc,
      stride: k,
      dims: m,
      transfer: 0,
    });
  }
  return out;
}

/** Whitened coordinates `from`–`to` of residual row `r` (`[·, d]`) into `zc` (`[·, k]`), each summed in order. */
function whitenRow(
  res: Float64Array,
  r: number,
  d: number,
  vec: Float64Array,
  scale: Float64Array,
  zc: Float64Array,
  k: number,
  from: number,
  to: number,
): void {
  const o = r * d;
  for (let c = from; c < to; c++) {
    let dot = 0;
    for (let j = 0; j < d; j++) dot += res[o + j]! * vec[c * d + j]!;
    zc[r * k + c] = dot / scale[c]!;
  }
}

/**
 * Whether two candidates' refined records `a` and `b` (positions among the class's records) are
 * the same mode: more than half of each one's records are the other's. Most of a small mode
 * inside a loose candidate does not count: the loose one's pattern is the class's broad variation,
 * not the mode's (MNIST cnn, single pixel at 0.5% of "0", seed 3: the poison's 30 records inside a
 * first-direction kurtosis candidate of 1,598 that moved 0.005 of the probes).
 */
export function sameMode(a: Int32Array, b: Int32Array): boolean {
  const inA = new Set(a);
  let shared = 0;
  for (const r of b) if (inA.has(r)) shared++;
  return shared * 2 > a.length && shared * 2 > b.length;
}

/**
 * Whether a wide kurtosis mode with refined records `own` is held by another kept candidate
 * (`others`: each with its group and refined records), so that it is judged there and not as a
 * candidate of its own: the same mode ({@link sameMode}) as a candidate whose transfer is judged.
 * A later principal direction's candidate (`principal-later`) serves the departure only, so it
 * holds nothing (MNIST cnn, image insert at 0.5% of "0", seed 2, ASR 0.97: the poison's 30
 * records were both the sixth principal direction's candidate, moving 0.56 of the probes, and
 * the first wide kurtosis direction's; dropped as held there, judged nowhere: PASS).
 */
export function heldByJudged(
  own: Int32Array,
  others: readonly { readonly group: string; readonly rows: Int32Array }[],
): boolean {
  return others.some((o) => o.group !== 'principal-later' && sameMode(own, o.rows));
}

/**
 * Whitened principal directions among which the principal candidates and the first group of
 * kurtosis ones are searched (the average of the above-average rule is theirs too); the wide
 * kurtosis directions are searched in all `dims`. The poison of 0.5% of a class needs the wider
 * space for its FOBI direction, not for a principal one (a direction of its own variance would be
 * among the first 32), and each further principal direction costs a split and its refinement:
 * with the rule over 64 directions, `tt` took 4.3 → 5.4 s of a 60,000-record MNIST cnn scan. The
 * FOBI directions of the wider space replace those of the first 32 badly: its kurtosis directions
 * isolate tighter, smaller modes of a larger poison, whose patterns move fewer probes
 * (Fashion-MNIST mlp, checkerboard at 1% of "T-shirt/top", seed 1: 34 records moving 0.33 of the
 * probes against 63 moving 0.415 in the first 32; the class fell below the evidence bar), so both
 * are searched, each group's cleanest mode a candidate of its own.
 */
const NARROW_SPAN = 32;

/**
 * The top `count` FOBI directions (Cardoso 1989, "Source separation using higher order moments",
 * ICASSP) of the first `m` of the `stride` whitened coordinates of `n` records `zc`: the
 * eigenvectors of E[|z|² z zᵀ] of largest eigenvalue, the directions of largest kurtosis.
 */
function fobiDirections(
  zc: Float64Array,
  n: number,
  stride: number,
  m: number,
  count: number,
): EigenPairs {
  const m4 = new Float64Array(m * m);
  const weight = (o: number): number => {
    let w = 0;
    for (let c = 0; c < m; c++) w += zc[o + c]! * zc[o + c]!;
    return w;
  };
  // Two records per pass over the upper triangle, each entry's terms added in record order (the
  // same sums to the bit as one record at a time).
  let r = 0;
  for (; r + 1 < n; r += 2) {
    const o1 = r * stride;
    const o2 = o1 + stride;
    const w1 = weight(o1);
    const w2 = weight(o2);
    for (let a = 0; a < m; a++) {
      const za = w1 * zc[o1 + a]!;
      const ya = w2 * zc[o2 + a]!;
      const row = a * m;
      for (let b = a; b < m; b++) m4[row + b] = m4[row + b]! + za * zc[o1 + b]! + ya * zc[o2 + b]!;
    }
  }
  for (; r < n; r++) {
    const o = r * stride;
    const w = weight(o);
    for (let a = 0; a < m; a++) {
      const za = w * zc[o + a]!;
      for (let b = a; b < m; b++) m4[a * m + b]! += za * zc[o + b]!;
    }
  }
  for (let a = 0; a < m; a++) for (let b = a; b < m; b++) m4[b * m + a] = m4[a * m + b]!;
  return symmetricEigen(m4, m, Math.min(count, m));
}

/**
 * The principal directions searched as before the above-average rule (their cleanest mode is one
 * candidate; the cleanest of the further ones another).
 */
const FIRST_PRINCIPAL = 3;

/**
 * How many of the `k` principal directions of variances `values` (largest first) are searched:
 * `count` itself, or for `'above-average'` those above the average of the `k`, at least 3
 * (see {@link TriggerTransferOptions.principalDirections}).
 */
function searchedPrincipal(
  values: ArrayLike<number>,
  k: number,
  count: number | 'above-average',
): number {
  if (count !== 'above-average') return count;
  let mean = 0;
  for (let t = 0; t < k; t++) mean += values[t]! / k;
  let above = 0;
  while (above < k && values[above]! > mean) above++;
  return Math.max(FIRST_PRINCIPAL, above);
}

/** A candidate's direction as reports name it: `principal`, `principal-2`, …, `kurtosis`, `kurtosis-2`, … */
function directionName(cand: { readonly direction: string; readonly rank: number }): string {
  return cand.rank === 0 ? cand.direction : `${cand.direction}-${cand.rank + 1}`;
}

/** Steps of linear refinement at most (it stops earlier when the flagged set no longer changes). */
const REFINE_STEPS = 5;

/**
 * One step of linear refinement of a confirmed candidate: the records of the class projected on
 * the difference of the candidate's and the rest's means in the whitened residual space (Fisher's
 * direction, the total covariance being the identity there), cut where two Gaussians with the
 * pooled variance and the two sizes as priors meet. Returns the projection (candidate above) and
 * the positions beyond the cut.
 */
function refineCandidate(cand: Candidate): {
  proj: Float64Array;
  rows: Int32Array;
  separation: number;
} {
  const k = cand.dims;
  const stride = cand.stride;
  const z0 = cand.coords;
  const n = z0.length / stride;
  const inside = new Uint8Array(n);
  for (const r of cand.rows) inside[r] = 1;
  const n1 = cand.rows.length;
  const n0 = n - n1;
  if (n1 < 2 || n0 < 2) return { proj: cand.proj, rows: cand.rows, separation: 0 };
  const w = new Float64Array(k);
  // Four coordinates per step, each sum in its order (the same numbers as one at a time).
  const k4 = k - (k % 4);
  for (let r = 0; r < n; r++) {
    const f = inside[r] ? 1 / n1 : -1 / n0;
    const o = r * stride;
    let c = 0;
    for (; c < k4; c += 4) {
      w[c]! += f * z0[o + c]!;
      w[c + 1]! += f * z0[o + c + 1]!;
      w[c + 2]! += f * z0[o + c + 2]!;
      w[c + 3]! += f * z0[o + c + 3]!;
    }
    for (; c < k; c++) w[c]! += f * z0[o + c]!;
  }
  const proj = new Float64Array(n);
  let m1 = 0;
  let m0 = 0;
  for (let r = 0; r < n; r++) {
    const o = r * stride;
    let dot = 0;
    let c = 0;
    for (; c < k4; c += 4) {
      dot += w[c]! * z0[o + c]!;
      dot += w[c + 1]! * z0[o + c + 1]!;
      dot += w[c + 2]! * z0[o + c + 2]!;
      dot += w[c + 3]! * z0[o + c + 3]!;
    }
    for (; c < k; c++) dot += w[c]! * z0[o + c]!;
    proj[r] = dot;
    if (inside[r]) m1 += dot / n1;
    else m0 += dot / n0;
  }
  let ss = 0;
  for (let r = 0; r < n; r++) ss += (proj[r]! - (inside[r] ? m1 : m0)) ** 2;
  const pooled = ss / (n - 2);
  if (!(m1 > m0) || !(pooled > 0)) return { proj: cand.proj, rows: cand.rows, separation: 0 };
  const separation = (m1 - m0) / Math.sqrt(pooled);
  const cut = (m1 + m0) / 2 + (pooled * Math.log(n0 / n1)) / (m1 - m0);
  const rows: number[] = [];
  for (let r = 0; r < n; r++) if (proj[r]! > cut) rows.push(r);
  return rows.length >= 2
    ? { proj, rows: Int32Array.from(rows), separation }
    : { proj: cand.proj, rows: cand.rows, separation };
}

/** The class means `[K, d]` and an orthonormal basis (`rows` of them) of span{class means − grand mean}. */
interface MeanSpan {
  readonly means: Float64Array;
  readonly basis: Float64Array;
  readonly rows: number;
}

/** The class means `[K, d]` and an orthonormal basis of span{class means − grand mean}. */
function meanSpan(reps: Representations, byClass: readonly Int32Array[]): MeanSpan {
  const d = reps.dim;
  const k = byClass.length;
  const means = new Float64Array(k * d);
  const present: number[] = [];
  byClass.forEach((idx, c) => {
    if (idx.length === 0) return;
    present.push(c);
    for (const i of idx) {
      for (let j = 0; j < d; j++) means[c * d + j]! += reps.data[i * d + j]! / idx.length;
    }
  });
  const grand = new Float64Array(d);
  for (const c of present)
    for (let j = 0; j < d; j++) grand[j]! += means[c * d + j]! / present.length;
  const rows = Math.min(Math.max(present.length - 1, 0), d);
  const basis = new Float64Array(rows * d);
  for (let r = 0; r < rows; r++) {
    const c = present[r]!;
    for (let j = 0; j < d; j++) basis[r * d + j] = means[c * d + j]! - grand[j]!;
  }
  orthonormalizeRows(basis, rows, d);
  return { means, basis, rows };
}

/** Share of `predicted` classes equal to `c` (0 when there are none). */
function shareIn(predicted: Int32Array, c: number): number {
  let hit = 0;
  for (const a of predicted) if (a === c) hit++;
  return predicted.length === 0 ? 0 : hit / predicted.length;
}

/**
 * The class the model assigns to each of `probes` (dataset indices) with `pattern` added
 * (clipped to `[lo, hi]`); as they are when `pattern` is null.
 */
async function patternedPredictions(
  rec: RecordRows,
  model: Classifier,
  probes: Int32Array,
  pattern: Float64Array | null,
  lo: number,
  hi: number,
): Promise<Int32Array> {
  return (await patternedPredictionsOf(rec, model, probes, [pattern], lo, hi))[0]!;
}

/** Values per forward pass of {@link patternedPredictionsOf} (64 MiB of float32 inputs). */
const PATTERNED_BATCH_VALUES = 1 << 24;

/**
 * {@link patternedPredictions} for several patterns, as few forward passes as the input size
 * allows (each pass pays the engine's fixed cost; a class tests 2 + 2 × candidates patterns on
 * the same probes).
 */
async function patternedPredictionsOf(
  rec: RecordRows,
  model: Classifier,
  probes: Int32Array,
  patterns: readonly (Float64Array | null)[],
  lo: number,
  hi: number,
): Promise<Int32Array[]> {
  const n = probes.length;
  const outs = patterns.map(() => new Int32Array(n));
  if (n === 0) return outs;
  const size = rec.size;
  const perPass = Math.max(1, Math.floor(PATTERNED_BATCH_VALUES / (n * size)));
  for (let first = 0; first < patterns.length; first += perPass) {
    const group = patterns.slice(first, first + perPass);
    const x = new Float32Array(group.length * n * size);
    group.forEach((pattern, g) => {
      probes.forEach((i, r) => {
        const o = rec.offset(i);
        const at = (g * n + r) * size;
        for (let j = 0; j < size; j++) {
          const v = rec.x[o + j]! + (pattern ? pattern[j]! : 0);
          x[at + j] = pattern ? Math.max(lo, Math.min(hi, v)) : v;
        }
      });
    });
    const p = await model.predictProba(x, group.length * n);
    const kk = p.length / (group.length * n);
    for (let g = 0; g < group.length; g++) {
      const out = outs[first + g]!;
      for (let r = 0; r < n; r++) {
        const row = (g * n + r) * kk;
        let am = 0;
        for (let j = 1; j < kk; j++) if (p[row + j]! > p[row + am]!) am = j;
        out[r] = am;
      }
    }
  }
  return outs;
}

/** The Euclidean norm of `v`. */
function euclideanNorm(v: Float64Array): number {
  let s = 0;
  for (const x of v) s += x * x;
  return Math.sqrt(s);
}

/** Mean over `members` of (record − its nearest record among `refs`), in input space. */
function nearestDifference(rec: RecordRows, members: Int32Array, refs: Int32Array): Float64Array {
  const size = rec.size;
  const x = rec.x;
  const out = new Float64Array(size);
  if (members.length === 0 || refs.length === 0) return out;
  // Partial distances (a reference is left once its sum reaches the best), checked every eight
  // values: the same sums in the same order, so the same nearest records, 25% faster.
  const block = size - (size % 8);
  for (const i of members) {
    const oi = rec.offset(i);
    let best = Number.POSITIVE_INFINITY;
    let bj = refs[0]!;
    for (const j of refs) {
      const oj = rec.offset(j);
      let dist = 0;
      let q = 0;
      for (; q < block && dist < best; q += 8) {
        const a = oi + q;
        const b = oj + q;
        const e0 = x[a]! - x[b]!;
        dist += e0 * e0;
        const e1 = x[a + 1]! - x[b + 1]!;
        dist += e1 * e1;
        const e2 = x[a + 2]! - x[b + 2]!;
        dist += e2 * e2;
        const e3 = x[a + 3]! - x[b + 3]!;
        dist += e3 * e3;
        const e4 = x[a + 4]! - x[b + 4]!;
        dist += e4 * e4;
        const e5 = x[a + 5]! - x[b + 5]!;
        dist += e5 * e5;
        const e6 = x[a + 6]! - x[b + 6]!;
        dist += e6 * e6;
        const e7 = x[a + 7]! - x[b + 7]!;
        dist += e7 * e7;
      }
      for (; q < size && dist < best; q++) {
        const e = x[oi + q]! - x[oj + q]!;
        dist += e * e;
      }
      if (dist < best) {
        best = dist;
        bj = j;
      }
    }
    const oj = rec.offset(bj);
    for (let q = 0; q < size; q++) out[q]! += (x[oi + q]! - x[oj + q]!) / members.length;
  }
  return out;
}

/** The finding of a class the detector did not judge (`why`, then "left alone"). */
function abstained(
  classIndex: number,
  className: string,
  count: number,
  why: string,
): ClassFinding {
  const reason = `${why}, left alone`;
  return {
    classIndex,
    className,
    count,
    flagged: 0,
    suspicious: false,
    strength: 0,
    reason,
    stats: {},
  };
}

/**
 * The records at `indices` (dataset indices) as one compact {@link RecordRows}: those in `fromFirst`
 * copied from `first`, the others from `second`.
 */
function joinRecords(
  first: RecordRows,
  indices: Iterable<number>,
  fromFirst: ReadonlySet<number>,
  second: RecordRows,
): RecordRows {
  const size = first.size;
  const at = new Map<number, number>();
  for (const i of indices) if (!at.has(i)) at.set(i, at.size * size);
  const x = new Float32Array(at.size * size);
  for (const [i, o] of at) {
    const src = fromFirst.has(i) ? first : second;
    const from = src.offset(i);
    x.set(src.x.subarray(from, from + size), o);
  }
  return { x, size, offset: (i) => at.get(i)! };
}

/** The records at dataset indices `indices`, one after another, `[indices.length, rec.size]`. */
function gathered(rec: RecordRows, indices: Int32Array): Float32Array {
  const x = new Float32Array(indices.length * rec.size);
  indices.forEach((i, r) => {
    x.set(rec.x.subarray(rec.offset(i), rec.offset(i) + rec.size), r * rec.size);
  });
  return x;
}

/** `k` seeded records drawn from `pool` (all of it when smaller). */
function draw(pool: Int32Array, k: number, rng: Rng): Int32Array {
  if (pool.length <= k) return pool;
  return Int32Array.from(rng.sample(pool.length, k), (r) => pool[r]!);
}

/**
 * The options of {@link triggerTransfer} as its two phases read them (plain values: a distributed
 * scan sends them to its workers), checked, with what only the whole dataset tells: whether its
 * records are images, its classes and its input range.
 */
export interface TriggerTransferPlan {
  readonly dims: number;
  readonly minShare: number;
  readonly wideMinShare: number;
  readonly principalDirections: number | 'above-average';
  readonly kurtosisDirections: number;
  readonly patternRecords: number;
  readonly references: number;
  readonly probes: number;
  readonly seed: number;
  readonly layer: string | null;
  /** Records of two or more dimensions: elsewhere the detector abstains. */
  readonly images: boolean;
  readonly numClasses: number;
  /** The smallest and largest input value: patterned probes are clipped to them. */
  readonly lo: number;
  readonly hi: number;
}

/**
 * {@link TriggerTransferPlan} of `options` on `ds`; `INVALID_ARGUMENT` for a bad option. Reads
 * every input value once (the range) when the records are images, unless their range is known
 * (`data/range.ts` `valueRange`: the scan's range check measured it).
 */
export function triggerTransferPlan(
  ds: Dataset,
  options: TriggerTransferOptions = {},
): TriggerTransferPlan {
  const dims = options.dims ?? 64;
  const minShare = options.minShare ?? 0.005;
  const wideMinShare = options.wideMinShare ?? 0.004;
  const principalDirections = options.principalDirections ?? 'above-average';
  const kurtosisDirections = options.kurtosisDirections ?? 6;
  const patternRecords = options.patternRecords ?? 100;
  const references = options.references ?? 500;
  const probes = options.probes ?? 200;
  for (const [name, v] of [
    ['dims', dims],
    ['principalDirections', principalDirections === 'above-average' ? 1 : principalDirections],
    ['kurtosisDirections', kurtosisDirections],
    ['patternRecords', patternRecords],
    ['references', references],
    ['probes', probes],
  ] as const) {
    if (!(Number.isInteger(v) && v >= 1)) {
      throw new AntidoteError('INVALID_ARGUMENT', `${name} must be a positive integer, got ${v}`);
    }
  }
  for (const [name, v] of [
    ['minShare', minShare],
    ['wideMinShare', wideMinShare],
  ] as const) {
    if (!(v > 0 && v < 0.5)) {
      throw new AntidoteError('INVALID_ARGUMENT', `${name} must lie in (0, 0.5), got ${v}`);
    }
  }
  const images = ds.shape.length >= 3;
  const [lo, hi] = images ? valueRange(ds.x) : [Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY];
  return {
    dims,
    minShare,
    wideMinShare,
    principalDirections,
    kurtosisDirections,
    patternRecords,
    references,
    probes,
    seed: options.seed ?? 0,
    layer: options.layer ?? null,
    images,
    numClasses: ds.classes.length,
    lo,
    hi,
  };
}

/** One candidate cluster of a class as the cross-class phase reads it. */
export interface TriggerTransferCandidateStats {
  readonly direction: 'principal' | 'kurtosis' | 'wide-kurtosis';
  /** Rank of the direction among its kind (0: the largest variance or kurtosis). */
  readonly rank: number;
  /** Records in the candidate. */
  readonly size: number;
  /** Share of the probes its pattern moves to the class. */
  readonly transfer: number;
  /** The class's records (positions among them) the refined candidate holds. */
  readonly rows: Int32Array;
  /**
   * Distance between the refined candidate's and the rest of the class's means along the refined
   * direction, in units of the pooled within-group standard deviation.
   */
  readonly separation: number;
  /** Each class record's score if this candidate is flagged (its refined projection, ≥ 0). */
  readonly scores: Float32Array;
  /**
   * The per-record removal test of the candidate's pattern, where its own transfer beats the
   * control's beyond sampling error (null elsewhere): see {@link TriggerTransferRemovalStats}.
   */
  readonly removal: TriggerTransferRemovalStats | null;
  /**
   * The same removal test where the transfer does not beat the control but the departure does
   * (all-to-all), the records it adds judged by their own pattern's departure (null elsewhere):
   * flagged only where the candidate is confirmed by its departure.
   */
  readonly departureRemoval?: TriggerTransferRemovalStats | null;
  /**
   * Found along a principal direction beyond the first three that the above-average rule adds:
   * judged by its departure only (all-to-all), not by its transfer.
   */
  readonly departureOnly?: boolean;
  /**
   * Where its transfer beat the control at the one-sided 5% level only: the purest part of it
   * (`purifiedTransfer`) and that part's transfer, and its own transfer before (its
   * {@link TriggerTransferCandidateStats.transfer} is the larger of the two).
   */
  readonly purified?: { readonly size: number; readonly transfer: number; readonly own: number };
  /**
   * Share of the probes its pattern moves out of their class consistently, one destination per
   * source class other than this one (`pattern-departure.ts`): an all-to-all trigger's signature.
   */
  readonly departure: number;
  /** Per source class, where its pattern moves most of the source's probes (−1: not moved). */
  readonly departureMap: Int32Array;
  /**
   * The control's departure for this candidate: the larger of the random subset's pattern's and
   * that pattern's scaled to this candidate's pattern's norm.
   */
  readonly controlDeparture: number;
}

/**
 * A candidate's expansion by the per-record removal test (`pattern-removal.ts`): the pattern,
 * re-estimated from the refined candidate, is removed from every record of the class; the records
 * that then leave the class, and whose fall in the class's log-probability lies in the upper mode
 * of the class's falls, are the expanded candidate; its own pattern's transfer is measured again.
 */
export interface TriggerTransferRemovalStats {
  /** The class's records (positions among them) that fail the removal test. */
  readonly rows: Int32Array;
  /** Share of the probes the expanded candidate's pattern moves to the class. */
  readonly transfer: number;
  /** Records of the class that leave it when the pattern is removed (before the mode cut). */
  readonly leaving: number;
  /** Each class record's fall in log-probability of the class when the pattern is removed (≥ 0). */
  readonly scores: Float32Array;
  /**
   * The records of {@link TriggerTransferRemovalStats.rows} beyond the refined candidate, kept
   * because their own pattern beats the control (empty otherwise), and those of the core beyond
   * both, kept on the same test of their own: flagged with the candidate.
   */
  readonly added: Int32Array;
  /**
   * The refined candidate's records (positions among the class's) on which the pattern's effect
   * (its fall beyond the control's) is as small as on the fragile records the test rejects
   * (`fallModes`): not flagged with it (empty where no lower group was rejected).
   */
  readonly dropped: Int32Array;
  /** Share of the probes the pattern of the records beyond the refined candidate moves (0: fewer than 2). */
  readonly addedTransfer: number;
  /**
   * Records of the class that fail the test as deeply as the candidate's own: they leave the
   * class, lose more of it than under the control's pattern, and fall at least the refined
   * candidate's median fall (not limited to the upper mode of the class's falls).
   */
  readonly core: number;
  /**
   * Share of the probes the pattern of {@link TriggerTransferRemovalStats.core} moves to the class
   * (0: fewer than 2 records): the removal test's answer to "do the records that need this
   * pattern carry it?", which the cross-class phase compares with the candidate's transfer.
   */
  readonly coreTransfer: number;
}

/** The per-class phase's answer for one class: its candidates (none: not searched) and control. */
export interface TriggerTransferClassStats {
  readonly candidates: readonly TriggerTransferCandidateStats[];
  /** Transfer of a random subset of the class of the largest candidate's size. */
  readonly control: number;
  /** {@link TriggerTransferCandidateStats.departure} of that random subset's pattern. */
  readonly controlDeparture: number;
}

/** Input-space records the per-class phase reads, by dataset index. */
export interface RecordRows {
  /** Values of the records read, `size` per record. */
  readonly x: Float32Array;
  readonly size: number;
  /** Offset in `x` of dataset record `i` (one of those asked for). */
  offset(i: number): number;
}

/** What the per-class phase of {@link triggerTransfer} reads besides its plan. */
export interface TriggerTransferClassInput {
  /** Every record's representations (the class means span the directions projected out). */
  readonly reps: Representations;
  /** Every record's label. */
  readonly y: Int32Array;
  readonly classIndex: number;
  readonly model: Classifier;
  /**
   * The input-space records at these dataset indices: samples (≤ 1,000 per class), and the rest
   * of the class where a candidate's pattern is tested for removal (a second call, joined with
   * the first's records unless it hands back the same rows).
   */
  readonly records: (indices: Int32Array) => Promise<RecordRows>;
}

/** Class means and their span, kept for the last representations and labels seen. */
let spanCache: { reps: Representations; y: Int32Array; k: number; span: MeanSpan } | undefined;

/** {@link meanSpan} of `reps` and `y` (kept: every class of a scan shares it). */
function sharedSpan(reps: Representations, y: Int32Array, k: number): MeanSpan {
  if (spanCache?.reps !== reps || spanCache.y !== y || spanCache.k !== k) {
    spanCache = { reps, y, k, span: meanSpan(reps, indicesByClass(y, k)) };
  }
  return spanCache.span;
}

/**
 * The per-class phase of {@link triggerTransfer} on class `input.classIndex`: its candidate
 * clusters, each refined (used only if the cross-class phase flags it) and its pattern's
 * transfer measured with the model, and the class's control. Needs the records of the class's
 * candidates, a sample of the class, and samples of the other classes (seeded by the class).
 */
export async function triggerTransferClass(
  input: TriggerTransferClassInput,
  plan: TriggerTransferPlan,
): Promise<TriggerTransferClassStats> {
  const { reps, y, classIndex: c } = input;
  const n = y.length;
  const span = sharedSpan(reps, y, plan.numClasses);
  const idx = Int32Array.from(
    (function* () {
      for (let i = 0; i < n; i++) if (y[i] === c) yield i;
    })(),
  );
  const found = classCandidates(
    reps,
    idx,
    span.means,
    span.basis,
    span.rows,
    c,
    plan.dims,
    plan.minShare,
    plan.wideMinShare,
    plan.principalDirections,
    plan.kurtosisDirections,
  );
  // Refined first: of each group of directions, only the cleanest mode (largest refined
  // separation) is kept, so a class offers one principal candidate of the first three directions,
  // one of the later ones above the average variance (where there are any) and one kurtosis
  // candidate, and where the first direction is the cleanest nothing changes in its group.
  const refinedOf = new Map<Candidate, ReturnType<typeof refineCandidate>>();
  for (const cand of found) {
    let refined = refineCandidate(cand);
    for (let step = 1; step < REFINE_STEPS; step++) {
      const next = refineCandidate({ ...cand, rows: refined.rows });
      const same =
        next.rows.length === refined.rows.length &&
        next.rows.every((r, t) => r === refined.rows[t]);
      refined = next;
      if (same) break;
    }
    refinedOf.set(cand, refined);
  }
  const cleanest = new Map<Candidate['group'], Candidate>();
  for (const cand of found) {
    const kept = cleanest.get(cand.group);
    if (!kept || refinedOf.get(cand)!.separation > refinedOf.get(kept)!.separation) {
      cleanest.set(cand.group, cand);
    }
  }
  const kept = found.filter((cand) => cleanest.get(cand.group) === cand);
  // The wide search adds only a mode the first directions do not hold: where its refined records
  // and another kept candidate's are mostly the same, that mode is judged there, among the
  // classes' first-direction gains. Judged among the wide candidates instead, a natural sub-style held
  // by the first kurtosis direction became an outlier (Fashion-MNIST mlp, "Bag": 43 refined
  // records, 41 of them in the first kurtosis candidate's 48; its own removal test's core moved
  // 0.515 of the probes against 0.365, and 51 clean records were flagged for review).
  // (Held only by a candidate whose transfer is judged: `heldByJudged`.)
  const cands = kept.filter(
    (cand) =>
      cand.group !== 'wide-kurtosis' ||
      !heldByJudged(
        refinedOf.get(cand)!.rows,
        kept
          .filter((other) => other !== cand)
          .map((other) => ({ group: other.group, rows: refinedOf.get(other)!.rows })),
      ),
  );
  const crng = new Rng(plan.seed).fork(`class-${c}`);
  const others = new Int32Array(n - idx.length);
  for (let i = 0, o = 0; i < n; i++) if (y[i] !== c) others[o++] = i;
  if (cands.length === 0 || others.length === 0) {
    return { candidates: [], control: 0, controlDeparture: 0 };
  }
  const refs = draw(others, plan.references, crng.fork('refs'));
  const probes = draw(others, plan.probes, crng.fork('probes'));
  const used = cands.map((cand) => draw(cand.members, plan.patternRecords, crng.fork(cand.group)));
  // The later directions' candidate serves the departure only (all-to-all): the transfer's
  // statistics (the control, its size and draw, and the among-class gain) are the other
  // candidates' as before. Judged by its transfer too, it took the flag from the poison's own
  // candidate on all-to-one sets (Fashion-MNIST mlp, image insert at 5%: F1 0.997 → 0.952).
  const primary = cands.map((cand) => cand.group !== 'principal-later');
  // The control's size and the records it is drawn outside are the first directions'
  // candidates' (as before the wide search): a wide candidate is judged against the same control,
  // among the classes' wide candidates (`triggerTransferAmongClasses`).
  const sized = cands.map((cand) => cand.group === 'principal' || cand.group === 'kurtosis');
  const size = Math.max(
    ...used.filter((_, j) => sized[j] || !sized.includes(true)).map((u) => u.length),
  );
  // The control is drawn from the class outside the candidates: at a high poison rate a subset
  // of the whole class carries the trigger too and transfers with it (MNIST mlp, pattern at 33%
  // of the class: the candidate is exactly the poison and transfers 1.00, a subset of the whole
  // class 0.835, so the class was not strong and the scan said PASS).
  const inCandidates = new Set<number>();
  for (const [j, cand] of cands.entries()) {
    if (sized[j] || !sized.includes(true)) for (const i of cand.members) inCandidates.add(i);
  }
  const rest = idx.filter((i) => !inCandidates.has(i));
  const ctrl = draw(rest.length >= size ? rest : idx, size, crng.fork('control'));
  const needed = new Set<number>([...refs, ...probes, ...ctrl]);
  for (const u of used) for (const i of u) needed.add(i);
  let rec = await input.records(Int32Array.from(needed));
  // Reads the records at `indices` not read yet into `rec` (purification, the removal test).
  const readAlso = async (indices: Iterable<number>): Promise<void> => {
    const missing = [...new Set(indices)].filter((i) => !needed.has(i));
    if (missing.length === 0) return;
    const more = await input.records(Int32Array.from(missing));
    if (more !== rec) rec = joinRecords(rec, [...needed, ...missing], needed, more);
    for (const i of missing) needed.add(i);
  };
  const transfers: number[] = [];
  // Each pattern once: the nearest-record search behind it is the costly part of this phase.
  const patterns = used.map((u) => nearestDifference(rec, u, refs));
  // Control: the class's own semantics, from a random subset of the rest of the class, of the
  // candidates' size.
  const ctrlPattern = nearestDifference(rec, ctrl, refs);
  // The departure's control per candidate, matched in strength: the control's pattern scaled to
  // the candidate's norm (a random subset's pattern is an average, weaker than a tight
  // cluster's, and a stronger pattern moves more probes whatever it is); the larger of the two.
  const ctrlNorm = euclideanNorm(ctrlPattern);
  const scaledControls = patterns.map((pattern) => {
    const norm = euclideanNorm(pattern);
    return ctrlNorm > 0 ? ctrlPattern.map((v) => (v * norm) / ctrlNorm) : ctrlPattern;
  });
  const [asTheyAre, controlAfter, ...afters] = await patternedPredictionsOf(
    rec,
    input.model,
    probes,
    [null, ctrlPattern, ...patterns, ...scaledControls],
    plan.lo,
    plan.hi,
  );
  // The share each pattern moves out of the probes' own classes consistently (one destination
  // per source, not this class: `pattern-departure.ts`): an all-to-all trigger moves a class-k
  // probe to k + 1, rarely to this class.
  const departures: Departure[] = [];
  for (const [j, cand] of cands.entries()) {
    const after = afters[j]!;
    cand.transfer = shareIn(after, c);
    transfers.push(cand.transfer);
    departures.push(consistentDeparture(asTheyAre!, after, c, plan.numClasses));
  }
  const control = shareIn(controlAfter!, c);
  // Purification of the promising candidates (`purifiedTransfer`): the records they need read.
  const promising = cands.map(
    (_, j) =>
      primary[j]! &&
      transferBeatsControl(transfers[j]!, control, probes.length, PROMISING) &&
      !transferBeatsControl(transfers[j]!, control, probes.length),
  );
  const purified: (PurifiedTransfer | null)[] = cands.map(() => null);
  const owns = [...transfers];
  if (promising.some(Boolean)) {
    await readAlso(
      cands.flatMap((cand, j) =>
        promising[j] ? Array.from(refinedOf.get(cand)!.rows, (r) => idx[r]!) : [],
      ),
    );
    for (const [j, cand] of cands.entries()) {
      if (!promising[j]) continue;
      purified[j] = await purifiedTransfer(
        rec,
        input.model,
        refinedOf.get(cand)!.rows,
        idx,
        patterns[j]!,
        ctrlPattern,
        { c, refs, probes, plan, rng: crng.fork(`${cand.group}-purified`) },
      );
      if (purified[j]!.transfer > transfers[j]!) {
        transfers[j] = purified[j]!.transfer;
        cand.transfer = purified[j]!.transfer;
      }
    }
  }
  // A purified candidate is its purest part from here on: its removal test starts from it, and
  // it is what is flagged and ranked (`rankingSize`; MNIST mlp, pattern at 10% of "0", seed 1: a 1,576-record
  // principal candidate, 658 carriers among them, purified to 340 records moving 0.99, was the
  // largest confirmed candidate and its clean records were flagged with it).
  const purest = cands.map((_, j) =>
    purified[j] && purified[j]!.transfer > owns[j]! ? purified[j]!.rows : null,
  );
  const controlDeparture = consistentDeparture(asTheyAre!, controlAfter!, c, plan.numClasses).share;
  const controlDepartures = cands.map((_, j) =>
    Math.max(
      controlDeparture,
      consistentDeparture(asTheyAre!, afters[cands.length + j]!, c, plan.numClasses).share,
    ),
  );
  // The removal test, for the candidates whose transfer beats the control's beyond the sampling
  // error of a difference of two rates (the others cannot be confirmed among the classes anyway).
  const testable = cands.map(
    (cand, j) => primary[j]! && transferBeatsControl(cand.transfer, control, probes.length),
  );
  // All-to-all: a candidate whose pattern moves the probes out of their classes consistently,
  // beyond the control's departure by the same margin, is tested too; the records its test adds
  // are judged by their own pattern's departure (an all-to-all trigger moves few probes to the
  // class, so the transfer cannot judge them). On an mlp the poison of one class is several
  // sub-modes, as for all-to-one, and the candidate one of them (MNIST mlp, single pixel at 10%
  // of every class: 385 of class "0"'s 600 poisoned records, 454 of "8"'s 618).
  const departureTestable = cands.map(
    (_, j) =>
      !testable[j] &&
      departureBeatsControl(departures[j]!.share, controlDepartures[j]!, probes.length) >=
        STRONG_EVIDENCE,
  );
  const removals: (TriggerTransferRemovalStats | null)[] = cands.map(() => null);
  const departureRemovals: (TriggerTransferRemovalStats | null)[] = cands.map(() => null);
  if (testable.some(Boolean) || departureTestable.some(Boolean)) {
    // Only the class's records not read above: the references and probes are read already.
    await readAlso(idx);
    const xc = gathered(rec, idx);
    const before = await input.model.predictProba(xc, idx.length);
    // The per-record control: the control's pattern (the class's own semantics) removed the same
    // way. A record it takes as much of the class from as the candidate's pattern is fragile, not a
    // carrier (removalCarriers).
    const controlRemoval = await patternRemoval(
      input.model,
      xc,
      idx.length,
      before,
      ctrlPattern,
      c,
      plan.lo,
      plan.hi,
    );
    const removalContext: RemovalContext = {
      rec,
      xc,
      before,
      controlRemoval,
      controlPattern: ctrlPattern,
      idx,
      refs,
      probes,
      c,
      model: input.model,
      plan,
    };
    for (const [j, cand] of cands.entries()) {
      if (testable[j]) {
        removals[j] = await removalExpansion(
          removalContext,
          purest[j] ?? refinedOf.get(cand)!.rows,
          crng.fork(`${cand.group}-removal`),
          (predicted) => transferBeatsControl(shareIn(predicted, c), control, probes.length),
        );
      } else if (departureTestable[j]) {
        // The added records carry the candidate's trigger when their own pattern departs beyond
        // the candidate's control and sends the probes where the candidate's pattern does.
        departureRemovals[j] = await removalExpansion(
          removalContext,
          refinedOf.get(cand)!.rows,
          crng.fork(`${cand.group}-removal`),
          (predicted) => {
            const moved = consistentDeparture(asTheyAre!, predicted, c, plan.numClasses);
            return (
              departureBeatsControl(moved.share, controlDepartures[j]!, probes.length) >=
                STRONG_EVIDENCE && departureMapsAgree(moved.map, departures[j]!.map)
            );
          },
        );
      }
    }
  }
  const candidates: TriggerTransferCandidateStats[] = cands.map((cand, j) => {
    const refined = refinedOf.get(cand)!;
    return {
      direction: cand.direction,
      rank: cand.rank,
      size: cand.members.length,
      transfer: transfers[j]!,
      rows: purest[j] ?? refined.rows,
      separation: refined.separation,
      scores: Float32Array.from(refined.proj, (v) => Math.max(0, v)),
      removal: removals[j]!,
      departureRemoval: departureRemovals[j]!,
      ...(purified[j]
        ? { purified: { size: purified[j]!.size, transfer: purified[j]!.transfer, own: owns[j]! } }
        : {}),
      departureOnly: !primary[j],
      departure: departures[j]!.share,
      departureMap: departures[j]!.map,
      controlDeparture: controlDepartures[j]!,
    };
  });
  return { candidates, control, controlDeparture };
}

/**
 * Whether a candidate's transfer `t` beats the control's `ctrl`, both measured on `probes`
 * probes, by `z` ({@link STRONG_EVIDENCE} unless given) standard errors of the difference of two
 * binomial rates.
 */
function transferBeatsControl(
  t: number,
  ctrl: number,
  probes: number,
  z: number = STRONG_EVIDENCE,
): boolean {
  if (!(t > ctrl) || probes === 0) return false;
  const se = Math.sqrt((t * (1 - t) + ctrl * (1 - ctrl)) / probes);
  return se === 0 || (t - ctrl) / se >= z;
}

/** What {@link purifiedTransfer} found: the records that carry the pattern most, and their pattern's transfer. */
export interface PurifiedTransfer {
  /** Records of the refined candidate kept (they leave the class as deeply as its median). */
  readonly size: number;
  /** Share of the probes their pattern moves to the class (0: fewer than 2 records). */
  readonly transfer: number;
  /** Those records (positions among the class's records). */
  readonly rows: Int32Array;
}

/**
 * The transfer of a candidate's purest part (issue 16, fresh seeds at 1% of a class): the
 * candidate's `pattern` and the control's are removed from the candidate's own refined records
 * (`rows`, positions among the class records `idx`), and the records that fail as deeply as the candidate's median
 * (`coreFailures`: they leave the class, lose more of it than under the control's pattern, fall
 * at least the median fall) are the part that needs the pattern most; their own pattern is added
 * to the probes again. A candidate that holds the poison with clean records beside it has a
 * diluted pattern (Fashion-MNIST mlp, checkerboard at 1% of "T-shirt/top", seed 2: 88 refined
 * records, 61 carriers, transfer 0.2 against a control of 0.095, under the removal test's bar);
 * its purest part's pattern is the trigger's. A natural sub-style's purest part is still a
 * sub-style: what then confirms it is the removal test over the whole class (step 3). Two forward
 * passes of the candidate's records and one of the probes.
 */
export async function purifiedTransfer(
  rec: RecordRows,
  model: Classifier,
  rows: Int32Array,
  idx: Int32Array,
  pattern: Float64Array,
  ctrlPattern: Float64Array,
  at: {
    readonly c: number;
    readonly refs: Int32Array;
    readonly probes: Int32Array;
    readonly plan: TriggerTransferPlan;
    readonly rng: Rng;
  },
): Promise<PurifiedTransfer> {
  const { c, plan } = at;
  const members = Int32Array.from(rows, (r) => idx[r]!);
  const count = members.length;
  const none = new Int32Array(0);
  if (count < 2) return { size: 0, transfer: 0, rows: none };
  const x = gathered(rec, members);
  const before = await model.predictProba(x, count);
  const test = await patternRemoval(model, x, count, before, pattern, c, plan.lo, plan.hi);
  const control = await patternRemoval(model, x, count, before, ctrlPattern, c, plan.lo, plan.hi);
  const all = Int32Array.from({ length: count }, (_, r) => r);
  const core = coreFailures(test, control, all);
  if (core.length < 2) return { size: core.length, transfer: 0, rows: none };
  const kept = Int32Array.from(core, (r) => members[r]!);
  const predicted = await patternedPredictions(
    rec,
    model,
    at.probes,
    nearestDifference(rec, draw(kept, plan.patternRecords, at.rng), at.refs),
    plan.lo,
    plan.hi,
  );
  return {
    size: core.length,
    transfer: shareIn(predicted, c),
    rows: Int32Array.from(core, (r) => rows[r]!),
  };
}

/** What {@link removalExpansion} reads of its class. */
interface RemovalContext {
  /** Input records of the class, the references and the probes. */
  readonly rec: RecordRows;
  /** The class's records, in class order, `[idx.length, rec.size]`. */
  readonly xc: Float32Array;
  /** Their class probabilities as they are. */
  readonly before: Float32Array;
  /** The removal test of the control's pattern on the class's records. */
  readonly controlRemoval: PatternRemoval;
  /** The control's pattern (scaled to each candidate's pattern's norm for its own control). */
  readonly controlPattern: Float64Array;
  readonly idx: Int32Array;
  readonly refs: Int32Array;
  readonly probes: Int32Array;
  readonly c: number;
  readonly model: Classifier;
  readonly plan: TriggerTransferPlan;
}

/**
 * A candidate's expansion by the per-record removal test: the pattern re-estimated from the
 * refined candidate (`rows`, positions in the class) is removed from every record of the class
 * (`pattern-removal.ts`). A record fails the test when it leaves the class, its fall in the
 * class's log-probability lies in the upper mode of the class's falls (the best split of the
 * falls into two Gaussians with their own variances, as the candidates' splits), and the pattern
 * takes more of the class from it than the control's pattern does (`removalCarriers`): a global
 * pattern (a blend) also pushes fragile clean records over a boundary, by less than the class's
 * own semantics do. Where the falls have no upper mode, leaving (and that comparison) decides. The expanded set's
 * own pattern is then tested for transfer again: a trigger's carriers still carry it, a natural
 * sub-style's expansion (the class's records that need its strokes) no longer transfers.
 */
async function removalExpansion(
  ctx: RemovalContext,
  rows: Int32Array,
  rng: Rng,
  carries: (predicted: Int32Array) => boolean,
): Promise<TriggerTransferRemovalStats | null> {
  const { rec, idx, plan } = ctx;
  if (rows.length < 2) return null;
  const members = Int32Array.from(rows, (r) => idx[r]!);
  const pattern = nearestDifference(
    rec,
    draw(members, plan.patternRecords, rng.fork('pattern')),
    ctx.refs,
  );
  const test = await patternRemoval(
    ctx.model,
    ctx.xc,
    idx.length,
    ctx.before,
    pattern,
    ctx.c,
    plan.lo,
    plan.hi,
  );
  const split = splitSmall(test.drop, plan.minShare, true);
  const upper = new Uint8Array(idx.length);
  if (split?.above) for (const r of split.small) upper[r] = 1;
  else upper.fill(1);
  let leaving = 0;
  for (let r = 0; r < idx.length; r++) leaving += test.leaves[r]!;
  // The per-record control matched in strength, as the departure's: the control's pattern is an
  // average of a random subset, weaker than a tight cluster's, and a stronger pattern pushes a
  // fragile record further whatever it is. Each record's control fall is the larger of the
  // control's pattern's and of that pattern scaled to the candidate's norm (`strongerControl`).
  const patternNorm = euclideanNorm(pattern);
  const controlNorm = euclideanNorm(ctx.controlPattern);
  const control =
    patternNorm > controlNorm && controlNorm > 0
      ? strongerControl(
          ctx.controlRemoval,
          await patternRemoval(
            ctx.model,
            ctx.xc,
            idx.length,
            ctx.before,
            ctx.controlPattern.map((v) => (v * patternNorm) / controlNorm),
            ctx.c,
            plan.lo,
            plan.hi,
          ),
        )
      : ctx.controlRemoval;
  const failing = removalCarriers(test, control, upper);
  const scores = Float32Array.from(test.drop, (v) => Math.max(0, v));
  if (failing.length < 2) {
    const none = new Int32Array(0);
    return {
      rows: none,
      transfer: 0,
      leaving,
      scores,
      added: none,
      dropped: none,
      addedTransfer: 0,
      core: 0,
      coreTransfer: 0,
    };
  }
  // The probes' classes with the pattern of the class records at `positions` (a seeded sample of
  // them) added.
  const predictionsOf = (positions: Int32Array, name: string) =>
    patternedPredictions(
      rec,
      ctx.model,
      ctx.probes,
      nearestDifference(
        rec,
        draw(
          Int32Array.from(positions, (r) => idx[r]!),
          plan.patternRecords,
          rng.fork(name),
        ),
        ctx.refs,
      ),
      plan.lo,
      plan.hi,
    );
  // The failing records in two modes of the pattern's own effect (`fallModes`): fragile clean
  // records a pattern of the class's semantics pushes over a boundary fall about as far under the
  // control's, carriers far further. The lower mode is kept where its own pattern carries the
  // trigger all the same (on an mlp the carriers of different source classes can fall apart).
  const modes = fallModes(test, control, failing);
  const fragile = modes.lower.length >= 2 && !carries(await predictionsOf(modes.lower, 'lower'));
  const expanded = fragile ? modes.upper : failing;
  // Where the lower group is fragile, the candidate's own records on which the pattern's effect
  // is as small (below the upper group's smallest) are dropped from it: the refined cluster
  // holds clean records of the carriers' look (Fashion-MNIST mlp, blend α 0.2 at 1% of
  // "T-shirt/top": 19 of 51, effects 0.00–1.61 against the carriers' 0.68–8.77, the upper group
  // from 0.58). The carriers the model learned by heart keep the class, but the pattern still
  // takes more of it from them than from the fragile records.
  // They are dropped only where their own pattern does not carry the trigger either (a split
  // can cut a candidate of carriers: Fashion-MNIST cnn, image insert at 1%, seed 3, the upper
  // group was 3 carriers of effect 11, the lower 56 carriers of the candidate and 9 records
  // beyond it).
  let dropped = new Int32Array(0);
  if (fragile) {
    const effect = (r: number) => test.drop[r]! - control.drop[r]!;
    let cut = Number.POSITIVE_INFINITY;
    for (const r of modes.upper) cut = Math.min(cut, effect(r));
    const below = rows.filter((r) => effect(r) < cut);
    if (below.length >= 2 && !carries(await predictionsOf(below, 'dropped'))) dropped = below;
  }
  const transfer = shareIn(await predictionsOf(expanded, 'expanded'), ctx.c);
  // The core: the records that need the pattern as much as the candidate's own records do.
  // (Against the control's pattern as it is: the core judges the candidate among the class's
  // candidates, and against the stronger control a clean sub-style's core shrank to the few
  // records that carry its strokes and transferred as well as a trigger's.)
  const core = coreFailures(test, ctx.controlRemoval, rows);
  const coreTransfer = core.length >= 2 ? shareIn(await predictionsOf(core, 'core'), ctx.c) : 0;
  // The records the test adds to the refined candidate are kept only if they are carriers too:
  // their own pattern must beat the control (`carries`). Fragile clean records that a pattern pushes over a
  // boundary do not carry it (Fashion-MNIST mlp, image insert at 5%: the refined candidate holds
  // 315 of the 316 carriers, the test adds about 45 clean "T-shirt/top"s near "Shirt").
  const inCandidate = new Uint8Array(idx.length);
  for (const r of rows) inCandidate[r] = 1;
  const beyond = expanded.filter((r) => !inCandidate[r]);
  let addedTransfer = 0;
  let added = new Int32Array(0);
  if (beyond.length >= 2) {
    const predicted = await predictionsOf(beyond, 'added');
    addedTransfer = shareIn(predicted, ctx.c);
    if (carries(predicted)) added = beyond;
  }
  // The core's records beyond the candidate and the added set fail the test as deeply as the
  // candidate's own but fall below the upper mode's cut; they are kept on the same condition
  // (Fashion-MNIST mlp, blend α 0.2 at 1% of "T-shirt/top": 13 records, all carriers, whose
  // upper mode's 88 records beyond the candidate, 19 of them carriers, do not carry the pattern).
  const inAdded = new Uint8Array(idx.length);
  for (const r of added) inAdded[r] = 1;
  const coreBeyond = core.filter((r) => !inCandidate[r] && !inAdded[r]);
  if (coreBeyond.length >= 2 && carries(await predictionsOf(coreBeyond, 'core-added'))) {
    added = Int32Array.from([...added, ...coreBeyond]).sort();
  }
  return {
    rows: expanded,
    transfer,
    leaving,
    scores,
    added,
    dropped,
    addedTransfer,
    core: core.length,
    coreTransfer,
  };
}

/** The report of a detector that abstains on every class (records that are not images). */
function abstainedReport(
  y: Int32Array,
  classes: readonly string[],
  params: DetectionReport['params'],
): DetectionReport {
  const n = y.length;
  return {
    method: 'trigger-transfer',
    scores: new Float32Array(n),
    flagged: new Uint8Array(n),
    perClass: indicesByClass(y, classes.length).map((idx, c) =>
      abstained(
        c,
        classes[c]!,
        idx.length,
        'records are not images: trigger transfer does not apply',
      ),
    ),
    params,
  };
}

/** The report's `params` of a plan. */
function planParams(plan: TriggerTransferPlan): DetectionReport['params'] {
  return {
    dims: plan.dims,
    minShare: plan.minShare,
    wideMinShare: plan.wideMinShare,
    principalDirections: plan.principalDirections,
    kurtosisDirections: plan.kurtosisDirections,
    patternRecords: plan.patternRecords,
    references: plan.references,
    probes: plan.probes,
    seed: plan.seed,
    layer: plan.layer,
  };
}

/** Whether a candidate comes from the wide kurtosis search (see {@link TriggerTransferOptions.dims}). */
function isWide(cd: { readonly direction: string }): boolean {
  return cd.direction === 'wide-kurtosis';
}

/** A candidate as the cross-class phase judges it: with its removal test applied where it ran. */
interface EffectiveCandidate {
  readonly stats: TriggerTransferCandidateStats;
  /**
   * Its transfer: the smaller of the candidate's and its expanded set's where the removal test
   * ran (a trigger's carriers transfer as well as its core; a sub-style's expansion does not).
   */
  readonly transfer: number;
  /** The records flagged if it is confirmed (positions in the class): the expanded set, or the refined candidate. */
  readonly rows: Int32Array;
  readonly scores: Float32Array;
  /** Its size when candidates of a class are compared: the expanded set's, or the candidate's. */
  readonly size: number;
}

/**
 * A candidate's size when the confirmed candidates of a class are ranked: its purest part's where
 * it was purified (`purifiedTransfer`: that part is what it stands for), else its own.
 */
function rankingSize(cd: TriggerTransferCandidateStats): number {
  return cd.purified && cd.purified.transfer > cd.purified.own ? cd.purified.size : cd.size;
}

/** {@link EffectiveCandidate} of a candidate's statistics. */
function withRemoval(cd: TriggerTransferCandidateStats): EffectiveCandidate {
  const r = cd.removal;
  if (!r)
    return { stats: cd, transfer: cd.transfer, rows: cd.rows, scores: cd.scores, size: cd.size };
  if (r.rows.length === 0) {
    return { stats: cd, transfer: 0, rows: r.rows, scores: r.scores, size: 0 };
  }
  // The refined candidate and the records beyond it that fail the removal test and carry the
  // pattern (see `removalExpansion`): where the representation already holds the poison as one
  // clean mode, some carriers the model learned by heart keep the class without the trigger
  // (MNIST mlp, single pixel at 5%, ASR 0.78: 27 of 312), so the candidate stays; where it holds
  // one sub-mode per source class, the removal test finds the rest.
  const dropped = new Set(r.dropped);
  const rows = Int32Array.from(
    new Set([...cd.rows.filter((t) => !dropped.has(t)), ...r.added]),
  ).sort();
  return {
    stats: cd,
    // The records that need the pattern must carry it: the candidate's transfer, at most its
    // core's (`coreFailures`; the expanded set's where fewer than 2 records fail that deeply).
    transfer: Math.min(cd.transfer, r.core >= 2 ? r.coreTransfer : r.transfer),
    rows,
    scores: r.scores,
    size: rows.length,
  };
}

/**
 * A candidate confirmed by its departure only (all-to-all): its refined rows and the carriers its
 * removal test adds, whose own pattern beat the control (its transfer, where the candidate's
 * transfer beat the control's, else its departure); its transfer to the class is not asked.
 */
function departing(cd: EffectiveCandidate): EffectiveCandidate {
  const s = cd.stats;
  const added = s.removal?.added ?? s.departureRemoval?.added ?? [];
  const rows = Int32Array.from(new Set([...s.rows, ...added])).sort();
  // The added records failed the same causal test as the candidate: they score at least as the
  // candidate's least suspicious record, so the scan's corroboration cutoff (the lowest score
  // among a detector's flagged records of the class) stays the refined candidate's. Scored by
  // their own projection, some read near 0 and every record another detector flagged there
  // passed that cutoff (Fashion-MNIST mlp, blend α 0.2 all-to-all, "Trouser": 59 clean records).
  let floor = Number.POSITIVE_INFINITY;
  for (const r of s.rows) floor = Math.min(floor, s.scores[r]!);
  const scores = Float32Array.from(s.scores);
  if (Number.isFinite(floor)) for (const r of added) scores[r] = Math.max(scores[r]!, floor);
  return { stats: s, transfer: s.transfer, rows, scores, size: rows.length };
}

/**
 * Two-proportion z of a candidate's departure `t` against the control's `ctrl`, both on `probes`
 * probes (0 when it does not exceed it; +∞ when neither varies).
 */
function departureBeatsControl(t: number, ctrl: number, probes: number): number {
  if (!(t > ctrl) || probes === 0) return 0;
  const se = Math.sqrt((t * (1 - t) + ctrl * (1 - ctrl)) / probes);
  return se === 0 ? Number.POSITIVE_INFINITY : (t - ctrl) / se;
}

/**
 * The cross-class phase of {@link triggerTransfer}: each class's gain (best candidate's transfer
 * minus its control) judged among the classes, the strong classes' confirmed candidates flagged.
 * `stats` holds the per-class phase's answers in class order (undefined where the records are not
 * images).
 */
export function triggerTransferAmongClasses(
  input: { readonly y: Int32Array; readonly classes: readonly string[] },
  stats: readonly (TriggerTransferClassStats | undefined)[],
  plan: TriggerTransferPlan,
): DetectionReport {
  const params = planParams(plan);
  if (!plan.images) return abstainedReport(input.y, input.classes, params);
  const n = input.y.length;
  const k = input.classes.length;
  const byClass = indicesByClass(input.y, k);
  const classStats = byClass.map((_, c) => {
    const s = stats[c] ?? { candidates: [], control: 0, controlDeparture: 0 };
    const candidates = s.candidates.map(withRemoval);
    // The wide kurtosis candidate is judged apart, among the classes' wide candidates: it is one
    // more chance for every class's largest transfer, so among the first directions' gains it
    // raised the clean classes' and hid the poison's (Fashion-MNIST mlp, checkerboard at 1% of
    // "T-shirt/top", seed 2: strength 5.36 → 3.93 with the poison's own gain unchanged).
    let first: EffectiveCandidate | undefined;
    let wideBest: EffectiveCandidate | undefined;
    for (const cand of candidates) {
      if (cand.stats.departureOnly) continue;
      if (isWide(cand.stats)) {
        if (!wideBest || cand.transfer > wideBest.transfer) wideBest = cand;
      } else if (!first || cand.transfer > first.transfer) first = cand;
    }
    const best = first ?? candidates.find((cd) => !isWide(cd.stats)) ?? wideBest;
    // The departure statistic within the class, absolute (not among the classes: an all-to-all
    // backdoor poisons every class alike, so the classes' null holds the poison). Not asked of a
    // wide candidate (an all-to-all poison is no small share of its class).
    const departureZ = candidates.map((cd) =>
      isWide(cd.stats)
        ? 0
        : departureBeatsControl(cd.stats.departure, cd.stats.controlDeparture, plan.probes),
    );
    return {
      control: s.control,
      controlDeparture: s.controlDeparture,
      candidates,
      best,
      // A class whose only candidate serves the departure has no transfer gain (as before it had
      // no candidate).
      gain: first ? first.transfer - s.control : 0,
      wideGain: wideBest ? wideBest.transfer - s.control : 0,
      departureZ,
      ownDepartureZ: departureZ,
    };
  });
  // A candidate's departure counts only where departing candidates of at least
  // DEPARTURE_QUORUM − 1 other classes move the probes alike (`departureMapsAgree`): an
  // all-to-all trigger is one pattern, found in every class it serves; a natural sub-style's
  // pattern that moves probes is its class's alone (measured on clean MNIST and Fashion-MNIST
  // mlps: one class each, z 3.7–6.6), and two of them can share the classes' natural confusions
  // (Fashion-MNIST mlp, blend α 0.1 at 10% of "T-shirt/top", seed 2: a "Shirt" and an "Ankle
  // boot" sub-style, departures 0.21 and 0.22 against 0.04–0.05, maps agreeing; 379 clean
  // records flagged). Every all-to-all case of the matrix has 6–10 departing classes.
  const departers = classStats.flatMap((s, c) =>
    s.candidates.flatMap((cd, j) => (s.departureZ[j]! >= STRONG_EVIDENCE ? [{ c, cd }] : [])),
  );
  for (const [c, s] of classStats.entries()) {
    s.departureZ = s.departureZ.map((z, j) => {
      if (z < STRONG_EVIDENCE) return 0;
      const alike = new Set(
        departers
          .filter(
            (o) =>
              o.c !== c &&
              departureMapsAgree(s.candidates[j]!.stats.departureMap, o.cd.stats.departureMap),
          )
          .map((o) => o.c),
      );
      return alike.size >= DEPARTURE_QUORUM - 1 ? z : 0;
    });
  }
  // Calibration: each class's gain among the classes; spread at least the sampling error of a
  // difference of two rates measured on `plan.probes` probes (rate ½, the widest).
  const nul = robustNull(
    classStats.map((s) => s.gain),
    Math.sqrt(0.5 / plan.probes),
  );
  const wideNul = robustNull(
    classStats.map((s) => s.wideGain),
    Math.sqrt(0.5 / plan.probes),
  );
  const nulOf = (cd: EffectiveCandidate) => (isWide(cd.stats) ? wideNul : nul);
  const scores = new Float32Array(n);
  const flagged = new Uint8Array(n);
  const perClass: ClassFinding[] = [];
  for (let c = 0; c < k; c++) {
    const idx = byClass[c]!;
    const s = classStats[c]!;
    const className = input.classes[c]!;
    const best = s.best;
    if (!best) {
      perClass.push(
        abstained(
          c,
          className,
          idx.length,
          `${idx.length} record(s): too few to search for a cluster`,
        ),
      );
      continue;
    }
    const firstZ = modifiedZ(s.gain, nul);
    const wideZ = modifiedZ(s.wideGain, wideNul);
    // The wide search counts where its gain is positive (a class without a wide candidate has
    // none), as the first directions' does for suspicion.
    const amongClasses = s.wideGain > 0 ? Math.max(firstZ, wideZ) : firstZ;
    const departureZ = Math.max(0, ...s.departureZ);
    // The class's strength: the larger of its transfer gain among the classes (all-to-one) and
    // its best candidate's departure against the control within the class (all-to-all), where
    // that is strong and corroborated (elsewhere the among-class strength as it was).
    const strength =
      departureZ >= STRONG_EVIDENCE ? Math.max(amongClasses, departureZ) : amongClasses;
    const suspicious =
      (firstZ >= STRONG_EVIDENCE && s.gain > 0) ||
      (wideZ >= STRONG_EVIDENCE && s.wideGain > 0) ||
      departureZ >= STRONG_EVIDENCE;
    // Of the candidates whose own gain is strong, the largest (by its own size, before the
    // removal test) is flagged, with the carriers its removal test adds: both directions may
    // carry the trigger, the kurtosis direction often a sub-mode of the poison only (blend α 0.1,
    // Fashion-MNIST cnn, seed 3: 134 records along it, transfer 0.92, against most of the poison
    // along the principal direction); flagging the union instead added clean records (seeds 1
    // and 2). Ranked by the expanded sets' sizes, the one with the most clean records won
    // (Fashion-MNIST mlp, image insert at 5%: 415 flagged, 291 carriers, against 316 and 315);
    // ranked by the refined separation, a sub-mode (cnn, blend α 0.1 at 10%, seed 1: 559
    // flagged, 534 carriers, against 677 and 663).
    // Where no candidate transfers to the class but one departs (all-to-all), once one
    // candidate's departure is corroborated (the trigger is then shown to serve the class, as the
    // among-class gain shows it for the transfer): of the candidates whose own departure is
    // strong and, within sampling error, as large as the class's best (a trigger's cluster and
    // its sub-modes carry the same trigger; a loose candidate that mixes clean records dilutes
    // it), the largest, as refined, with the carriers its removal test adds. A candidate whose
    // pattern moves most probes of one source only cannot be corroborated by its map, and it may
    // be the whole poison of the class (MNIST mlp, image insert all-to-all, "6": 541 records,
    // exactly the poison, departure 0.34, beside the corroborated 130 at 0.37). A loose candidate
    // of a later direction departs too, by less (Fashion-MNIST mlp, single pixel all-to-all,
    // "Bag": 1,037 records, refined to 815 with 217 clean, departure 0.31 against the
    // corroborated 569's 0.73, all poison); the cleanest mode instead of the largest picked a
    // sub-mode elsewhere ("Sneaker": 47 records at separation 16.4 against 406 at 14.4).
    const bestDeparture = Math.max(
      0,
      ...s.candidates
        .filter((_, j) => s.ownDepartureZ[j]! >= STRONG_EVIDENCE)
        .map((cd) => cd.stats.departure),
    );
    const confirmed = suspicious
      ? (s.candidates
          .filter(
            (cd) =>
              !cd.stats.departureOnly &&
              modifiedZ(cd.transfer - s.control, nulOf(cd)) >= STRONG_EVIDENCE,
          )
          .sort((a, b) => rankingSize(b.stats) - rankingSize(a.stats))[0] ??
        (departureZ >= STRONG_EVIDENCE
          ? s.candidates
              .filter(
                (cd, j) =>
                  s.ownDepartureZ[j]! >= STRONG_EVIDENCE &&
                  departureBeatsControl(bestDeparture, cd.stats.departure, plan.probes) <
                    STRONG_EVIDENCE,
              )
              .map(departing)
              .sort((a, b) => b.stats.size - a.stats.size)[0]
          : undefined))
      : undefined;
    if (confirmed) {
      for (const r of confirmed.rows) flagged[idx[r]!] = 1;
      idx.forEach((i, r) => {
        scores[i] = confirmed.scores[r]!;
      });
    }
    const shown = confirmed ?? best;
    const removal = shown.stats.removal;
    perClass.push({
      classIndex: c,
      className,
      count: idx.length,
      flagged: confirmed?.rows.length ?? 0,
      suspicious,
      strength: roundStrength(strength),
      reason: `${shown.stats.size}-record cluster along the ${directionName(shown.stats)} direction: its pattern moves ${fmt(shown.stats.transfer)} of other-class records to this class${shown.stats.purified && shown.stats.purified.transfer > shown.stats.purified.own ? ` (the pattern of its ${shown.stats.purified.size} record(s) that need it most; its own moves ${fmt(shown.stats.purified.own)})` : ''}, ${fmt(shown.stats.departure)} out of their own class consistently (${fmt(s.controlDeparture)} for the control, z ${fmt(departureZ)})${removal ? `; removing it sends ${removal.leaving} record(s) of the class out of it, ${removal.rows.length} in the upper mode of the fall, whose own pattern moves ${fmt(removal.transfer)}, ${removal.core} as deeply as the candidate's, whose pattern moves ${fmt(removal.coreTransfer)}` : ''}; ${fmt(s.control)} for a random subset of the class (best gain ${fmt(s.gain)}, strength ${fmt(firstZ)} among the classes${s.candidates.some((cd) => isWide(cd.stats)) ? `; wide search: gain ${fmt(s.wideGain)}, strength ${fmt(wideZ)}` : ''}; class strength ${fmt(strength)})${suspicious ? ': flagged' : ': left alone'}`,
      stats: {
        candidate: shown.stats.size,
        direction: directionName(shown.stats),
        transfer: shown.transfer,
        candidateSizes: s.candidates.map((cd) => cd.stats.size),
        candidateTransfers: s.candidates.map((cd) => cd.stats.transfer),
        candidateSeparations: s.candidates.map((cd) => roundStrength(cd.stats.separation)),
        candidateLeaving: s.candidates.map((cd) => cd.stats.removal?.leaving ?? -1),
        candidateExpanded: s.candidates.map((cd) => cd.stats.removal?.rows.length ?? -1),
        candidateExpandedTransfers: s.candidates.map((cd) => cd.stats.removal?.transfer ?? -1),
        candidateCores: s.candidates.map((cd) => cd.stats.removal?.core ?? -1),
        candidateCoreTransfers: s.candidates.map((cd) => cd.stats.removal?.coreTransfer ?? -1),
        candidatePurified: s.candidates.map((cd) => cd.stats.purified?.size ?? -1),
        candidatePurifiedTransfers: s.candidates.map((cd) => cd.stats.purified?.transfer ?? -1),
        candidateAdded: s.candidates.map((cd) => cd.stats.removal?.added.length ?? -1),
        candidateAddedTransfers: s.candidates.map((cd) => cd.stats.removal?.addedTransfer ?? -1),
        candidateDepartureAdded: s.candidates.map(
          (cd) => cd.stats.departureRemoval?.added.length ?? -1,
        ),
        candidateDepartures: s.candidates.map((cd) => cd.stats.departure),
        candidateControlDepartures: s.candidates.map((cd) => cd.stats.controlDeparture),
        control: s.control,
        controlDeparture: s.controlDeparture,
        departureStrength: roundStrength(departureZ),
        gain: s.gain,
        wideGain: s.wideGain,
        wideStrength: roundStrength(wideZ),
        strength: roundStrength(strength),
      },
    });
  }
  return { method: 'trigger-transfer', scores, flagged, perClass, params };
}

/**
 * Low-variance cluster trigger transfer on a dataset and its model; see
 * {@link TriggerTransferOptions}. The composition of its per-class phase
 * ({@link triggerTransferClass}, which a distributed scan runs on its workers) and its
 * cross-class phase ({@link triggerTransferAmongClasses}).
 */
export async function triggerTransfer(
  ds: Dataset,
  model: Classifier,
  options: TriggerTransferOptions = {},
): Promise<DetectionReport> {
  checkModelMatchesData(ds, model);
  const plan = triggerTransferPlan(ds, options);
  const k = plan.numClasses;
  // Records that are not images (tabular rows, token sequences): an input-space pattern added to
  // other records has no meaning there, so the detector abstains.
  if (!plan.images) return triggerTransferAmongClasses(ds, [], plan);
  const reps = await computeRepresentations(ds, model, options);
  const size = recordSize(ds);
  const rows: RecordRows = { x: ds.x, size, offset: (i) => i * size };
  const stats: TriggerTransferClassStats[] = [];
  for (let c = 0; c < k; c++) {
    options.onProgress?.({ stage: `class ${c}`, done: c, total: k });
    stats.push(
      await triggerTransferClass(
        { reps, y: ds.y, classIndex: c, model, records: async () => rows },
        plan,
      ),
    );
  }
  options.onProgress?.({ stage: 'classes', done: k, total: k });
  return triggerTransferAmongClasses(ds, stats, plan);
}

/** Low-variance cluster trigger transfer in the detector registry: `antidote scan --method tt`. */
export const triggerTransferEntry = defineDetector({
  name: 'tt',
  title: 'Low-variance cluster trigger transfer',
  paper:
    'Cardoso 1989, "Source separation using higher order moments", ICASSP (FOBI directions); trigger transfer as the causal check (issue 16)',
  finds: 'backdoor',
  domains: ['features'],
  options: z.object({}),
  run: (ds, model, _options, context: DetectorContext) =>
    triggerTransfer(ds, model, commonDetectorOptions(context)),
});
