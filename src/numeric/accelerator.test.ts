import { afterEach, describe, expect, it } from 'vitest';
import { ACCELERATOR_MIN_WORK, acceleratorFor, setMatMulAccelerator } from './accelerator.js';
import { rowCovariance, rowMean } from './covariance.js';

/** A plain-loop product that counts its calls. */
function countingAccelerator(active: boolean) {
  const calls: number[][] = [];
  return {
    calls,
    active: () => active,
    matMul(a: Float32Array, b: Float32Array, m: number, k: number, n: number): Float32Array {
      calls.push([m, k, n]);
      const out = new Float32Array(m * n);
      for (let i = 0; i < m; i++) {
        for (let j = 0; j < n; j++) {
          let s = 0;
          for (let t = 0; t < k; t++) s += (a[i * k + t] ?? 0) * (b[t * n + j] ?? 0);
          out[i * n + j] = s;
        }
      }
      return out;
    },
  };
}

describe('matrix-product accelerator', () => {
  afterEach(() => setMatMulAccelerator(undefined));

  it('is lent only when registered, active and the work is large enough', () => {
    expect(acceleratorFor(ACCELERATOR_MIN_WORK)).toBeUndefined();
    const inactive = countingAccelerator(false);
    setMatMulAccelerator(inactive);
    expect(acceleratorFor(ACCELERATOR_MIN_WORK)).toBeUndefined();
    const active = countingAccelerator(true);
    setMatMulAccelerator(active);
    expect(acceleratorFor(ACCELERATOR_MIN_WORK - 1)).toBeUndefined();
    expect(acceleratorFor(ACCELERATOR_MIN_WORK)).toBe(active);
  });

  it('rowCovariance hands a large product to it and agrees with the plain loop', () => {
    const n = 250;
    const d = 128; // n·d² ≥ ACCELERATOR_MIN_WORK
    const x = Float32Array.from({ length: n * d }, (_, i) => Math.sin(i * 0.37) + (i % d) * 0.01);
    const idx = Int32Array.from({ length: n }, (_, i) => i);
    const mean = rowMean(x, d, idx);
    const plain = rowCovariance(x, d, idx, mean);
    const acc = countingAccelerator(true);
    setMatMulAccelerator(acc);
    const fast = rowCovariance(x, d, idx, mean);
    expect(acc.calls).toEqual([[d, n, d]]);
    let worst = 0;
    for (let i = 0; i < plain.length; i++) {
      worst = Math.max(worst, Math.abs((fast[i] ?? 0) - (plain[i] ?? 0)));
    }
    expect(worst).toBeLessThan(1e-5);
  });
});
