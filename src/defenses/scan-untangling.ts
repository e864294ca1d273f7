import { z } from 'zod';
import { AntidoteError } from '../errors.js';
import { modifiedZScores } from '../numeric/anomaly-index.js';
import { choleskySolve } from '../numeric/cholesky.js';
import { rowCovariance, rowMean } from '../numeric/covariance.js';
import { median } from '../numeric/order-statistics.js';
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
 *    the shared S_ε: a two-means split in the metric S_ε⁻¹ (the paper alternates the same two
 *    steps from a random start; here the start is deterministic, the best cut along the class's
 *    direction of largest variance relative to S_ε, so the detector needs no seed).
 * 3. **Statistic.** J_c = (1/n_c) Σ_i [(r_i − μ_c)ᵀS_ε⁻¹(r_i − μ_c) − (r_i − μ_g(i))ᵀS_ε⁻¹(r_i − μ_g(i))],
 *    the per-record log-likelihood ratio (×2) of the two-component model against the one-identity
 *    model. A class holding records of a second identity (a trigger) untangles into two groups far
 *    apart in the S_ε metric and has a large J.
 * 4. **Decision.** The class's anomaly index is J's modified z-score among the classes,
 *    (J_c − median J) / (1.4826·MAD) (Iglewicz & Hoaglin; the paper's J*), with the robust
 *    standard deviation floored at J's sampling error (the standard error of the mean of the
 *    per-record terms, median over classes): with ten classes of near-identical J the MAD alone
 *    can be far below the noise of J, and chance differences would read as strong. Reported as
 *    {@link ClassFinding.strength} (negative values as 0: a class less untangled than the median
 *    is no evidence), so strength is exactly the paper's J* on one side. The paper flags a class
 *    when J* > e² ≈ 7.39 (its default `threshold` here); a strength between
 *    {@link STRONG_EVIDENCE} and the threshold is a strong finding the detector does not flag.
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

/** `m·v` for a `d × d` row-major `m`. */
function matVec(m: Float64Array, v: ArrayLike<number>, d: number): Float64Array {
  const out = new Float64Array(d);
  for (let a = 0; a < d; a++) {
    let s = 0;
    for (let b = 0; b < d; b++) s += m[a * d + b]! * v[b]!;
    out[a] = s;
  }
  return out;
}

/** F = Wᵀ·W, the pseudo-inverse of S_ε, from its whitening rows `w` (`[rank, d]`). */
function pseudoInverse(w: Float64Array, rank: number, d: number): Float64Array {
  const f = new Float64Array(d * d);
  for (let r = 0; r < rank; r++) {
    for (let a = 0; a < d; a++) {
      const wa = w[r * d + a]!;
      if (wa === 0) continue;
      for (let b = 0; b < d; b++) f[a * d + b]! += wa * w[r * d + b]!;
    }
  }
  return f;
}

/** The two-component split of one class (step 2 of {@link ScanUntanglingOptions}). */
interface Untangled {
  /** Group (0/1) of each record of the class, in class order. */
  readonly assignments: Uint8Array;
  readonly sizes: [number, number];
  /** Group means, `[2, d]`, about the global mean. */
  readonly means: Float64Array;
  /** Two-means iterations run. */
  readonly iterations: number;
}

/**
 * Splits the records `idx` in two groups minimising the within-group scatter in the metric
 * F = S_ε⁻¹ (two-means, Lloyd's steps: assign each record to the nearer group mean, recompute the
 * means, until at most a thousandth of the records move). The start is deterministic: the class's direction of largest
 * variance relative to S_ε (top eigenvector of W·Σ_c·Wᵀ, W the whitening), cut where the 1-D
 * two-means criterion along it is best. Each step is linear in the records: r goes to group 1
 * when rᵀF(u_1 − u_0) > (u_1ᵀFu_1 − u_0ᵀFu_0)/2.
 */
function untangle(
  x: Float32Array,
  d: number,
  idx: Int32Array,
  mean: Float64Array,
  classMean: Float64Array,
  classCov: Float64Array,
  w: Float64Array,
  rank: number,
  f: Float64Array,
): Untangled {
  const n = idx.length;
  // Whitened class covariance W Σ_c Wᵀ (rank × rank) and its top eigenvector.
  const ws = new Float64Array(rank * d);
  for (let r = 0; r < rank; r++) {
    for (let b = 0; b < d; b++) {
      let t = 0;
      for (let a = 0; a < d; a++) t += w[r * d + a]! * classCov[a * d + b]!;
      ws[r * d + b] = t;
    }
  }
  const cw = new Float64Array(rank * rank);
  for (let r = 0; r < rank; r++) {
    for (let q = r; q < rank; q++) {
      let t = 0;
      for (let b = 0; b < d; b++) t += ws[r * d + b]! * w[q * d + b]!;
      cw[r * rank + q] = t;
      cw[q * rank + r] = t;
    }
  }
  const top = symmetricEigen(cw, rank, 1).vectors;
  const v = new Float64Array(d);
  for (let r = 0; r < rank; r++) for (let a = 0; a < d; a++) v[a]! += top[r]! * w[r * d + a]!;
  const proj = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const o = idx[i]! * d;
    let t = 0;
    for (let a = 0; a < d; a++) t += (x[o + a]! - mean[a]! - classMean[a]!) * v[a]!;
    proj[i] = t;
  }
  // Best 1-D two-means cut: maximise the between-group sum of squares over sorted cut points.
  const order = Array.from(proj.keys()).sort((a, b) => proj[a]! - proj[b]!);
  let total = 0;
  for (let i = 0; i < n; i++) total += proj[i]!;
  let left = 0;
  let best = -1;
  let cut = 1;
  for (let m = 1; m < n; m++) {
    left += proj[order[m - 1]!]!;
    const right = total - left;
    const between = (left * left) / m + (right * right) / (n - m);
    if (between > best) {
      best = between;
      cut = m;
    }
  }
  const assignments = new Uint8Array(n);
  for (let m = cut; m < n; m++) assignments[order[m]!] = 1;
  // Group sums (about the global mean), updated by the records that move.
  const sums = new Float64Array(2 * d);
  const sizes: [number, number] = [0, 0];
  const move = (i: number, from: number, to: number) => {
    const o = idx[i]! * d;
    for (let a = 0; a < d; a++) {
      const v = x[o + a]! - mean[a]!;
      if (from >= 0) sums[from * d + a]! -= v;
      sums[to * d + a]! += v;
    }
    if (from >= 0) sizes[from as 0 | 1]--;
    sizes[to as 0 | 1]++;
  };
  for (let i = 0; i < n; i++) move(i, -1, assignments[i]!);
  const means = new Float64Array(2 * d);
  const updateMeans = () => {
    for (let g = 0; g < 2; g++) {
      for (let a = 0; a < d; a++) means[g * d + a] = sums[g * d + a]! / Math.max(sizes[g]!, 1);
    }
  };
  updateMeans();
  const fd = new Float64Array(d);
  let iterations = 0;
  while (iterations < MAX_SPLIT_ITERATIONS && sizes[0] > 0 && sizes[1] > 0) {
    iterations++;
    for (let a = 0; a < d; a++) fd[a] = means[d + a]! - means[a]!;
    const fdiff = matVec(f, fd, d);
    const u0 = means.subarray(0, d);
    const u1 = means.subarray(d, 2 * d);
    // rᵀF(u_1 − u_0) with r = x − mean, against the midpoint's.
    const bias = (dot(u1, matVec(f, u1, d)) - dot(u0, matVec(f, u0, d))) / 2 + dot(mean, fdiff);
    let moved = 0;
    for (let i = 0; i < n; i++) {
      const o = idx[i]! * d;
      let t = 0;
      for (let a = 0; a < d; a++) t += x[o + a]! * fdiff[a]!;
      const g = t > bias ? 1 : 0;
      if (g !== assignments[i]) {
        move(i, assignments[i]!, g);
        assignments[i] = g;
        moved++;
      }
    }
    updateMeans();
    if (moved <= n * SPLIT_TOLERANCE) break;
  }
  return { assignments, sizes: [sizes[0], sizes[1]], means, iterations };
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
  const classCov: Array<Float64Array | undefined> = [];
  const total = new Float64Array(d * d);
  for (let c = 0; c < k; c++) {
    const idx = byClass[c]!;
    if (idx.length === 0) {
      classCov.push(undefined);
      continue;
    }
    const m = rowMean(x, d, idx);
    const cov = rowCovariance(x, d, idx, m);
    classCov.push(cov);
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
  const f = pseudoInverse(w, rank, d);

  // 2–3. Untangle each class and measure J.
  const j = new Float64Array(k).fill(Number.NaN);
  const se = new Float64Array(k).fill(Number.NaN);
  const groups: Array<{ sizes: [number, number]; iterations: number } | undefined> = [];
  for (let c = 0; c < k; c++) {
    const idx = byClass[c]!;
    const nc = idx.length;
    if (nc < minClassSize || rank === 0) {
      groups.push(undefined);
      continue;
    }
    const split = untangle(
      x,
      d,
      idx,
      mean,
      means.subarray(c * d, (c + 1) * d),
      classCov[c]!,
      w,
      rank,
      f,
    );
    const identity = global.identities.subarray(c * d, (c + 1) * d);
    // t_i = (r−μ)ᵀF(r−μ) − (r−u_g)ᵀF(r−u_g) = 2 rᵀF(u_g − μ) + μᵀFμ − u_gᵀFu_g (r, μ, u about
    // the global mean): linear in r.
    const fm = matVec(f, identity, d);
    const muFmu = dot(identity, fm);
    const lin: Float64Array[] = [];
    const off: number[] = [];
    for (let g = 0; g < 2; g++) {
      const u = split.means.subarray(g * d, (g + 1) * d);
      const fu = matVec(f, u, d);
      const v = new Float64Array(d);
      for (let a = 0; a < d; a++) v[a] = 2 * (fu[a]! - fm[a]!);
      lin.push(v);
      off.push(muFmu - dot(u, fu));
    }
    let sum = 0;
    let sum2 = 0;
    const small = split.sizes[0] <= split.sizes[1] ? 0 : 1;
    for (let i = 0; i < nc; i++) {
      const o = idx[i]! * d;
      let p0 = 0;
      let p1 = 0;
      for (let a = 0; a < d; a++) {
        const xa = x[o + a]! - mean[a]!;
        p0 += xa * lin[0]![a]!;
        p1 += xa * lin[1]![a]!;
      }
      const t0 = p0 + off[0]!;
      const t1 = p1 + off[1]!;
      const t = split.assignments[i] === 0 ? t0 : t1;
      sum += t;
      sum2 += t * t;
      // Half the log-likelihood ratio, smaller group against larger: (t_small − t_large)/2.
      scores[idx[i]!] = (small === 0 ? t0 - t1 : t1 - t0) / 2;
      // Keep the smaller group's records for flagging.
      if (split.assignments[i] === small) flagged[idx[i]!] = 2;
    }
    j[c] = sum / nc;
    se[c] = Math.sqrt(Math.max(sum2 / nc - j[c]! ** 2, 0) / nc);
    groups.push({
      sizes: [split.sizes[small]!, split.sizes[1 - small]!],
      iterations: split.iterations,
    });
  }

  // 4. Anomaly index among the judged classes.
  const judged = Array.from({ length: k }, (_, c) => c).filter((c) => groups[c] !== undefined);
  const noise = judged.length > 0 ? median(judged.map((c) => se[c]!)) : 0;
  const robust =
    judged.length >= 3
      ? modifiedZScores(
          judged.map((c) => j[c]!),
          noise,
        )
      : undefined;
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
