import { z } from 'zod';
import { AntidoteError } from '../errors.js';
import { anomalyAmongClasses, modifiedZScores } from '../numeric/anomaly-index.js';
import { choleskySolve } from '../numeric/cholesky.js';
import { rowCovariance, rowMean } from '../numeric/covariance.js';
import { median } from '../numeric/order-statistics.js';
import { projectRows } from '../numeric/pca.js';
import { symmetricEigen } from '../numeric/symmetric-eigen.js';
import {
  type ClassFinding,
  type DetectionReport,
  fmt,
  indicesByClass,
  type PoisonDetector,
  STRONG_EVIDENCE,
} from './detector.js';
import { commonDetectorOptions, type DetectorContext, defineDetector } from './detector-entry.js';
import {
  checkRepresentations,
  computeRepresentations,
  type RepresentationOptions,
  type Representations,
} from './representations.js';

/**
 * SCAn, statistical contamination analysis (Tang, Wang, Zhang & Chen 2021, "Demon in the Variant:
 * Statistical Analysis of DNNs for Robust Backdoor Contamination Detection", USENIX Security).
 *
 * The model: a record's representation r (default the penultimate layer) is its class's identity
 * vector plus a variation shared by all classes, r = μ_c + ε with μ_c ~ N(0, S_μ) and
 * ε ~ N(0, S_ε) (after removing the global mean).
 *
 * 1. **Global model.** S_μ and S_ε are estimated by the paper's EM over all records: E-step, each
 *    class's identity is its posterior mean μ_c = S_μ (n_c S_μ + S_ε)⁻¹ Σ_{i∈c} r_i; M-step, S_μ
 *    is the covariance of the identities (one per record) and S_ε the covariance of r_i − μ_c.
 *    Both steps need only the total covariance and the class means (one pass over the data).
 * 2. **Untangling.** Within each class, a two-component model r = μ_1 or μ_2 + ε is fitted with
 *    the shared S_ε: a two-means split in the metric S_ε⁻¹ (in the S_ε-whitened space). The paper
 *    alternates the same two steps from a random start; here the start is deterministic (the best
 *    cut along the class's direction of largest variance, so the detector needs no seed) and the
 *    group means are trimmed (records whose distance to their group mean is a robust outlier do
 *    not move it), so that single stray records do not pull a group. A small group that is tight
 *    and far is found whatever its size (5 records in 305), and this includes natural tiny
 *    sub-populations: on a clean MNIST subset (20,000 records, cnn) one class untangled into 6
 *    records and the rest, at anomaly index 14.8.
 * 3. **Statistic.** The paper's J_c = (1/n_c) Σ_i [‖r_i − μ_c‖² − ‖r_i − μ_g(i)‖²] (in the S_ε⁻¹
 *    metric) is the per-record log-likelihood ratio (×2) of the two-component model against the
 *    one-identity model, assuming the within-group variation is S_ε in every direction. Along the
 *    direction e joining the two group means that assumption fails on real data (a clean class is
 *    often elongated there, and J grows with the class's own spread, not with a second identity):
 *    on MNIST (cnn, pattern trigger at 10% of the target class) the paper's J put the poisoned
 *    class at anomaly index 0.9 although the split isolated exactly the poison. So the statistic
 *    used is the same likelihood ratio with the variances along e estimated from the class:
 *    J_c = ln(S_t / S_w), S_t the variance of the projections r·e and S_w the pooled variance
 *    within the two groups (the mean of the per-record log-likelihood ratios ×2 of the 1-D models;
 *    over the records the trimming kept). A Gaussian class gives J ≈ −ln(1 − 2/π) ≈ 1.0, a second
 *    well-separated identity far more (the same MNIST class: 3.5, the other classes 1.3–1.8). The
 *    paper's J is reported in `stats.paperJ`.
 * 4. **Decision.** The class's anomaly index is J's modified z-score among the classes,
 *    (J_c − median J) / (1.4826·MAD) (Iglewicz & Hoaglin; the paper's J*), with the robust
 *    standard deviation floored at J's sampling error (the standard error of the mean of the
 *    per-record terms, median over classes): with ten classes of near-identical J the MAD alone
 *    can be far below the noise of J, and chance differences would read as strong. Reported as
 *    {@link ClassFinding.strength} (negative values as 0: a class less untangled than the median
 *    is no evidence), the paper's J* on one side. The paper flags a class when J* > e² ≈ 7.39
 *    (the default `threshold` here); a strength between {@link STRONG_EVIDENCE} and the
 *    threshold is a strong finding the detector does not flag (clean MNIST's digit 1, whose
 *    slanted and upright strokes are two real sub-populations, reached 4.6).
 *    The records of the smaller group of a flagged class are flagged.
 *
 * Scores: per record, half the log-likelihood ratio of the class's smaller group against its
 * larger one ((‖r − μ_large‖² − ‖r − μ_small‖²)/2 in the S_ε⁻¹ metric): positive = nearer the
 * smaller group.
 *
 * Limitations: the null is the other classes. With fewer than 3 classes of at least
 * `minClassSize` records there is no null (no class is judged, strength 0); when most classes
 * carry poison (all-to-all attacks) the median J is itself inflated and no class stands out.
 */
export interface ScanUntanglingOptions extends RepresentationOptions {
  /** Anomaly index (J*) above which a class is flagged. Default e² ≈ 7.39 (Tang et al.). */
  readonly threshold?: number;
  /** Classes with fewer records are not judged (and not part of the null). Default 20. */
  readonly minClassSize?: number;
  /** EM iterations of the global model at most. Default 100. */
  readonly maxIterations?: number;
}

/** Eigenvalues of S_ε below this fraction of the largest are dropped (pseudo-inverse). */
const WHITEN_FLOOR = 1e-6;
/** EM stops when the covariances change by less than this fraction (Frobenius norms). */
const EM_TOLERANCE = 1e-6;
/** Two-means steps per class at most (each moves records to the nearer group mean). */
const MAX_SPLIT_ITERATIONS = 100;
/** Outlying records (modified z of the log distance to their group mean) leave the means. */
const OUTLIER_Z = 3.5;
/** Power iterations for the starting direction at most. */
const POWER_ITERATIONS = 100;
/**
 * Two-means stops once a step moves at most this share of the class (a split of one Gaussian
 * creeps for dozens of steps, a few records at a time, without changing J visibly).
 */
const SPLIT_TOLERANCE = 1e-3;

/** The global model of SCAn: shared within-class covariance and class identities. */
export interface ScanGlobalModel {
  /** Covariance of the class identities S_μ, `d × d`. */
  readonly su: Float64Array;
  /** Shared within-class covariance S_ε, `d × d`. */
  readonly se: Float64Array;
  /** Posterior mean of each class's identity, `[K, d]` (about the global mean). */
  readonly identities: Float64Array;
  /** EM iterations run. */
  readonly iterations: number;
}

function frobeniusDistance(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i]! - b[i]!) ** 2;
  return Math.sqrt(s);
}

function frobeniusNorm(a: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * a[i]!;
  return Math.sqrt(s);
}

/**
 * The EM of SCAn's global model (step 1 of {@link ScanUntanglingOptions}) from the total
 * covariance `total` (about the global mean, divided by N), the class means `means` (`[K, d]`,
 * about the global mean) and the class sizes.
 */
export function scanGlobalModel(
  total: Float64Array,
  means: Float64Array,
  counts: ArrayLike<number>,
  d: number,
  maxIterations = 100,
): ScanGlobalModel {
  const k = counts.length;
  let n = 0;
  for (let c = 0; c < k; c++) n += counts[c]!;
  if (total.length !== d * d || means.length !== k * d || !(n > 0)) {
    throw new AntidoteError(
      'SHAPE_MISMATCH',
      `SCAn global model: ${total.length} covariance values, ${means.length} mean values for ${k} classes of dimension ${d}`,
    );
  }
  const mStep = (u: Float64Array) => {
    const ubar = new Float64Array(d);
    for (let c = 0; c < k; c++) {
      const w = counts[c]! / n;
      for (let a = 0; a < d; a++) ubar[a]! += w * u[c * d + a]!;
    }
    const su = new Float64Array(d * d);
    const se = Float64Array.from(total);
    for (let c = 0; c < k; c++) {
      const w = counts[c]! / n;
      if (w === 0) continue;
      const uc = c * d;
      for (let a = 0; a < d; a++) {
        const ua = u[uc + a]!;
        const ma = means[uc + a]!;
        for (let b = 0; b < d; b++) {
          const ub = u[uc + b]!;
          su[a * d + b]! += w * ua * ub;
          se[a * d + b]! -= w * (ma * ub + ua * means[uc + b]! - ua * ub);
        }
      }
    }
    for (let a = 0; a < d; a++) {
      for (let b = 0; b < d; b++) {
        const o = ubar[a]! * ubar[b]!;
        su[a * d + b]! -= o;
        se[a * d + b]! -= o;
      }
    }
    return { su, se };
  };
  let identities: Float64Array = Float64Array.from(means);
  let { su, se } = mStep(identities);
  let iterations = 0;
  while (iterations < maxIterations) {
    iterations++;
    identities = classIdentities(su, se, means, counts, d);
    const next = mStep(identities);
    const change = frobeniusDistance(next.su, su) + frobeniusDistance(next.se, se);
    const size = frobeniusNorm(next.su) + frobeniusNorm(next.se);
    su = next.su;
    se = next.se;
    if (change <= EM_TOLERANCE * size) break;
  }
  return { su, se, identities: classIdentities(su, se, means, counts, d), iterations };
}

/** Posterior means μ_c = S_μ (n_c S_μ + S_ε)⁻¹ n_c m_c of every class (`[K, d]`). */
function classIdentities(
  su: Float64Array,
  se: Float64Array,
  means: Float64Array,
  counts: ArrayLike<number>,
  d: number,
): Float64Array {
  const k = counts.length;
  let trace = 0;
  for (let a = 0; a < d; a++) trace += se[a * d + a]!;
  // A ridge keeps n S_μ + S_ε positive definite where units never fire (zero variance).
  const ridge = Math.max(trace / d, 1e-30) * 1e-9;
  const out = new Float64Array(k * d);
  const a = new Float64Array(d * d);
  for (let c = 0; c < k; c++) {
    const nc = counts[c]!;
    if (nc === 0) continue;
    for (let i = 0; i < d * d; i++) a[i] = nc * su[i]! + se[i]!;
    for (let i = 0; i < d; i++) a[i * d + i]! += ridge;
    const s = new Float64Array(d);
    for (let j = 0; j < d; j++) s[j] = nc * means[c * d + j]!;
    const v = choleskySolve(a, d, s);
    for (let i = 0; i < d; i++) {
      let t = 0;
      for (let j = 0; j < d; j++) t += su[i * d + j]! * v[j]!;
      out[c * d + i] = t;
    }
  }
  return out;
}

/** The S_ε-whitening directions: rows v_r / √λ_r of the eigenvectors kept, `[rank, d]`. */
function whitening(se: Float64Array, d: number): { w: Float64Array; rank: number } {
  const { values, vectors } = symmetricEigen(se, d);
  const floor = Math.max(values[0]!, 0) * WHITEN_FLOOR;
  let rank = 0;
  while (rank < d && values[rank]! > floor && values[rank]! > 0) rank++;
  const w = new Float64Array(rank * d);
  for (let r = 0; r < rank; r++) {
    const s = 1 / Math.sqrt(values[r]!);
    for (let j = 0; j < d; j++) w[r * d + j] = vectors[r * d + j]! * s;
  }
  return { w, rank };
}

function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

/** The two-component split of one class (step 2 of {@link ScanUntanglingOptions}). */
interface Untangled {
  /** Group (0/1) of each record of the class, in class order. */
  readonly assignments: Uint8Array;
  /** 1 for the records the group means and the statistic use (not outlying), in class order. */
  readonly inlier: Uint8Array;
  /** Records per group (all records). */
  readonly sizes: [number, number];
  /** Group means over their inliers, `[2, rank]`, in the whitened space. */
  readonly centres: Float64Array;
  /** Two-means iterations run. */
  readonly iterations: number;
}

/**
 * 1 where `dist2` (squared distances) is not outlying: the modified z-score of its logarithm
 * below {@link OUTLIER_Z}.
 */
function notOutlying(dist2: Float64Array): Uint8Array {
  const logs = Float64Array.from(dist2, (v) => Math.log(Math.max(v, 1e-300)));
  const { z } = modifiedZScores(logs);
  return Uint8Array.from(z, (v) => (v < OUTLIER_Z ? 1 : 0));
}

/**
 * Writes the means of the two groups' inliers into `centres` (`[2, r]`); false (centres left
 * partly written) when a group has no inlier.
 */
function groupCentres(
  z: Float64Array,
  r: number,
  assignments: Uint8Array,
  inlier: Uint8Array,
  centres: Float64Array,
): boolean {
  centres.fill(0);
  const counts = [0, 0];
  for (let i = 0; i < assignments.length; i++) {
    if (!inlier[i]) continue;
    const g = assignments[i]!;
    counts[g]!++;
    for (let a = 0; a < r; a++) centres[g * r + a]! += z[i * r + a]!;
  }
  if (counts[0] === 0 || counts[1] === 0) return false;
  for (let g = 0; g < 2; g++) for (let a = 0; a < r; a++) centres[g * r + a]! /= counts[g]!;
  return true;
}

/**
 * Splits the whitened records `z` (`[n, rank]`) of one class in two groups: two-means (Lloyd's
 * steps, until at most a thousandth of the records move) with trimmed means, i.e. the records
 * whose distance to their own group mean is outlying (see {@link notOutlying}) do not move the
 * means (trimmed k-means, Cuesta-Albertos, Gordaliza & Matrán 1997): a handful of stray records
 * far from everything would otherwise form the smaller group on their own. The start is
 * deterministic: the best two-means cut along the class's direction of largest variance.
 */
function untangle(z: Float64Array, n: number, r: number): Untangled {
  const centre = new Float64Array(r);
  for (let i = 0; i < n; i++) for (let a = 0; a < r; a++) centre[a]! += z[i * r + a]! / n;
  const dist2 = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let t = 0;
    for (let a = 0; a < r; a++) t += (z[i * r + a]! - centre[a]!) ** 2;
    dist2[i] = t;
  }
  // The start uses every record: trimming before any split would also trim a far, small group,
  // the very group to be found (5 records in a class of 305 are found at a shift of 6 SDs and
  // beyond only without it).
  let inlier: Uint8Array = new Uint8Array(n).fill(1);
  // Mean and top principal direction (power iteration from the farthest record).
  const m = new Float64Array(r);
  let count = 0;
  let far = -1;
  for (let i = 0; i < n; i++) {
    if (!inlier[i]) continue;
    count++;
    for (let a = 0; a < r; a++) m[a]! += z[i * r + a]!;
    if (far < 0 || dist2[i]! > dist2[far]!) far = i;
  }
  for (let a = 0; a < r; a++) m[a]! /= Math.max(count, 1);
  let v = new Float64Array(r);
  for (let a = 0; a < r; a++) v[a] = far >= 0 ? z[far * r + a]! - m[a]! : 1;
  for (let it = 0; it < POWER_ITERATIONS; it++) {
    const next = new Float64Array(r);
    for (let i = 0; i < n; i++) {
      if (!inlier[i]) continue;
      let p = 0;
      for (let a = 0; a < r; a++) p += (z[i * r + a]! - m[a]!) * v[a]!;
      for (let a = 0; a < r; a++) next[a]! += p * (z[i * r + a]! - m[a]!);
    }
    const norm = Math.sqrt(dot(next, next));
    if (!(norm > 0)) break;
    for (let a = 0; a < r; a++) next[a]! /= norm;
    const change = Math.abs(1 - Math.abs(dot(next, v) / Math.sqrt(dot(v, v))));
    v = next;
    if (change < 1e-9) break;
  }
  const proj = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let p = 0;
    for (let a = 0; a < r; a++) p += (z[i * r + a]! - m[a]!) * v[a]!;
    proj[i] = p;
  }
  // Best 1-D two-means cut: maximise the between-group sum of squares.
  const order = Array.from(proj.keys())
    .filter((i) => inlier[i] === 1)
    .sort((a, b) => proj[a]! - proj[b]!);
  const ni = order.length;
  let total = 0;
  for (const i of order) total += proj[i]!;
  let left = 0;
  let best = -1;
  let cutValue = Number.POSITIVE_INFINITY;
  for (let q = 1; q < ni; q++) {
    left += proj[order[q - 1]!]!;
    const right = total - left;
    const between = (left * left) / q + (right * right) / (ni - q);
    if (between > best) {
      best = between;
      cutValue = proj[order[q]!]!;
    }
  }
  const assignments = Uint8Array.from(proj, (p) => (p >= cutValue ? 1 : 0));
  const centres = new Float64Array(2 * r);
  const own = new Float64Array(n);
  let iterations = 0;
  for (;;) {
    if (!groupCentres(z, r, assignments, inlier, centres)) break;
    if (iterations >= MAX_SPLIT_ITERATIONS) break;
    iterations++;
    let moved = 0;
    for (let i = 0; i < n; i++) {
      let d0 = 0;
      let d1 = 0;
      for (let a = 0; a < r; a++) {
        const za = z[i * r + a]!;
        d0 += (za - centres[a]!) ** 2;
        d1 += (za - centres[r + a]!) ** 2;
      }
      const g = d1 < d0 ? 1 : 0;
      own[i] = g === 1 ? d1 : d0;
      if (g !== assignments[i]) {
        assignments[i] = g;
        moved++;
      }
    }
    inlier = notOutlying(own);
    if (moved <= n * SPLIT_TOLERANCE) {
      groupCentres(z, r, assignments, inlier, centres);
      break;
    }
  }
  const sizes: [number, number] = [0, 0];
  for (let i = 0; i < n; i++) sizes[assignments[i] as 0 | 1]++;
  return { assignments, inlier, sizes, centres, iterations };
}

/** SCAn on precomputed representations; see {@link ScanUntanglingOptions}. */
export function scanUntangling(
  input: { reps: Representations; y: Int32Array; classes: readonly string[] },
  options: ScanUntanglingOptions = {},
): DetectionReport {
  const n = input.y.length;
  checkRepresentations(input.reps, n);
  const threshold = options.threshold ?? Math.exp(2);
  const minClassSize = options.minClassSize ?? 20;
  const maxIterations = options.maxIterations ?? 100;
  const check = (ok: boolean, what: string) => {
    if (!ok) throw new AntidoteError('INVALID_ARGUMENT', `SCAn: ${what}`);
  };
  check(threshold > 0, `threshold must be > 0, got ${threshold}`);
  check(
    Number.isInteger(minClassSize) && minClassSize >= 2,
    `minClassSize must be an integer ≥ 2, got ${minClassSize}`,
  );
  check(
    Number.isInteger(maxIterations) && maxIterations >= 1,
    `maxIterations must be ≥ 1, got ${maxIterations}`,
  );
  const { data: x, dim: d } = input.reps;
  const k = input.classes.length;
  const byClass = indicesByClass(input.y, k);
  const scores = new Float32Array(n);
  const flagged = new Uint8Array(n);
  const params = {
    threshold,
    minClassSize,
    maxIterations,
    layer: options.layer ?? null,
  };
  if (n === 0) return { method: 'scan-untangling', scores, flagged, perClass: [], params };

  // 1. Global model, from the class means and covariances (one pass over the records).
  const all = Int32Array.from({ length: n }, (_, i) => i);
  const mean = rowMean(x, d, all);
  const counts = byClass.map((idx) => idx.length);
  const means = new Float64Array(k * d);
  const total = new Float64Array(d * d);
  for (let c = 0; c < k; c++) {
    const idx = byClass[c]!;
    if (idx.length === 0) continue;
    const m = rowMean(x, d, idx);
    const cov = rowCovariance(x, d, idx, m);
    const share = idx.length / n;
    for (let a = 0; a < d; a++) means[c * d + a] = m[a]! - mean[a]!;
    for (let a = 0; a < d; a++) {
      const ma = means[c * d + a]!;
      for (let b = 0; b < d; b++) {
        total[a * d + b]! += share * (cov[a * d + b]! + ma * means[c * d + b]!);
      }
    }
  }
  const global = scanGlobalModel(total, means, counts, d, maxIterations);
  const { w, rank } = whitening(global.se, d);

  // 2–3. Untangle each class and measure J.
  const j = new Float64Array(k).fill(Number.NaN);
  const paperJ = new Float64Array(k).fill(Number.NaN);
  const se = new Float64Array(k).fill(Number.NaN);
  const groups: Array<
    { sizes: [number, number]; iterations: number; trimmed: number } | undefined
  > = [];
  for (let c = 0; c < k; c++) {
    const idx = byClass[c]!;
    const nc = idx.length;
    if (nc < minClassSize || rank === 0) {
      groups.push(undefined);
      continue;
    }
    const zc = projectRows(x, d, idx, mean, w, rank);
    const split = untangle(zc, nc, rank);
    const small = split.sizes[0] <= split.sizes[1] ? 0 : 1;
    const cs = split.centres.subarray(small * rank, (small + 1) * rank);
    const cl = split.centres.subarray((1 - small) * rank, (2 - small) * rank);
    // The paper's J (shared S_ε in every direction), over the inliers, about the identity μ_c.
    const identity = new Float64Array(rank);
    for (let q = 0; q < rank; q++) {
      let t = 0;
      for (let a = 0; a < d; a++) t += w[q * d + a]! * global.identities[c * d + a]!;
      identity[q] = t;
    }
    // The discriminant J: along e = (u_1 − u_0)/‖u_1 − u_0‖, the variances estimated.
    const e = new Float64Array(rank);
    for (let a = 0; a < rank; a++) e[a] = split.centres[rank + a]! - split.centres[a]!;
    const norm = Math.sqrt(dot(e, e));
    const q = new Float64Array(nc);
    let m = 0;
    let sumPaper = 0;
    const gs = [0, 0];
    const gq = [0, 0];
    for (let i = 0; i < nc; i++) {
      let p = 0;
      let dl = 0;
      let ds = 0;
      for (let a = 0; a < rank; a++) {
        const za = zc[i * rank + a]!;
        p += za * (norm > 0 ? e[a]! / norm : 0);
        dl += (za - cl[a]!) ** 2;
        ds += (za - cs[a]!) ** 2;
      }
      q[i] = p;
      // Half the log-likelihood ratio, smaller group against larger.
      scores[idx[i]!] = (dl - ds) / 2;
      if (split.assignments[i] === small) flagged[idx[i]!] = 2;
      if (!split.inlier[i]) continue;
      m++;
      const g = split.assignments[i]!;
      gs[g]!++;
      gq[g]! += p;
      let dm = 0;
      for (let a = 0; a < rank; a++) dm += (zc[i * rank + a]! - identity[a]!) ** 2;
      sumPaper += dm - (g === small ? ds : dl);
    }
    const qMean = (gq[0]! + gq[1]!) / Math.max(m, 1);
    const gMean = [gq[0]! / Math.max(gs[0]!, 1), gq[1]! / Math.max(gs[1]!, 1)];
    let st = 0;
    let sw = 0;
    for (let i = 0; i < nc; i++) {
      if (!split.inlier[i]) continue;
      st += (q[i]! - qMean) ** 2;
      sw += (q[i]! - gMean[split.assignments[i]!]!) ** 2;
    }
    st /= Math.max(m, 1);
    sw /= Math.max(m, 1);
    // t_i = (q−q̄)²/S_t − (q−q̄_g)²/S_w + ln(S_t/S_w): mean ln(S_t/S_w), the per-record LLR (×2).
    let jc = 0;
    let sum2 = 0;
    if (sw > 0 && st > 0 && gs[0]! > 0 && gs[1]! > 0) {
      jc = Math.log(st / sw);
      for (let i = 0; i < nc; i++) {
        if (!split.inlier[i]) continue;
        const t =
          (q[i]! - qMean) ** 2 / st - (q[i]! - gMean[split.assignments[i]!]!) ** 2 / sw + jc;
        sum2 += t * t;
      }
    }
    j[c] = jc;
    se[c] = m > 0 ? Math.sqrt(Math.max(sum2 / m - jc * jc, 0) / m) : 0;
    paperJ[c] = m > 0 ? sumPaper / m : 0;
    groups.push({
      sizes: [split.sizes[small]!, split.sizes[1 - small]!],
      iterations: split.iterations,
      trimmed: nc - m,
    });
  }

  // 4. Anomaly index among the judged classes.
  const judged = Array.from({ length: k }, (_, c) => c).filter((c) => groups[c] !== undefined);
  const noise = judged.length > 0 ? median(judged.map((c) => se[c]!)) : 0;
  const robust = anomalyAmongClasses(
    judged.map((c) => j[c]!),
    noise,
  );
  const perClass: ClassFinding[] = [];
  for (let c = 0; c < k; c++) {
    const idx = byClass[c]!;
    const className = input.classes[c]!;
    const g = groups[c];
    const base = { classIndex: c, className, count: idx.length };
    if (!g) {
      perClass.push({
        ...base,
        flagged: 0,
        suspicious: false,
        strength: 0,
        reason:
          rank === 0
            ? 'the representations do not vary within classes: SCAn has nothing to untangle'
            : `${idx.length} record(s), fewer than ${minClassSize}: not judged by SCAn`,
        stats: { j: null, anomalyIndex: null },
      });
      continue;
    }
    const jc = j[c]!;
    const z = robust ? robust.z[judged.indexOf(c)]! : 0;
    const strength = Math.max(0, z);
    const suspicious = robust !== undefined && strength > threshold;
    let count = 0;
    for (const i of idx) {
      if (flagged[i] === 2) {
        flagged[i] = suspicious ? 1 : 0;
        if (suspicious) count++;
      }
    }
    const stats = {
      j: jc,
      jStandardError: se[c]!,
      paperJ: paperJ[c]!,
      outliers: g.trimmed,
      anomalyIndex: z,
      medianJ: robust?.median ?? null,
      madJ: robust?.mad ?? null,
      scale: robust?.scale ?? null,
      samplingError: noise,
      threshold,
      smallerGroup: g.sizes[0],
      largerGroup: g.sizes[1],
      judgedClasses: judged.length,
      whitenedDims: rank,
      emIterations: global.iterations,
      splitIterations: g.iterations,
    };
    const split = `two groups of ${g.sizes[0]} and ${g.sizes[1]} records`;
    const reason = !robust
      ? `J ${fmt(jc)} (${split}), but only ${judged.length} class(es) of ≥ ${minClassSize} records: no cross-class null, not judged`
      : suspicious
        ? `J ${fmt(jc)}, anomaly index ${fmt(z)} > ${fmt(threshold)} among ${judged.length} classes (median J ${fmt(robust.median)}): untangled into ${split}, the smaller flagged`
        : `J ${fmt(jc)}, anomaly index ${fmt(z)} ≤ ${fmt(threshold)} among ${judged.length} classes (median J ${fmt(robust.median)}): ${split}, left alone${strength >= STRONG_EVIDENCE ? ' (strong evidence nonetheless)' : ''}`;
    perClass.push({ ...base, flagged: count, suspicious, strength, reason, stats });
  }
  return { method: 'scan-untangling', scores, flagged, perClass, params };
}

/** SCAn as a {@link PoisonDetector}. */
export const scanUntanglingDetector: PoisonDetector<ScanUntanglingOptions> = {
  name: 'scan-untangling',
  async detect(ds, model, options = {}) {
    const reps = await computeRepresentations(ds, model, options);
    return scanUntangling({ reps, y: ds.y, classes: ds.classes }, options);
  },
};

/** The common options SCAn uses (it is deterministic: no seed). */
function representationOptions(context: DetectorContext): RepresentationOptions {
  const { seed: _seed, ...rest } = commonDetectorOptions(context);
  return rest;
}

/** SCAn in the detector registry: `antidote scan --method sca`. */
export const scanUntanglingEntry = defineDetector({
  name: 'sca',
  title: 'SCAn (statistical contamination analysis)',
  paper:
    'Tang, Wang, Zhang & Chen 2021, "Demon in the Variant: Statistical Analysis of DNNs for Robust Backdoor Contamination Detection", USENIX Security',
  finds: 'backdoor',
  domains: ['features', 'text', 'tabular'],
  options: z.object({
    scaThreshold: z.number().positive().default(Math.exp(2)).meta({
      placeholder: '<j>',
      description: "SCAn: anomaly index J* above which a class is flagged (the paper's e²)",
    }),
  }),
  run: (ds, model, options, context) =>
    scanUntanglingDetector.detect(ds, model, {
      ...representationOptions(context),
      threshold: options.scaThreshold,
    }),
});
