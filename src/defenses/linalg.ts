import * as tf from '@tensorflow/tfjs-core';
import type { Rng } from '../data/rng.js';
import { wasmEngineActive } from '../engine/backend.js';
import { AntidoteError } from '../errors.js';
import { eigenSymmetric } from './symmetric-eigen.js';

/**
 * Linear algebra for the detectors.
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

/** Above this dimension {@link principalComponents} avoids the dense d×d covariance. */
export const DENSE_EIGEN_MAX_DIM = 256;

/** Mean of the rows `idx` of the row-major `[*, dim]` matrix `x`. */
export function rowMean(x: Float32Array, dim: number, idx: ArrayLike<number>): Float64Array {
  const mean = new Float64Array(dim);
  const n = idx.length;
  for (let r = 0; r < n; r++) {
    const off = idx[r] * dim;
    for (let j = 0; j < dim; j++) mean[j] += x[off + j];
  }
  if (n > 0) for (let j = 0; j < dim; j++) mean[j] /= n;
  return mean;
}

/** Below this many multiply-adds (n·d²) the plain loop beats handing the product to wasm. */
const WASM_COVARIANCE_MIN_WORK = 4_000_000;

/** Rows `idx` of `x` minus `mean`, gathered into a contiguous float32 `[idx.length, dim]`. */
function centredRows(
  x: Float32Array,
  dim: number,
  idx: ArrayLike<number>,
  mean: Float64Array,
): Float32Array {
  const rows = new Float32Array(idx.length * dim);
  for (let r = 0; r < idx.length; r++) {
    const off = idx[r] * dim;
    for (let j = 0; j < dim; j++) rows[r * dim + j] = x[off + j] - mean[j];
  }
  return rows;
}

/**
 * The covariance as one matrix product Xcᵀ·Xc on the wasm backend (XNNPACK, SIMD): about ten
 * times the plain loop's speed. Float32 products, float32 accumulation inside the kernel, then
 * scaled in float64; deterministic on a given backend.
 */
function wasmCovariance(
  x: Float32Array,
  dim: number,
  idx: ArrayLike<number>,
  mean: Float64Array,
): Float64Array {
  const n = idx.length;
  const rows = centredRows(x, dim, idx, mean);
  const cols = new Float32Array(dim * n);
  for (let r = 0; r < n; r++) for (let j = 0; j < dim; j++) cols[j * n + r] = rows[r * dim + j];
  const product = tf.tidy(() =>
    tf.matMul(tf.tensor2d(cols, [dim, n]), tf.tensor2d(rows, [n, dim])),
  );
  const g = product.dataSync() as Float32Array;
  product.dispose();
  const cov = new Float64Array(dim * dim);
  const inv = n > 0 ? 1 / n : 0;
  // Symmetrise (the kernel's two triangles may differ in the last bit).
  for (let a = 0; a < dim; a++) {
    for (let b = a; b < dim; b++) {
      const v = ((g[a * dim + b] + g[b * dim + a]) / 2) * inv;
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
  if (wasmEngineActive() && n * dim * dim >= WASM_COVARIANCE_MIN_WORK) {
    return wasmCovariance(x, dim, idx, mean);
  }
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
      const off = idx[r + q] * dim;
      const c = rows[q];
      for (let j = 0; j < dim; j++) c[j] = x[off + j] - mean[j];
    }
    for (let a = 0; a < dim; a++) {
      const a0 = c0[a];
      const a1 = c1[a];
      const a2 = c2[a];
      const a3 = c3[a];
      const row = a * dim;
      for (let b = a; b < dim; b++) {
        cov[row + b] += a0 * c0[b] + a1 * c1[b] + a2 * c2[b] + a3 * c3[b];
      }
    }
  }
  for (; r < n; r++) {
    const off = idx[r] * dim;
    for (let j = 0; j < dim; j++) c0[j] = x[off + j] - mean[j];
    for (let a = 0; a < dim; a++) {
      const ca = c0[a];
      const row = a * dim;
      for (let b = a; b < dim; b++) cov[row + b] += ca * c0[b];
    }
  }
  const inv = n > 0 ? 1 / n : 0;
  for (let a = 0; a < dim; a++) {
    for (let b = a; b < dim; b++) {
      const v = cov[a * dim + b] * inv;
      cov[a * dim + b] = v;
      cov[b * dim + a] = v;
    }
  }
  return cov;
}

/** Eigen-pairs of a symmetric matrix, largest eigenvalue first. */
export interface EigenPairs {
  /** Eigenvalues, descending. */
  readonly values: Float64Array;
  /** Eigenvectors as rows, `[k, d]` row-major, unit length, in the order of `values`. */
  readonly vectors: Float64Array;
}

/**
 * Eigen-decomposition of the symmetric `d × d` matrix `a` (row-major), via {@link eigenSymmetric}
 * (tred2 + tql2 on flat arrays). Returns the top `k` pairs (default all), largest first.
 */
export function symmetricEigen(a: Float64Array, d: number, k = d): EigenPairs {
  if (a.length !== d * d) {
    throw new AntidoteError(
      'SHAPE_MISMATCH',
      `symmetricEigen: ${a.length} values is not ${d}×${d}`,
    );
  }
  const { values: asc, vectors: rows } = eigenSymmetric(a, d);
  const kk = Math.min(k, d);
  const values = new Float64Array(kk);
  const vectors = new Float64Array(kk * d);
  for (let r = 0; r < kk; r++) {
    const col = d - 1 - r; // largest first
    values[r] = asc[col];
    vectors.set(rows.subarray(col * d, (col + 1) * d), r * d);
  }
  return { values, vectors };
}

/** The leading principal directions of a set of rows. */
export interface PrincipalComponents extends EigenPairs {
  /** Mean of the rows, length d. */
  readonly mean: Float64Array;
  /** Dimension d of the rows. */
  readonly dim: number;
}

/**
 * Top `k` principal components of rows `idx` of `x` (`[*, dim]`): eigenvectors of the covariance
 * about the row mean. Equivalently the top right singular vectors of the centred matrix, which is
 * what spectral signatures need (Tran et al. 2018). Dense covariance + {@link symmetricEigen} for
 * `dim ≤ 256`; seeded block subspace iteration otherwise.
 */
export function principalComponents(
  x: Float32Array,
  dim: number,
  idx: ArrayLike<number>,
  k: number,
  rng: Rng,
): PrincipalComponents {
  const kk = Math.max(1, Math.min(k, dim));
  const mean = rowMean(x, dim, idx);
  if (dim <= DENSE_EIGEN_MAX_DIM) {
    const cov = rowCovariance(x, dim, idx, mean);
    return { mean, dim, ...symmetricEigen(cov, dim, kk) };
  }
  return { mean, dim, ...subspaceIteration(x, dim, idx, mean, kk, rng) };
}

/**
 * Top-k eigen-pairs of the covariance of rows `idx` about `mean`, without forming it: block power
 * iteration V ← orth(Xcᵀ Xc V) with a few oversampled columns, then Rayleigh–Ritz.
 */
function subspaceIteration(
  x: Float32Array,
  dim: number,
  idx: ArrayLike<number>,
  mean: Float64Array,
  k: number,
  rng: Rng,
  iterations = 8,
): EigenPairs {
  const m = Math.min(dim, k + 8);
  const n = idx.length;
  let v: Float64Array = new Float64Array(m * dim); // rows are basis vectors
  for (let i = 0; i < v.length; i++) v[i] = rng.normal();
  orthonormalizeRows(v, m, dim);
  const w = new Float64Array(n * m);
  const apply = (basis: Float64Array): Float64Array => {
    // w = Xc basisᵀ  (n × m), then out = wᵀ Xc (m × dim)
    const c = new Float64Array(dim);
    const out = new Float64Array(m * dim);
    for (let r = 0; r < n; r++) {
      const off = idx[r] * dim;
      for (let j = 0; j < dim; j++) c[j] = x[off + j] - mean[j];
      for (let q = 0; q < m; q++) {
        let s = 0;
        const b = q * dim;
        for (let j = 0; j < dim; j++) s += c[j] * basis[b + j];
        w[r * m + q] = s;
        const o = q * dim;
        for (let j = 0; j < dim; j++) out[o + j] += s * c[j];
      }
    }
    return out;
  };
  for (let it = 0; it < iterations; it++) {
    v = apply(v);
    orthonormalizeRows(v, m, dim);
  }
  // Rayleigh–Ritz: S = V C Vᵀ (m × m) with C = XcᵀXc / n.
  const cv = apply(v);
  const s = new Float64Array(m * m);
  for (let a = 0; a < m; a++) {
    for (let b = 0; b < m; b++) {
      let t = 0;
      for (let j = 0; j < dim; j++) t += v[a * dim + j] * cv[b * dim + j];
      s[a * m + b] = t / Math.max(n, 1);
    }
  }
  for (let a = 0; a < m; a++) {
    for (let b = a + 1; b < m; b++) {
      const t = (s[a * m + b] + s[b * m + a]) / 2;
      s[a * m + b] = t;
      s[b * m + a] = t;
    }
  }
  const small = symmetricEigen(s, m, k);
  const vectors = new Float64Array(k * dim);
  for (let r = 0; r < k; r++) {
    for (let q = 0; q < m; q++) {
      const coef = small.vectors[r * m + q];
      for (let j = 0; j < dim; j++) vectors[r * dim + j] += coef * v[q * dim + j];
    }
  }
  return { values: small.values, vectors };
}

/** Modified Gram–Schmidt on the `rows` rows of `v` (`[rows, dim]`), in place. */
export function orthonormalizeRows(v: Float64Array, rows: number, dim: number): void {
  for (let a = 0; a < rows; a++) {
    const oa = a * dim;
    for (let attempt = 0; ; attempt++) {
      for (let b = 0; b < a; b++) {
        const ob = b * dim;
        let dot = 0;
        for (let j = 0; j < dim; j++) dot += v[oa + j] * v[ob + j];
        for (let j = 0; j < dim; j++) v[oa + j] -= dot * v[ob + j];
      }
      let norm = 0;
      for (let j = 0; j < dim; j++) norm += v[oa + j] * v[oa + j];
      norm = Math.sqrt(norm);
      if (norm > 1e-10 || attempt > dim) {
        const inv = norm > 0 ? 1 / norm : 0;
        for (let j = 0; j < dim; j++) v[oa + j] *= inv;
        break;
      }
      // Degenerate (dependent) row: restart it from a coordinate axis.
      for (let j = 0; j < dim; j++) v[oa + j] = j === (a + attempt) % dim ? 1 : 0;
    }
  }
}

/** {@link projectRows} as one wasm matrix product (centred rows × directionsᵀ). */
function wasmProject(
  x: Float32Array,
  dim: number,
  idx: ArrayLike<number>,
  mean: Float64Array,
  vectors: Float64Array,
  k: number,
): Float64Array {
  const n = idx.length;
  const rows = centredRows(x, dim, idx, mean);
  const basis = new Float32Array(dim * k); // [dim, k]: column q is direction q
  for (let q = 0; q < k; q++) for (let j = 0; j < dim; j++) basis[j * k + q] = vectors[q * dim + j];
  const product = tf.tidy(() =>
    tf.matMul(tf.tensor2d(rows, [n, dim]), tf.tensor2d(basis, [dim, k])),
  );
  const out = Float64Array.from(product.dataSync() as Float32Array);
  product.dispose();
  return out;
}

/**
 * Projects rows `idx` of `x` onto `k` directions after subtracting `mean`: returns `[n, k]`
 * Float64Array, row r = ((x[idx[r]] − mean) · vectors[q]) for q < k.
 */
export function projectRows(
  x: Float32Array,
  dim: number,
  idx: ArrayLike<number>,
  mean: Float64Array,
  vectors: Float64Array,
  k: number,
): Float64Array {
  const n = idx.length;
  if (wasmEngineActive() && n * dim * k >= WASM_COVARIANCE_MIN_WORK) {
    return wasmProject(x, dim, idx, mean, vectors, k);
  }
  const out = new Float64Array(n * k);
  const c = new Float64Array(dim);
  for (let r = 0; r < n; r++) {
    const off = idx[r] * dim;
    for (let j = 0; j < dim; j++) c[j] = x[off + j] - mean[j];
    let q = 0;
    // Four directions per pass over the centred row.
    for (; q + 4 <= k; q += 4) {
      const o0 = q * dim;
      const o1 = o0 + dim;
      const o2 = o1 + dim;
      const o3 = o2 + dim;
      let s0 = 0;
      let s1 = 0;
      let s2 = 0;
      let s3 = 0;
      for (let j = 0; j < dim; j++) {
        const cj = c[j];
        s0 += cj * vectors[o0 + j];
        s1 += cj * vectors[o1 + j];
        s2 += cj * vectors[o2 + j];
        s3 += cj * vectors[o3 + j];
      }
      const b = r * k + q;
      out[b] = s0;
      out[b + 1] = s1;
      out[b + 2] = s2;
      out[b + 3] = s3;
    }
    for (; q < k; q++) {
      let s = 0;
      const o = q * dim;
      for (let j = 0; j < dim; j++) s += c[j] * vectors[o + j];
      out[r * k + q] = s;
    }
  }
  return out;
}

/**
 * Rearranges `a` in place so that `a[k]` holds the value it would hold if `a` were sorted, with
 * nothing larger before it and nothing smaller after it (Hoare's quickselect, median-of-three
 * pivots: expected O(n)). NaN-free input assumed.
 */
export function selectKth(a: Float64Array, k: number): number {
  let lo = 0;
  let hi = a.length - 1;
  while (hi > lo) {
    const mid = (lo + hi) >> 1;
    // Median of three as pivot, moved to a[mid].
    if (a[mid] < a[lo]) swap(a, mid, lo);
    if (a[hi] < a[lo]) swap(a, hi, lo);
    if (a[hi] < a[mid]) swap(a, hi, mid);
    const pivot = a[mid];
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i] < pivot) i++;
      while (a[j] > pivot) j--;
      if (i <= j) {
        swap(a, i, j);
        i++;
        j--;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else break;
  }
  return a[k];
}

function swap(a: Float64Array, i: number, j: number): void {
  const t = a[i];
  a[i] = a[j];
  a[j] = t;
}

/** Median of `values` (copied, not modified). NaN for an empty input. */
export function median(values: ArrayLike<number>): number {
  const n = values.length;
  if (n === 0) return Number.NaN;
  const a = Float64Array.from(values);
  const upper = selectKth(a, n >> 1);
  if (n % 2 === 1) return upper;
  // After selection everything in a[0 .. n/2 − 1] is ≤ the upper middle: the lower middle is
  // their maximum.
  let lower = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < n >> 1; i++) if (a[i] > lower) lower = a[i];
  return (lower + upper) / 2;
}

/** Median absolute deviation about the median (unscaled). */
export function mad(values: ArrayLike<number>, med = median(values)): number {
  const dev = new Float64Array(values.length);
  for (let i = 0; i < values.length; i++) dev[i] = Math.abs(values[i] - med);
  return median(dev);
}

/** The q-quantile (0..1) of `values` by linear interpolation. */
export function quantile(values: ArrayLike<number>, q: number): number {
  const n = values.length;
  if (n === 0) return Number.NaN;
  const a = Float64Array.from(values).sort();
  const pos = Math.min(Math.max(q, 0), 1) * (n - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, n - 1);
  return a[lo] + (a[hi] - a[lo]) * (pos - lo);
}
