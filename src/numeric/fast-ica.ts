/**
 * FastICA (Hyvärinen & Oja 2000, "Independent Component Analysis: Algorithms and Applications",
 * Neural Networks 13; Hyvärinen 1999, "Fast and Robust Fixed-Point Algorithms for Independent
 * Component Analysis", IEEE TNN): the parallel (symmetric) fixed-point algorithm with the logcosh
 * contrast, g(u) = tanh(u), g'(u) = 1 − tanh²(u). Activation clustering (Chen et al. 2018) reduces
 * each class's activations to 10 independent components with it before k-means.
 *
 * Input rows are centred and whitened by PCA first (unit variance along each kept component);
 * the unmixing matrix W (k × k, orthonormal rows) then rotates the whitened data so that each
 * output is as non-Gaussian as possible. Plain Float64Array code: k ≤ a few tens, so the cost is
 * dominated by n·k² per iteration.
 */

import { AntidoteError } from '../errors.js';
import type { RandomSource } from './random.js';
import { symmetricEigen } from './symmetric-eigen.js';

/** Options of {@link fastIca}. */
export interface FastIcaOptions {
  /** Most fixed-point iterations; default 200. */
  readonly maxIterations?: number;
  /** Stop when every row of W moved by less than this (1 − |⟨w_new, w_old⟩|); default 1e-4. */
  readonly tolerance?: number;
}

/** Result of {@link fastIca}. */
export interface FastIcaResult {
  /** The independent components, `[n, k]` row-major (unit variance each). */
  readonly sources: Float64Array;
  /** The unmixing rotation W, `[k, k]` (rows orthonormal), applied to the whitened data. */
  readonly unmixing: Float64Array;
  readonly iterations: number;
  readonly converged: boolean;
}

/**
 * W ← (W Wᵀ)^{-1/2} W: the nearest matrix with orthonormal rows (symmetric decorrelation), in
 * place.
 */
function symmetricDecorrelate(w: Float64Array, k: number): void {
  const g = new Float64Array(k * k);
  for (let a = 0; a < k; a++) {
    for (let b = a; b < k; b++) {
      let s = 0;
      for (let j = 0; j < k; j++) s += w[a * k + j]! * w[b * k + j]!;
      g[a * k + b] = s;
      g[b * k + a] = s;
    }
  }
  const { values, vectors } = symmetricEigen(g, k);
  // (W Wᵀ)^{-1/2} = E diag(1/√λ) Eᵀ.
  const inv = new Float64Array(k * k);
  for (let r = 0; r < k; r++) {
    const s = 1 / Math.sqrt(Math.max(values[r]!, 1e-12));
    for (let a = 0; a < k; a++) {
      const va = vectors[r * k + a]! * s;
      for (let b = 0; b < k; b++) inv[a * k + b]! += va * vectors[r * k + b]!;
    }
  }
  const out = new Float64Array(k * k);
  for (let a = 0; a < k; a++) {
    for (let b = 0; b < k; b++) {
      let s = 0;
      for (let j = 0; j < k; j++) s += inv[a * k + j]! * w[j * k + b]!;
      out[a * k + b] = s;
    }
  }
  w.set(out);
}

/**
 * Independent components of the `n` rows of `z` (`[n, k]`, row-major): centres and whitens `z`
 * by its own covariance, then runs symmetric FastICA from a seeded random rotation. Throws
 * `INVALID_ARGUMENT` for fewer than k + 1 rows or a singular covariance direction (whitening is
 * floored, so near-degenerate inputs still return).
 */
export function fastIca(
  z: Float64Array,
  n: number,
  k: number,
  rng: RandomSource,
  options: FastIcaOptions = {},
): FastIcaResult {
  const maxIterations = options.maxIterations ?? 200;
  const tolerance = options.tolerance ?? 1e-4;
  if (!Number.isInteger(k) || k < 1 || !Number.isInteger(n) || n < k + 1 || z.length !== n * k) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `FastICA needs more than k rows of k values (k = ${k}, n = ${n}, ${z.length} values)`,
    );
  }
  if (!(Number.isInteger(maxIterations) && maxIterations >= 1 && tolerance > 0)) {
    throw new AntidoteError('INVALID_ARGUMENT', 'FastICA maxIterations ≥ 1 and tolerance > 0');
  }
  // Centre and whiten: x = D^{-1/2} Eᵀ (z − μ).
  const mean = new Float64Array(k);
  for (let i = 0; i < n; i++) for (let j = 0; j < k; j++) mean[j]! += z[i * k + j]!;
  for (let j = 0; j < k; j++) mean[j]! /= n;
  const cov = new Float64Array(k * k);
  const c = new Float64Array(k);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < k; j++) c[j] = z[i * k + j]! - mean[j]!;
    for (let a = 0; a < k; a++) for (let b = a; b < k; b++) cov[a * k + b]! += c[a]! * c[b]!;
  }
  for (let a = 0; a < k; a++) {
    for (let b = a; b < k; b++) {
      cov[a * k + b]! /= n;
      cov[b * k + a] = cov[a * k + b]!;
    }
  }
  const eig = symmetricEigen(cov, k);
  const floor = Math.max(eig.values[0]!, 1e-300) * 1e-10;
  const whiten = new Float64Array(k * k); // rows: eigenvectors / √λ
  for (let r = 0; r < k; r++) {
    const s = 1 / Math.sqrt(Math.max(eig.values[r]!, floor));
    for (let j = 0; j < k; j++) whiten[r * k + j] = eig.vectors[r * k + j]! * s;
  }
  const x = new Float64Array(n * k);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < k; j++) c[j] = z[i * k + j]! - mean[j]!;
    for (let r = 0; r < k; r++) {
      let s = 0;
      for (let j = 0; j < k; j++) s += whiten[r * k + j]! * c[j]!;
      x[i * k + r] = s;
    }
  }

  const w = new Float64Array(k * k);
  for (let i = 0; i < w.length; i++) w[i] = rng.normal();
  symmetricDecorrelate(w, k);
  const next = new Float64Array(k * k);
  const gPrimeMean = new Float64Array(k);
  const u = new Float64Array(k);
  let iterations = 0;
  let converged = false;
  while (iterations < maxIterations && !converged) {
    iterations++;
    next.fill(0);
    gPrimeMean.fill(0);
    // W⁺ = E[g(W x) xᵀ] − diag(E[g'(W x)]) W.
    for (let i = 0; i < n; i++) {
      const o = i * k;
      for (let r = 0; r < k; r++) {
        let s = 0;
        for (let j = 0; j < k; j++) s += w[r * k + j]! * x[o + j]!;
        const t = Math.tanh(s);
        u[r] = t;
        gPrimeMean[r]! += 1 - t * t;
      }
      for (let r = 0; r < k; r++) {
        const t = u[r]!;
        const row = r * k;
        for (let j = 0; j < k; j++) next[row + j]! += t * x[o + j]!;
      }
    }
    for (let r = 0; r < k; r++) {
      const gp = gPrimeMean[r]! / n;
      for (let j = 0; j < k; j++) next[r * k + j] = next[r * k + j]! / n - gp * w[r * k + j]!;
    }
    symmetricDecorrelate(next, k);
    let worst = 0;
    for (let r = 0; r < k; r++) {
      let dot = 0;
      for (let j = 0; j < k; j++) dot += next[r * k + j]! * w[r * k + j]!;
      worst = Math.max(worst, 1 - Math.abs(dot));
    }
    w.set(next);
    converged = worst < tolerance;
  }
  const sources = new Float64Array(n * k);
  for (let i = 0; i < n; i++) {
    const o = i * k;
    for (let r = 0; r < k; r++) {
      let s = 0;
      for (let j = 0; j < k; j++) s += w[r * k + j]! * x[o + j]!;
      sources[o + r] = s;
    }
  }
  return { sources, unmixing: w, iterations, converged };
}
