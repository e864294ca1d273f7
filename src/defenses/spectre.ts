import { z } from 'zod';
import { AntidoteError } from '../errors.js';
import {
  inverseSqrt,
  median,
  principalComponents,
  projectRows,
  robustMeanCov,
  symmetricEigen,
} from '../numeric/index.js';
import { Rng } from '../util/rng.js';
import { roundStrength } from './calibration.js';
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
 * Robust spectral scores, in the spirit of SPECTRE (Hayase, Kong, Somani & Oh 2021, "SPECTRE:
 * Defending Against Backdoor Attacks Using Robust Statistics", ICML).
 *
 * Per given label:
 * 1. PCA to `dims` (default 32) dimensions.
 * 2. Robust mean and covariance by MCD-style trimming (Rousseeuw & Van Driessen 1999): start from
 *    the half of the records nearest the coordinate-wise median, then C-steps (re-estimate from the
 *    `h = (1 − trim)·n` records with the smallest Mahalanobis distance) until the subset is stable,
 *    a consistency rescaling (median d² = χ²_d median) and one reweighting step (keep d² ≤ χ²_d
 *    0.975-quantile). Poison, being a minority off the clean distribution, is trimmed away.
 * 3. Whiten every record with the robust estimate: in whitened coordinates the clean records are
 *    ≈ isotropic, so whatever direction the poison shifts along stands out, even at 1%.
 * 4. QUantum Entropy (QUE) scores (Dong, Hopkins & Li 2019, used by SPECTRE): with Σ̃ the
 *    covariance of the whitened records and Q = exp(α(Σ̃ − I)/(‖Σ̃‖ − 1)), score
 *    τ = x̃ᵀ Q x̃ / tr Q. α = 4 by default.
 *
 * Decision: the reference distribution of τ is that of the robust inliers; a record passes the
 * cut-off when τ exceeds `threshold` times the inliers' median τ (default 40: for Gaussian clean
 * data the χ²₁ tail beyond that is < 10⁻⁴). Scores are reported as τ over that cut-off (> 1 =
 * past it), comparable across classes. Real activations have heavy-tailed clean subpopulations
 * that also pass the cut-off, so by default records are flagged only in classes whose whitened
 * top eigenvalue stands out among the classes (`classGate`). SPECTRE itself removes 1.5·ε̂ per
 * class; we flag the outliers themselves.
 */
export interface SpectreOptions extends RepresentationOptions {
  /** PCA dimensions before robust estimation. Default 32. */
  readonly dims?: number;
  /** Share of records the robust estimate may trim (its breakdown point). Default 0.4. */
  readonly trim?: number;
  /** QUE temperature α; 0 scores by the whitened norm, large α by the top direction. Default 4. */
  readonly alpha?: number;
  /** Cut-off as a multiple of the inliers' median score. Default 40. */
  readonly threshold?: number;
  /**
   * `anomaly` (default): flag only in classes whose whitened top eigenvalue is a robust outlier
   * among the classes (see `classGateZ`); `none`: flag every record over the cut-off. Real
   * activations have heavy-tailed clean subpopulations, so without the gate clean classes lose
   * records too; the gate cannot see an all-to-all attack that lifts every class alike.
   */
  readonly classGate?: 'anomaly' | 'none';
  /**
   * Modified z-score (among the classes) a class's whitened top eigenvalue needs to pass the
   * gate; it is also the finding's `strength`. Default `STRONG_EVIDENCE` (3.5).
   */
  readonly classGateZ?: number;
  /** Seed (wide representations only). Default 0. */
  readonly seed?: number;
}

/**
 * QUE scores of whitened rows `x` (`[n, d]`, centred on the robust mean):
 * τᵢ = xᵢᵀ Q xᵢ / tr Q with Q = exp(α(Σ̃ − I)/(λ₁ − 1)), Σ̃ = (1/n)Σ xxᵀ. Returns the scores and λ₁.
 */
export function queScores(
  x: Float64Array,
  n: number,
  d: number,
  alpha: number,
): { scores: Float64Array; topEigenvalue: number } {
  const s = new Float64Array(d * d);
  for (let i = 0; i < n; i++) {
    for (let a = 0; a < d; a++) {
      const xa = x[i * d + a]!;
      for (let b = a; b < d; b++) s[a * d + b]! += xa * x[i * d + b]!;
    }
  }
  for (let a = 0; a < d; a++) {
    for (let b = a; b < d; b++) {
      s[a * d + b]! /= n;
      s[b * d + a] = s[a * d + b]!;
    }
  }
  const { values, vectors } = symmetricEigen(s, d);
  const top = values[0]!;
  const denom = top - 1;
  const weights = new Float64Array(d);
  let trace = 0;
  for (let r = 0; r < d; r++) {
    weights[r] = denom > 1e-9 ? Math.exp((alpha * (values[r]! - 1)) / denom) : 1;
    trace += weights[r]!;
  }
  const scores = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let t = 0;
    for (let r = 0; r < d; r++) {
      let p = 0;
      for (let j = 0; j < d; j++) p += vectors[r * d + j]! * x[i * d + j]!;
      t += weights[r]! * p * p;
    }
    scores[i] = t / trace;
  }
  return { scores, topEigenvalue: top! };
}

/**
 * The robustly whitened PCA coordinates of rows `idx` of `reps` (`[idx.length, d]`, d =
 * min(dims, dim, (n − 2)/2)): PCA to d dimensions, MCD-style robust mean and covariance
 * ({@link robustMeanCov}), then whitening, so the clean majority is ≈ isotropic.
 */
export function robustWhiten(
  reps: Representations,
  idx: Int32Array,
  dims: number,
  rng: Rng,
  options: { readonly trim?: number; readonly tolerance?: number } = {},
): Representations {
  const { trim = 0.4, tolerance = 0 } = options;
  const m = idx.length;
  const d = Math.min(dims, reps.dim, Math.max(1, Math.floor((m - 2) / 2)));
  const pcs = principalComponents(reps.data, reps.dim, idx, d, rng);
  const z = projectRows(reps.data, reps.dim, idx, pcs.mean, pcs.vectors, d);
  const est = robustMeanCov(z, m, d, trim, tolerance);
  const w = inverseSqrt(est.cov, d);
  const out = new Float32Array(m * d);
  const c = new Float64Array(d);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < d; j++) c[j] = z[i * d + j]! - est.mean[j]!;
    for (let a = 0; a < d; a++) {
      let t = 0;
      for (let b = 0; b < d; b++) t += w[a * d + b]! * c[b]!;
      out[i * d + a] = t;
    }
  }
  return { data: out, dim: d };
}

/** Robust spectral scores on precomputed representations; see {@link SpectreOptions}. */
export function spectre(
  input: { reps: Representations; y: Int32Array; classes: readonly string[] },
  options: SpectreOptions = {},
): DetectionReport {
  const n = input.y.length;
  checkRepresentations(input.reps, n);
  const dims = options.dims ?? 32;
  const trim = options.trim ?? 0.4;
  const alpha = options.alpha ?? 4;
  const threshold = options.threshold ?? 40;
  const classGate = options.classGate ?? 'anomaly';
  const classGateZ = options.classGateZ ?? STRONG_EVIDENCE;
  if (!Number.isInteger(dims) || dims < 1) {
    throw new AntidoteError('INVALID_ARGUMENT', `dims must be a positive integer, got ${dims}`);
  }
  if (!(trim >= 0 && trim < 0.5)) {
    throw new AntidoteError('INVALID_ARGUMENT', `trim must lie in [0, 0.5), got ${trim}`);
  }
  if (!(alpha >= 0) || !(threshold > 0)) {
    throw new AntidoteError('INVALID_ARGUMENT', `alpha must be ≥ 0 and threshold > 0`);
  }
  const { reps } = input;
  const k = input.classes.length;
  const byClass = indicesByClass(input.y, k);
  const rng = new Rng(options.seed ?? 0);
  const scores = new Float32Array(n);
  const flagged = new Uint8Array(n);
  const perClass: ClassFinding[] = [];
  const pending: {
    c: number;
    idx: Int32Array;
    m: number;
    count: number;
    ref: number;
    cut: number;
    d: number;
    inliers: number;
    lambda: number;
  }[] = [];
  for (let c = 0; c < k; c++) {
    const idx = byClass[c]!;
    const className = input.classes[c]!;
    const d = Math.min(dims, reps.dim, Math.max(1, Math.floor((idx.length - 2) / 2)));
    if (idx.length < 4) {
      perClass.push({
        classIndex: c,
        className,
        count: idx.length,
        flagged: 0,
        suspicious: false,
        strength: 0,
        reason: `${idx.length} record(s): too few for robust statistics, left alone`,
        stats: {},
      });
      continue;
    }
    const pcs = principalComponents(reps.data, reps.dim, idx, d, rng.fork(`class-${c}`));
    const z = projectRows(reps.data, reps.dim, idx, pcs.mean, pcs.vectors, d);
    const m = idx.length;
    const est = robustMeanCov(z, m, d, trim);
    const w = inverseSqrt(est.cov, d);
    const xw = new Float64Array(m * d);
    const cbuf = new Float64Array(d);
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < d; j++) cbuf[j] = z[i * d + j]! - est.mean[j]!;
      for (let a = 0; a < d; a++) {
        let t = 0;
        for (let b = 0; b < d; b++) t += w[a * d + b]! * cbuf[b]!;
        xw[i * d + a] = t;
      }
    }
    const que = queScores(xw, m, d, alpha);
    const inlierScores: number[] = [];
    for (let i = 0; i < m; i++) if (est.inlier[i]) inlierScores.push(que.scores[i]!);
    const ref = median(inlierScores.length > 0 ? inlierScores : que.scores);
    const cut = threshold * (ref > 0 ? ref : 1e-30);
    let count = 0;
    for (let i = 0; i < m; i++) {
      const sc = que.scores[i]! / cut;
      scores[idx[i]!] = sc;
      if (sc > 1) count++;
    }
    let inliers = 0;
    for (let i = 0; i < m; i++) inliers += est.inlier[i]!;
    pending.push({ c, idx, m, count, ref, cut, d, inliers, lambda: que.topEigenvalue });
    options.onProgress?.({ stage: 'robust scoring', done: c + 1, total: k });
  }
  // Class gate: a class is suspicious only when its whitened top eigenvalue is a robust outlier
  // among the classes (z = (λ − median)/(1.4826·MAD) ≥ classGateZ).
  const lambdas = pending.map((p) => p.lambda);
  const lMed = median(lambdas);
  const lScale = 1.4826 * median(lambdas.map((v) => Math.abs(v - lMed)));
  for (const p of pending) {
    const z = lScale > 0 ? (p.lambda - lMed) / lScale : p.lambda > lMed ? Infinity : 0;
    const gateOk = classGate === 'none' || z >= classGateZ;
    let count = 0;
    if (gateOk) {
      for (const i of p.idx) {
        if (scores[i]! > 1) {
          flagged[i] = 1;
          count++;
        }
      }
    }
    const lambdaText = `whitened top eigenvalue ${fmt(p.lambda)} (class anomaly z ${fmt(z)})`;
    perClass.push({
      classIndex: p.c,
      className: input.classes[p.c]!,
      count: p.m,
      flagged: count,
      suspicious: count > 0,
      strength: roundStrength(z),
      reason: !gateOk
        ? `${lambdaText} < ${classGateZ}: the class does not stand out, left alone (${p.count} records would pass the score cut-off)`
        : count > 0
          ? `${count} records score above ${threshold}× the robust inliers' median QUE score (${fmt(p.ref)}); ${lambdaText}`
          : `no record scores above ${threshold}× the robust inliers' median QUE score (${fmt(p.ref)}); ${lambdaText}: left alone`,
      stats: {
        dims: p.d,
        robustInliers: p.inliers,
        topWhitenedEigenvalue: p.lambda,
        classAnomalyZ: Number.isFinite(z) ? z : null,
        inlierMedianScore: p.ref,
        cutoff: p.cut,
        aboveCutoff: p.count,
        estimatedEpsilon: count / p.m,
      },
    });
  }
  perClass.sort((a, b) => a.classIndex - b.classIndex);
  return {
    method: 'spectre',
    scores,
    flagged,
    perClass,
    params: {
      dims,
      trim,
      alpha,
      threshold,
      classGate,
      classGateZ,
      seed: options.seed ?? 0,
      layer: options.layer ?? null,
    },
  };
}

/** Robust spectral scores as a {@link PoisonDetector}. */
export const spectreDetector: PoisonDetector<SpectreOptions> = {
  name: 'spectre',
  async detect(ds, model, options = {}) {
    const reps = await computeRepresentations(ds, model, options);
    return spectre({ reps, y: ds.y, classes: ds.classes }, options);
  },
};

/** Robust spectral scores in the detector registry: `antidote scan --method spectre`. */
export const spectreEntry = defineDetector({
  name: 'spectre',
  title: 'Robust spectral scores (SPECTRE)',
  paper:
    'Hayase, Kong, Somani & Oh 2021, "SPECTRE: Defending Against Backdoor Attacks Using Robust Statistics", ICML',
  finds: 'backdoor',
  domains: ['features', 'text', 'tabular'],
  options: z.object({}),
  run: (ds, model, _options, context) =>
    spectreDetector.detect(ds, model, commonDetectorOptions(context)),
});
