import { AntidoteError } from '../errors.js';
import { chiSquareQuantile } from './chi-square.js';
import { median, selectKth } from './order-statistics.js';
import { symmetricEigen } from './symmetric-eigen.js';

/**
 * Robust mean and covariance by MCD-style trimming (the Minimum Covariance Determinant estimator's
 * C-steps, Rousseeuw & Van Driessen 1999, "A Fast Algorithm for the Minimum Covariance
 * Determinant Estimator", Technometrics 41): start from the half of the records nearest the
 * coordinate-wise median, then C-steps (re-estimate from the `h = (1 − trim)·n` records with the
 * smallest Mahalanobis distance) until the subset is stable, a consistency rescaling (median d² =
 * χ²_d median) and one reweighting step (keep d² ≤ χ²_d 0.975-quantile). SPECTRE's robust
 * whitening (defenses/spectre.ts) is built on it.
 */

/** Robust location and scatter of a set of low-dimensional rows. */
export interface RobustEstimate {
  /** Location, length d. */
  readonly mean: Float64Array;
  /** Scatter, `d × d`. */
  readonly cov: Float64Array;
  /** 1 for records kept by the final reweighting step. */
  readonly inlier: Uint8Array;
}

/**
 * Mean and covariance (divided by m − 1) of the rows of `z` (`[n, d]`) with `keep[i] === 1`.
 * Accumulates the upper triangle four rows at a time (one load/store per cell per four rows).
 */
function meanCov(z: Float64Array, n: number, d: number, keep: Uint8Array) {
  const mean = new Float64Array(d);
  let m = 0;
  for (let i = 0; i < n; i++) {
    if (keep[i] !== 1) continue;
    m++;
    for (let j = 0; j < d; j++) mean[j]! += z[i * d + j]!;
  }
  for (let j = 0; j < d; j++) mean[j]! /= Math.max(m, 1);
  const cov = new Float64Array(d * d);
  const c0 = new Float64Array(d);
  const c1 = new Float64Array(d);
  const c2 = new Float64Array(d);
  const c3 = new Float64Array(d);
  const rows = [c0, c1, c2, c3];
  let filled = 0;
  const flush = (count: number) => {
    for (let q = count; q < 4; q++) rows[q]!.fill(0);
    for (let a = 0; a < d; a++) {
      const a0 = c0[a]!;
      const a1 = c1[a]!;
      const a2 = c2[a]!;
      const a3 = c3[a]!;
      const row = a * d;
      for (let b = a; b < d; b++)
        cov[row + b]! += a0 * c0[b]! + a1 * c1[b]! + a2 * c2[b]! + a3 * c3[b]!;
    }
  };
  for (let i = 0; i < n; i++) {
    if (keep[i] !== 1) continue;
    const c = rows[filled]!;
    for (let j = 0; j < d; j++) c[j] = z[i * d + j]! - mean[j]!;
    if (++filled === 4) {
      flush(4);
      filled = 0;
    }
  }
  if (filled > 0) flush(filled);
  for (let a = 0; a < d; a++) {
    for (let b = a; b < d; b++) {
      const v = cov[a * d + b]! / Math.max(m - 1, 1);
      cov[a * d + b] = v;
      cov[b * d + a] = v;
    }
  }
  return { mean, cov };
}

/**
 * The `m` smallest of `vals` as a 0/1 mask: everything below the m-th smallest value, then ties
 * at that value in index order (deterministic).
 */
function smallestMask(vals: Float64Array, m: number): Uint8Array {
  const n = vals.length;
  const keep = new Uint8Array(n);
  if (m <= 0) return keep;
  if (m >= n) return keep.fill(1);
  const cut = selectKth(Float64Array.from(vals), m - 1);
  let taken = 0;
  for (let i = 0; i < n; i++) {
    if (vals[i]! < cut) {
      keep[i] = 1;
      taken++;
    }
  }
  for (let i = 0; i < n && taken < m; i++) {
    if (vals[i] === cut) {
      keep[i] = 1;
      taken++;
    }
  }
  return keep;
}

/** Inverse square root of a symmetric PSD matrix, eigenvalues floored at `floor`·max. */
export function inverseSqrt(cov: Float64Array, d: number, floor = 1e-9): Float64Array {
  const { values, vectors } = symmetricEigen(cov, d);
  const lo = Math.max(values[0]!, 1e-300) * floor;
  const w = new Float64Array(d * d);
  for (let r = 0; r < d; r++) {
    const s = 1 / Math.sqrt(Math.max(values[r]!, lo));
    for (let a = 0; a < d; a++) {
      const va = vectors[r * d + a]! * s;
      for (let b = 0; b < d; b++) w[a * d + b]! += va * vectors[r * d + b]!;
    }
  }
  return w;
}

/**
 * Squared Mahalanobis distances of the rows of `z` from `mean` under the whitening matrix `w`
 * (symmetric, `w·w` = the floored inverse covariance): cᵀ P c with P = w·w, summed over the upper
 * triangle (d(d + 1)/2 multiply-adds per row instead of d²).
 */
function mahalanobis(z: Float64Array, n: number, d: number, mean: Float64Array, w: Float64Array) {
  const p = new Float64Array(d * d);
  for (let a = 0; a < d; a++) {
    for (let b = a; b < d; b++) {
      let t = 0;
      for (let j = 0; j < d; j++) t += w[a * d + j]! * w[j * d + b]!;
      // Off-diagonal cells count twice in the upper-triangle sum.
      p[a * d + b] = a === b ? t : 2 * t;
    }
  }
  const out = new Float64Array(n);
  const c = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < d; j++) c[j] = z[i * d + j]! - mean[j]!;
    let s = 0;
    for (let a = 0; a < d; a++) {
      const row = a * d;
      let t = 0;
      for (let b = a; b < d; b++) t += p[row + b]! * c[b]!;
      s += c[a]! * t;
    }
    out[i] = s;
  }
  return out;
}

/**
 * MCD-style robust mean and covariance of `n` rows of `z` (`[n, d]`), trimming up to `trim` of
 * them (see the module comment). C-steps run until the subset is stable, or, with `tolerance`
 * > 0, until at most that share of it changes in a step (faster; the estimate is then slightly
 * less concentrated). Deterministic.
 */
export function robustMeanCov(
  z: Float64Array,
  n: number,
  d: number,
  trim = 0.4,
  tolerance = 0,
): RobustEstimate {
  if (n < d + 2) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `robust covariance needs more than ${d + 1} records in ${d} dimensions, got ${n}`,
    );
  }
  const h = Math.max(d + 1, Math.ceil((1 - trim) * n));
  // Start: the half nearest the coordinate-wise median, in MAD-scaled L2.
  const med = new Float64Array(d);
  const sc = new Float64Array(d);
  const col = new Float64Array(n);
  for (let j = 0; j < d; j++) {
    for (let i = 0; i < n; i++) col[i] = z[i * d + j]!;
    med[j] = median(col);
    for (let i = 0; i < n; i++) col[i] = Math.abs(col[i]! - med[j]!);
    sc[j] = median(col) || 1;
  }
  const dist = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < d; j++) s += ((z[i * d + j]! - med[j]!) / sc[j]!) ** 2;
    dist[i] = s;
  }
  let keep = smallestMask(dist, Math.max(d + 1, Math.ceil(n / 2)));
  let est = meanCov(z, n, d, keep);
  for (let step = 0; step < 30; step++) {
    const d2 = mahalanobis(z, n, d, est.mean, inverseSqrt(est.cov, d));
    const next = smallestMask(d2, h);
    let changed = 0;
    for (let i = 0; i < n; i++) if (next[i] !== keep[i]) changed++;
    if (changed === 0) break;
    keep = next;
    est = meanCov(z, n, d, keep);
    // Each C-step lowers the subset's covariance determinant (Rousseeuw & Van Driessen 1999);
    // the last steps swap a handful of boundary records. An exchange is counted twice.
    if (tolerance > 0 && changed <= 2 * Math.floor(tolerance * h)) break;
  }
  // Consistency: scale so the median distance matches a Gaussian's.
  let d2 = mahalanobis(z, n, d, est.mean, inverseSqrt(est.cov, d));
  const factor = median(d2) / chiSquareQuantile(d, 0);
  if (factor > 0) for (let i = 0; i < est.cov.length; i++) est.cov[i]! *= factor;
  for (let i = 0; i < n; i++) d2[i]! /= factor > 0 ? factor : 1;
  // Reweighting: keep everything within the χ² 97.5% quantile.
  const cut = chiSquareQuantile(d, 1.959964);
  const inlier = new Uint8Array(n);
  for (let i = 0; i < n; i++) inlier[i] = d2[i]! <= cut ? 1 : 0;
  const final = meanCov(z, n, d, inlier);
  d2 = new Float64Array(0);
  return { mean: final.mean, cov: final.cov, inlier };
}
