import { EigenvalueDecomposition, Matrix } from 'ml-matrix';
import { describe, expect, it } from 'vitest';
import { Rng } from '../util/rng.js';
import { eigenSymmetric } from './symmetric-eigen.js';

function randomSymmetric(n: number, rng: Rng, rank = n): Float64Array {
  // B Bᵀ with B n × rank: PSD, rank-deficient when rank < n (repeated zero eigenvalues).
  const b = Float64Array.from({ length: n * rank }, () => rng.normal());
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let k = 0; k < rank; k++) s += b[i * rank + k]! * b[j * rank + k]!;
      a[i * n + j] = s;
    }
  }
  return a;
}

describe('symmetric eigen-decomposition (tred2 + tql2)', () => {
  it.each([1, 2, 3, 10, 33, 128])(
    'n = %i: A·v = λ·v, orthonormal, ascending, as ml-matrix',
    (n) => {
      const rng = new Rng(n);
      for (const rank of [n, Math.max(1, n >> 2)]) {
        const a = randomSymmetric(n, rng, rank);
        const { values, vectors } = eigenSymmetric(a, n);
        const v = (i: number, k: number) => vectors[k * n + i]!;
        const scale = Math.max(...Array.from(values, Math.abs), 1);
        for (let k = 0; k < n; k++) {
          if (k > 0) expect(values[k]).toBeGreaterThanOrEqual(values[k - 1]!);
          for (let i = 0; i < n; i++) {
            let av = 0;
            for (let j = 0; j < n; j++) av += a[i * n + j]! * v(j, k);
            expect(Math.abs(av - values[k]! * v(i, k)) / scale).toBeLessThan(1e-10);
          }
          for (let q = k; q < Math.min(n, k + 3); q++) {
            let dot = 0;
            for (let i = 0; i < n; i++) dot += v(i, k) * v(i, q);
            expect(dot).toBeCloseTo(q === k ? 1 : 0, 10);
          }
        }
        const m = new Matrix(n, n);
        for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) m.set(i, j, a[i * n + j]!);
        const ref = [...new EigenvalueDecomposition(m, { assumeSymmetric: true }).realEigenvalues];
        ref.sort((p, q) => p - q);
        ref.forEach((r, k) => {
          expect(Math.abs(r - values[k]!) / scale).toBeLessThan(1e-10);
        });
      }
    },
  );

  it('leaves its input alone and rejects a wrong size', () => {
    const a = Float64Array.from([2, 1, 1, 3]);
    eigenSymmetric(a, 2);
    expect(Array.from(a)).toEqual([2, 1, 1, 3]);
    expect(() => eigenSymmetric(a, 3)).toThrow(/not 3×3/);
  });
});
