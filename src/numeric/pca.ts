import { acceleratorFor, type MatMulAccelerator } from './accelerator.js';
import { centredRows, rowCovariance, rowMean } from './covariance.js';
import { orthonormalizeRows } from './orthonormalize.js';
import type { RandomSource } from './random.js';
import {
  type EigenPairs,
  eigenSymmetric,
  symmetricEigen,
  topEigenPairs,
} from './symmetric-eigen.js';

/**
 * Principal components (dense covariance + eigen-decomposition, or seeded block subspace
 * iteration for wide rows) and projections onto them. See covariance.ts for why the loops are
 * hand-written over typed arrays.
 */

/** Above this dimension {@link principalComponents} avoids the dense d×d covariance. */
export const DENSE_EIGEN_MAX_DIM = 256;

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
  rng: RandomSource,
): PrincipalComponents {
  const kk = Math.max(1, Math.min(k, dim));
  if (dim <= DENSE_EIGEN_MAX_DIM) {
    const known = denseSpectrum(x, dim, idx);
    return { mean: Float64Array.from(known.mean), dim, ...topEigenPairs(known, dim, kk) };
  }
  const mean = rowMean(x, dim, idx);
  return { mean, dim, ...subspaceIteration(x, dim, idx, mean, kk, rng) };
}

/** The mean and full eigen-decomposition (ascending) of the covariance of some rows. */
interface DenseSpectrum {
  readonly mean: Float64Array;
  readonly values: Float64Array;
  readonly vectors: Float64Array;
}

/** A remembered {@link DenseSpectrum}: the rows it was computed from, and their fingerprint. */
interface KnownSpectrum extends DenseSpectrum {
  readonly idx: Int32Array;
  readonly fingerprint: number;
}

/** Spectra remembered per row matrix (at most this many per matrix, the latest kept). */
const KNOWN_PER_MATRIX = 32;

/**
 * Dense spectra already computed, per row matrix (held weakly). The detectors of one scan ask
 * for the principal components of the same class rows (spectral signatures' top direction, the
 * robust whitening of activation clustering and SPECTRE): the covariance and its
 * decomposition, about a tenth of a scan's detector time on MNIST, are computed once. An entry is
 * used only for the same rows in the same order whose values have the same fingerprint, so a
 * matrix changed in place is decomposed anew; the results are the very same numbers.
 */
const knownSpectra = new WeakMap<Float32Array, Map<number, KnownSpectrum[]>>();

/** A 32-bit fingerprint of the float bits of rows `idx` of `x` (FNV-1a style, per value). */
function rowsFingerprint(x: Float32Array, dim: number, idx: ArrayLike<number>): number {
  const bits = new Uint32Array(x.buffer, x.byteOffset, x.length);
  let h = 0x811c9dc5 ^ idx.length;
  for (let r = 0; r < idx.length; r++) {
    const off = idx[r]! * dim;
    for (let j = 0; j < dim; j++) h = Math.imul(h ^ bits[off + j]!, 0x01000193);
  }
  return h >>> 0;
}

function sameRows(a: Int32Array, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** {@link DenseSpectrum} of rows `idx` of `x`, remembered (see {@link knownSpectra}). */
function denseSpectrum(x: Float32Array, dim: number, idx: ArrayLike<number>): DenseSpectrum {
  const fingerprint = rowsFingerprint(x, dim, idx);
  const byDim = knownSpectra.get(x) ?? new Map<number, KnownSpectrum[]>();
  knownSpectra.set(x, byDim);
  // The accelerated and the plain covariance differ in the last bits: kept apart.
  const key = acceleratorFor(idx.length * dim * dim) ? -dim : dim;
  const list = byDim.get(key) ?? [];
  byDim.set(key, list);
  const hit = list.find((e) => e.fingerprint === fingerprint && sameRows(e.idx, idx));
  if (hit) return hit;
  const mean = rowMean(x, dim, idx);
  const { values, vectors } = eigenSymmetric(rowCovariance(x, dim, idx, mean), dim);
  const entry: KnownSpectrum = { mean, values, vectors, idx: Int32Array.from(idx), fingerprint };
  list.push(entry);
  if (list.length > KNOWN_PER_MATRIX) list.shift();
  return entry;
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
  rng: RandomSource,
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
      const off = idx[r]! * dim;
      for (let j = 0; j < dim; j++) c[j] = x[off + j]! - mean[j]!;
      for (let q = 0; q < m; q++) {
        let s = 0;
        const b = q * dim;
        for (let j = 0; j < dim; j++) s += c[j]! * basis[b + j]!;
        w[r * m + q] = s;
        const o = q * dim;
        for (let j = 0; j < dim; j++) out[o + j]! += s * c[j]!;
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
      for (let j = 0; j < dim; j++) t += v[a * dim + j]! * cv[b * dim + j]!;
      s[a * m + b] = t / Math.max(n, 1);
    }
  }
  for (let a = 0; a < m; a++) {
    for (let b = a + 1; b < m; b++) {
      const t = (s[a * m + b]! + s[b * m + a]!) / 2;
      s[a * m + b] = t;
      s[b * m + a] = t;
    }
  }
  const small = symmetricEigen(s, m, k);
  const vectors = new Float64Array(k * dim);
  for (let r = 0; r < k; r++) {
    for (let q = 0; q < m; q++) {
      const coef = small.vectors[r * m + q]!;
      for (let j = 0; j < dim; j++) vectors[r * dim + j]! += coef * v[q * dim + j]!;
    }
  }
  return { values: small.values, vectors };
}

/** {@link projectRows} as one accelerated matrix product (centred rows × directionsᵀ). */
function acceleratedProject(
  accelerator: MatMulAccelerator,
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
  for (let q = 0; q < k; q++)
    for (let j = 0; j < dim; j++) basis[j * k + q] = vectors[q * dim + j]!;
  return Float64Array.from(accelerator.matMul(rows, basis, n, dim, k));
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
  const accelerator = acceleratorFor(n * dim * k);
  if (accelerator) return acceleratedProject(accelerator, x, dim, idx, mean, vectors, k);
  const out = new Float64Array(n * k);
  const c = new Float64Array(dim);
  for (let r = 0; r < n; r++) {
    const off = idx[r]! * dim;
    for (let j = 0; j < dim; j++) c[j] = x[off + j]! - mean[j]!;
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
        const cj = c[j]!;
        s0 += cj * vectors[o0 + j]!;
        s1 += cj * vectors[o1 + j]!;
        s2 += cj * vectors[o2 + j]!;
        s3 += cj * vectors[o3 + j]!;
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
      for (let j = 0; j < dim; j++) s += c[j]! * vectors[o + j]!;
      out[r * k + q] = s;
    }
  }
  return out;
}
