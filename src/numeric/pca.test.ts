import { describe, expect, it } from 'vitest';
import { Rng } from '../util/rng.js';
import { rowCovariance, rowMean } from './covariance.js';
import { principalComponents, projectRows } from './pca.js';
import { symmetricEigen } from './symmetric-eigen.js';

describe('principal components', () => {
  it('PCA via subspace iteration agrees with the dense path on wide data', () => {
    const rng = new Rng(4);
    const n = 200;
    const d = 300; // > DENSE_EIGEN_MAX_DIM
    const x = new Float32Array(n * d);
    for (let i = 0; i < n; i++) {
      const t = rng.normal() * 5;
      for (let j = 0; j < d; j++) x[i * d + j] = rng.normal() * 0.1 + (j < 3 ? t : 0);
    }
    const idx = Int32Array.from({ length: n }, (_, i) => i);
    const pcs = principalComponents(x, d, idx, 1, rng);
    // Top direction ≈ (1,1,1,0,...)/√3.
    expect(
      Math.abs(pcs.vectors[0]! + pcs.vectors[1]! + pcs.vectors[2]!) / Math.sqrt(3),
    ).toBeGreaterThan(0.99);
    const p = projectRows(x, d, idx, pcs.mean, pcs.vectors, 1);
    expect(p.length).toBe(n);
  });

  it('projectRows matches the plain dot products for any number of directions', () => {
    const rng = new Rng(8);
    const d = 7;
    const x = Float32Array.from({ length: 5 * d }, () => rng.normal());
    const idx = [4, 0, 2];
    const mean = Float64Array.from({ length: d }, () => rng.normal());
    for (const k of [1, 4, 6]) {
      const v = Float64Array.from({ length: k * d }, () => rng.normal());
      const p = projectRows(x, d, idx, mean, v, k);
      for (let r = 0; r < idx.length; r++) {
        for (let q = 0; q < k; q++) {
          let s = 0;
          for (let j = 0; j < d; j++) s += (x[idx[r]! * d + j]! - mean[j]!) * v[q * d + j]!;
          expect(p[r * k + q]).toBeCloseTo(s, 10);
        }
      }
    }
  });

  it('asked again for the same rows, gives the very same numbers; rows changed in place are decomposed anew', () => {
    const rng = new Rng(11);
    const d = 12;
    const n = 90;
    const x = Float32Array.from({ length: n * d }, () => rng.normal());
    const idx = Int32Array.from({ length: 40 }, (_, i) => 2 * i + 1);
    const direct = (k: number) => {
      const mean = rowMean(x, d, idx);
      return { mean, ...symmetricEigen(rowCovariance(x, d, idx, mean), d, k) };
    };
    const first = principalComponents(x, d, idx, 5, rng);
    expect(first.values).toEqual(direct(5).values);
    expect(first.vectors).toEqual(direct(5).vectors);
    // A second caller asking for fewer pairs (spectral signatures after the whitening) gets the
    // same leading pairs, in fresh arrays that it may change without affecting later callers.
    const again = principalComponents(x, d, Array.from(idx), 1, rng);
    expect(again.values).toEqual(first.values.subarray(0, 1));
    expect(again.vectors).toEqual(first.vectors.subarray(0, d));
    again.vectors.fill(0);
    again.mean.fill(0);
    expect(principalComponents(x, d, idx, 5, rng)).toEqual(first);
    // Other rows of the same matrix: their own decomposition.
    const other = principalComponents(x, d, idx.subarray(0, 30), 5, rng);
    expect(other.values).not.toEqual(first.values);
    // The matrix changed in place: the remembered decomposition is not used.
    x[idx[3]! * d + 2] = 40;
    const changed = principalComponents(x, d, idx, 5, rng);
    expect(changed.values).toEqual(direct(5).values);
    expect(changed.values[0]).toBeGreaterThan(first.values[0]! * 2);
  });
});
