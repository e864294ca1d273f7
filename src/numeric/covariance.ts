import { acceleratorFor, type MatMulAccelerator } from './accelerator.js';

/**
 * Row means and covariances of a subset of the rows of a `[*, dim]` matrix (the detectors' linear
 * algebra, with {@link principalComponents} and {@link projectRows} in pca.ts).
 *
 * Which code does what, and why:
 * - The hot loops over all records (means, covariance accumulation, projections, subspace
 *   iteration) are hand-written over `Float32Array` input with `Float64Array` accumulators:
 *   they touch N·d² values (60,000 × 128² ≈ 10⁹ multiply-adds for MNIST activations), and
 *   ml-matrix's `Matrix` stores rows as JS arrays of numbers, which costs a copy of every record
 *   and several times the time of a flat typed-array loop. When the wasm engine is active, large
 *   covariances are one XNNPACK matrix product instead (about ten times faster again).
 * - The small dense problems (eigen-decomposition of a d×d covariance) use tred2 + tql2 written
 *   over flat arrays (`symmetric-eigen.ts`, tested against ml-matrix): the same algorithm as
 *   ml-matrix's, about twice as fast on the 128 × 128 class covariances, which are decomposed
 *   twenty times per scan of MNIST.
 * - Wide representations (d > {@link DENSE_EIGEN_MAX_DIM}) use seeded block subspace iteration
 *   (Halko, Martinsson & Tropp 2011) so the d×d covariance is never formed.
 */

/** Mean of the rows `idx` of the row-major `[*, dim]` matrix `x`. */
export function rowMean(x: Float32Array, dim: number, idx: ArrayLike<number>): Float64Array {
  const mean = new Float64Array(dim);
  const n = idx.length;
  for (let r = 0; r < n; r++) {
    const off = idx[r]! * dim;
    for (let j = 0; j < dim; j++) mean[j]! += x[off + j]!;
  }
  if (n > 0) for (let j = 0; j < dim; j++) mean[j]! /= n;
  return mean;
}

/** Rows `idx` of `x` minus `mean`, gathered into a contiguous float32 `[idx.length, dim]`. */
export function centredRows(
  x: Float32Array,
  dim: number,
  idx: ArrayLike<number>,
  mean: Float64Array,
): Float32Array {
  const rows = new Float32Array(idx.length * dim);
  for (let r = 0; r < idx.length; r++) {
    const off = idx[r]! * dim;
    for (let j = 0; j < dim; j++) rows[r * dim + j] = x[off + j]! - mean[j]!;
  }
  return rows;
}

/**
 * The covariance as one matrix product Xcᵀ·Xc on the accelerator (the wasm backend's XNNPACK,
 * SIMD): about ten times the plain loop's speed. Float32 products, float32 accumulation inside the
 * kernel, then scaled in float64; deterministic on a given backend.
 */
function acceleratedCovariance(
  accelerator: MatMulAccelerator,
  x: Float32Array,
  dim: number,
  idx: ArrayLike<number>,
  mean: Float64Array,
): Float64Array {
  const n = idx.length;
  const rows = centredRows(x, dim, idx, mean);
  const cols = new Float32Array(dim * n);
  for (let r = 0; r < n; r++) for (let j = 0; j < dim; j++) cols[j * n + r] = rows[r * dim + j]!;
  const g = accelerator.matMul(cols, rows, dim, n, dim);
  const cov = new Float64Array(dim * dim);
  const inv = n > 0 ? 1 / n : 0;
  // Symmetrise (the kernel's two triangles may differ in the last bit).
  for (let a = 0; a < dim; a++) {
    for (let b = a; b < dim; b++) {
      const v = ((g[a * dim + b]! + g[b * dim + a]!) / 2) * inv;
      cov[a * dim + b] = v;
      cov[b * dim + a] = v;
    }
  }
  return cov;
}

/**
 * Covariance (divided by n) of the rows `idx` of `x` about `mean`, as a dense symmetric
 * `dim × dim` Float64Array. Accumulates the upper triangle only, then mirrors it.
 */
export function rowCovariance(
  x: Float32Array,
  dim: number,
  idx: ArrayLike<number>,
  mean: Float64Array,
): Float64Array {
  const n = idx.length;
  const accelerator = acceleratorFor(n * dim * dim);
  if (accelerator) return acceleratedCovariance(accelerator, x, dim, idx, mean);
  const cov = new Float64Array(dim * dim);
  // Four centred rows at a time: one load/store of each covariance cell per four records.
  const c0 = new Float64Array(dim);
  const c1 = new Float64Array(dim);
  const c2 = new Float64Array(dim);
  const c3 = new Float64Array(dim);
  const rows = [c0, c1, c2, c3];
  let r = 0;
  for (; r + 4 <= n; r += 4) {
    for (let q = 0; q < 4; q++) {
      const off = idx[r + q]! * dim;
      const c = rows[q]!;
      for (let j = 0; j < dim; j++) c[j] = x[off + j]! - mean[j]!;
    }
    for (let a = 0; a < dim; a++) {
      const a0 = c0[a]!;
      const a1 = c1[a]!;
      const a2 = c2[a]!;
      const a3 = c3[a]!;
      const row = a * dim;
      for (let b = a; b < dim; b++) {
        cov[row + b]! += a0 * c0[b]! + a1 * c1[b]! + a2 * c2[b]! + a3 * c3[b]!;
      }
    }
  }
  for (; r < n; r++) {
    const off = idx[r]! * dim;
    for (let j = 0; j < dim; j++) c0[j] = x[off + j]! - mean[j]!;
    for (let a = 0; a < dim; a++) {
      const ca = c0[a]!;
      const row = a * dim;
      for (let b = a; b < dim; b++) cov[row + b]! += ca * c0[b]!;
    }
  }
  const inv = n > 0 ? 1 / n : 0;
  for (let a = 0; a < dim; a++) {
    for (let b = a; b < dim; b++) {
      const v = cov[a * dim + b]! * inv;
      cov[a * dim + b] = v;
      cov[b * dim + a] = v;
    }
  }
  return cov;
}
