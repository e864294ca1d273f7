/**
 * Eigen-decomposition of a dense symmetric matrix on flat Float64Arrays: Householder reduction to
 * tridiagonal form, then the implicit QL algorithm with Wilkinson shifts (the EISPACK routines
 * tred2 and tql2; Wilkinson & Reinsch 1971, "Handbook for Automatic Computation II: Linear
 * Algebra"). The same algorithm as ml-matrix's symmetric path, written over one contiguous array
 * so that the detectors' 128 × 128 class covariances decompose several times faster.
 */
import { AntidoteError } from '../errors.js';

/**
 * All eigenvalues (ascending) and eigenvectors of the symmetric `n × n` matrix `a` (row-major;
 * only its values are read, never modified). Returns the eigenvectors as rows: component i of
 * the eigenvector of `values[k]` is `vectors[k * n + i]`.
 */
export function eigenSymmetric(
  a: Float64Array,
  n: number,
): { values: Float64Array; vectors: Float64Array } {
  if (a.length !== n * n) {
    throw new AntidoteError(
      'SHAPE_MISMATCH',
      `eigenSymmetric: ${a.length} values is not ${n}×${n}`,
    );
  }
  const v = Float64Array.from(a);
  const d = new Float64Array(n);
  const e = new Float64Array(n);
  if (n === 0) return { values: d, vectors: v };
  tred2(n, v, d, e);
  // QL rotates pairs of eigenvector columns: work on the transpose so they are contiguous rows.
  const w = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) w[j * n + i] = v[i * n + j]!;
  tql2(n, w, d, e);
  return { values: d, vectors: w };
}

/** Householder tridiagonalisation in place: `v` becomes the accumulated transform. */
function tred2(n: number, v: Float64Array, d: Float64Array, e: Float64Array): void {
  for (let j = 0; j < n; j++) d[j] = v[(n - 1) * n + j]!;
  for (let i = n - 1; i > 0; i--) {
    let scale = 0;
    let h = 0;
    for (let k = 0; k < i; k++) scale += Math.abs(d[k]!);
    if (scale === 0) {
      e[i] = d[i - 1]!;
      for (let j = 0; j < i; j++) {
        d[j] = v[(i - 1) * n + j]!;
        v[i * n + j] = 0;
        v[j * n + i] = 0;
      }
    } else {
      for (let k = 0; k < i; k++) {
        d[k]! /= scale;
        h += d[k]! * d[k]!;
      }
      let f = d[i - 1]!;
      let g = Math.sqrt(h);
      if (f > 0) g = -g;
      e[i] = scale * g;
      h -= f * g;
      d[i - 1] = f - g;
      for (let j = 0; j < i; j++) e[j] = 0;
      for (let j = 0; j < i; j++) {
        f = d[j]!;
        v[j * n + i] = f;
        g = e[j]! + v[j * n + j]! * f;
        for (let k = j + 1; k <= i - 1; k++) {
          g += v[k * n + j]! * d[k]!;
          e[k]! += v[k * n + j]! * f;
        }
        e[j] = g;
      }
      f = 0;
      for (let j = 0; j < i; j++) {
        e[j]! /= h;
        f += e[j]! * d[j]!;
      }
      const hh = f / (h + h);
      for (let j = 0; j < i; j++) e[j]! -= hh * d[j]!;
      for (let j = 0; j < i; j++) {
        f = d[j]!;
        g = e[j]!;
        for (let k = j; k <= i - 1; k++) v[k * n + j]! -= f * e[k]! + g * d[k]!;
        d[j] = v[(i - 1) * n + j]!;
        v[i * n + j] = 0;
      }
    }
    d[i] = h;
  }
  for (let i = 0; i < n - 1; i++) {
    v[(n - 1) * n + i] = v[i * n + i]!;
    v[i * n + i] = 1;
    const h = d[i + 1]!;
    if (h !== 0) {
      for (let k = 0; k <= i; k++) d[k] = v[k * n + i + 1]! / h;
      for (let j = 0; j <= i; j++) {
        let g = 0;
        for (let k = 0; k <= i; k++) g += v[k * n + i + 1]! * v[k * n + j]!;
        for (let k = 0; k <= i; k++) v[k * n + j]! -= g * d[k]!;
      }
    }
    for (let k = 0; k <= i; k++) v[k * n + i + 1] = 0;
  }
  for (let j = 0; j < n; j++) {
    d[j] = v[(n - 1) * n + j]!;
    v[(n - 1) * n + j] = 0;
  }
  v[(n - 1) * n + n - 1] = 1;
  e[0] = 0;
}

/**
 * Implicit QL on the tridiagonal (d, e), accumulating into `w` (the transposed transform:
 * eigenvectors as rows); sorts ascending.
 */
function tql2(n: number, w: Float64Array, d: Float64Array, e: Float64Array): void {
  for (let i = 1; i < n; i++) e[i - 1] = e[i]!;
  e[n - 1] = 0;
  let f = 0;
  let tst1 = 0;
  const eps = 2 ** -52;
  for (let l = 0; l < n; l++) {
    tst1 = Math.max(tst1, Math.abs(d[l]!) + Math.abs(e[l]!));
    let m = l;
    while (m < n) {
      if (Math.abs(e[m]!) <= eps * tst1) break;
      m++;
    }
    if (m > l) {
      let iter = 0;
      do {
        iter++;
        if (iter > 60) {
          throw new AntidoteError('INVALID_STATE', 'eigen-decomposition did not converge');
        }
        let g = d[l]!;
        let p = (d[l + 1]! - g) / (2 * e[l]!);
        let r = Math.hypot(p, 1);
        if (p < 0) r = -r;
        d[l] = e[l]! / (p + r);
        d[l + 1] = e[l]! * (p + r);
        const dl1 = d[l + 1]!;
        let h = g - d[l]!;
        for (let i = l + 2; i < n; i++) d[i]! -= h;
        f += h;
        p = d[m]!;
        let c = 1;
        let c2 = c;
        let c3 = c;
        const el1 = e[l + 1]!;
        let s = 0;
        let s2 = 0;
        for (let i = m - 1; i >= l; i--) {
          c3 = c2;
          c2 = c;
          s2 = s;
          g = c * e[i]!;
          h = c * p;
          r = Math.hypot(p, e[i]!);
          e[i + 1] = s * r;
          s = e[i]! / r;
          c = p / r;
          p = c * d[i]! - s * g;
          d[i + 1] = h + s * (c * g + s * d[i]!);
          const ri = i * n;
          const rj = ri + n;
          for (let k = 0; k < n; k++) {
            h = w[rj + k]!;
            w[rj + k] = s * w[ri + k]! + c * h;
            w[ri + k] = c * w[ri + k]! - s * h;
          }
        }
        p = (-s * s2 * c3 * el1 * e[l]!) / dl1;
        e[l] = s * p;
        d[l] = c * p;
      } while (Math.abs(e[l]!) > eps * tst1);
    }
    d[l]! += f;
    e[l] = 0;
  }
  // Selection sort, ascending (n is small; the eigenvector columns move with their values).
  for (let i = 0; i < n - 1; i++) {
    let k = i;
    let p = d[i]!;
    for (let j = i + 1; j < n; j++) {
      if (d[j]! < p) {
        k = j;
        p = d[j]!;
      }
    }
    if (k !== i) {
      d[k] = d[i]!;
      d[i] = p;
      for (let j = 0; j < n; j++) {
        const t = w[i * n + j]!;
        w[i * n + j] = w[k * n + j]!;
        w[k * n + j] = t;
      }
    }
  }
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
  return topEigenPairs(eigenSymmetric(a, d), d, k);
}

/**
 * The top `k` pairs (largest first, fresh arrays) of a full decomposition as
 * {@link eigenSymmetric} returns it (values ascending, vectors as rows).
 */
export function topEigenPairs(
  full: { readonly values: Float64Array; readonly vectors: Float64Array },
  d: number,
  k = d,
): EigenPairs {
  const kk = Math.min(k, d);
  const values = new Float64Array(kk);
  const vectors = new Float64Array(kk * d);
  for (let r = 0; r < kk; r++) {
    const col = d - 1 - r; // largest first
    values[r] = full.values[col]!;
    vectors.set(full.vectors.subarray(col * d, (col + 1) * d), r * d);
  }
  return { values, vectors };
}
