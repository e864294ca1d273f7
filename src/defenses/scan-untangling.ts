import { z } from 'zod';
import { AntidoteError } from '../errors.js';
import { modifiedZScores } from '../numeric/anomaly-index.js';
import { choleskySolve } from '../numeric/cholesky.js';
import { rowCovariance, rowMean } from '../numeric/covariance.js';
import { kMeans } from '../numeric/kmeans.js';
import { median } from '../numeric/order-statistics.js';
import { projectRows } from '../numeric/pca.js';
import { symmetricEigen } from '../numeric/symmetric-eigen.js';
import { Rng } from '../util/rng.js';
import {
  type ClassFinding,
  type DetectionReport,
  fmt,
  indicesByClass,
  type PoisonDetector,
  STRONG_EVIDENCE,
} from './detector.js';
import { commonDetectorOptions, defineDetector } from './detector-entry.js';
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
 *    the shared S_ε: a two-means split in the metric S_ε⁻¹ (k-means++ with seeded restarts, in the
 *    S_ε-whitened space; the paper alternates the same two steps from a random start).
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
  /** Seed of the k-means++ starts. Default 0. */
  readonly seed?: number;
  /** Anomaly index (J*) above which a class is flagged. Default e² ≈ 7.39 (Tang et al.). */
  readonly threshold?: number;
  /** k-means++ starts per class (the lowest within-group scatter wins). Default 3. */
  readonly restarts?: number;
  /** Classes with fewer records are not judged (and not part of the null). Default 20. */
  readonly minClassSize?: number;
  /** EM iterations of the global model at most. Default 100. */
  readonly maxIterations?: number;
}

/** Eigenvalues of S_ε below this fraction of the largest are dropped (pseudo-inverse). */
const WHITEN_FLOOR = 1e-6;
/** EM stops when the covariances change by less than this fraction (Frobenius norms). */
const EM_TOLERANCE = 1e-6;

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

function squaredDistance(z: Float64Array, off: number, c: Float64Array, coff: number, k: number) {
  let s = 0;
  for (let j = 0; j < k; j++) s += (z[off + j]! - c[coff + j]!) ** 2;
  return s;
}

/** SCAn on precomputed representations; see {@link ScanUntanglingOptions}. */
export function scanUntangling(
  input: { reps: Representations; y: Int32Array; classes: readonly string[] },
  options: ScanUntanglingOptions = {},
): DetectionReport {
  const n = input.y.length;
  checkRepresentations(input.reps, n);
  const threshold = options.threshold ?? Math.exp(2);
  const restarts = options.restarts ?? 3;
  const minClassSize = options.minClassSize ?? 20;
  const maxIterations = options.maxIterations ?? 100;
  const check = (ok: boolean, what: string) => {
    if (!ok) throw new AntidoteError('INVALID_ARGUMENT', `SCAn: ${what}`);
  };
  check(threshold > 0, `threshold must be > 0, got ${threshold}`);
  check(Number.isInteger(restarts) && restarts >= 1, `restarts must be ≥ 1, got ${restarts}`);
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
    restarts,
    minClassSize,
    maxIterations,
    seed: options.seed ?? 0,
    layer: options.layer ?? null,
  };
  if (n === 0) return { method: 'scan-untangling', scores, flagged, perClass: [], params };

  // 1. Global model.
  const all = Int32Array.from({ length: n }, (_, i) => i);
  const mean = rowMean(x, d, all);
  const total = rowCovariance(x, d, all, mean);
  const counts = byClass.map((idx) => idx.length);
  const means = new Float64Array(k * d);
  for (let c = 0; c < k; c++) {
    if (counts[c] === 0) continue;
    const m = rowMean(x, d, byClass[c]!);
    for (let j = 0; j < d; j++) means[c * d + j] = m[j]! - mean[j]!;
  }
  const global = scanGlobalModel(total, means, counts, d, maxIterations);
  const { w, rank } = whitening(global.se, d);

  // 2–3. Untangle each class and measure J.
  const rng = new Rng(options.seed ?? 0);
  const j = new Float64Array(k).fill(Number.NaN);
  const se = new Float64Array(k).fill(Number.NaN);
  const groups: Array<{ small: number; large: number; sizes: [number, number] } | undefined> = [];
  for (let c = 0; c < k; c++) {
    const idx = byClass[c]!;
    const nc = idx.length;
    if (nc < minClassSize || rank === 0) {
      groups.push(undefined);
      continue;
    }
    const zc = projectRows(x, d, idx, mean, w, rank);
    const identity = new Float64Array(rank);
    for (let r = 0; r < rank; r++) {
      let t = 0;
      for (let q = 0; q < d; q++) t += w[r * d + q]! * global.identities[c * d + q]!;
      identity[r] = t;
    }
    const km = kMeans(zc, nc, rank, 2, rng.fork(`class-${c}`), { restarts });
    let sum = 0;
    let sum2 = 0;
    for (let i = 0; i < nc; i++) {
      const t =
        squaredDistance(zc, i * rank, identity, 0, rank) -
        squaredDistance(zc, i * rank, km.centroids, km.assignments[i]! * rank, rank);
      sum += t;
      sum2 += t * t;
    }
    j[c] = sum / nc;
    se[c] = Math.sqrt(Math.max(sum2 / nc - j[c]! ** 2, 0) / nc);
    const small = km.sizes[0]! <= km.sizes[1]! ? 0 : 1;
    const large = 1 - small;
    for (let i = 0; i < nc; i++) {
      scores[idx[i]!] =
        (squaredDistance(zc, i * rank, km.centroids, large * rank, rank) -
          squaredDistance(zc, i * rank, km.centroids, small * rank, rank)) /
        2;
    }
    groups.push({ small, large, sizes: [km.sizes[small]!, km.sizes[large]!] });
    // Keep the assignments of the smaller group for flagging.
    for (let i = 0; i < nc; i++) if (km.assignments[i] === small) flagged[idx[i]!] = 2;
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
      description: 'SCAn: anomaly index above which a class is flagged (default e² ≈ 7.39)',
    }),
  }),
  run: (ds, model, options, context) =>
    scanUntanglingDetector.detect(ds, model, {
      ...commonDetectorOptions(context),
      threshold: options.scaThreshold,
    }),
});
