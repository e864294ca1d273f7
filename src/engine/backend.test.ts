import { describe, expect, it } from 'vitest';
import { rowCovariance, rowMean } from '../numeric/covariance.js';
import { Rng } from '../util/rng.js';
import { initEngine, wasmEngineActive } from './backend.js';

describe('covariance on the wasm engine', () => {
  it('matches a float64 reference within 1e-5 of the largest entry', async () => {
    await initEngine({ backend: 'wasm' });
    expect(wasmEngineActive()).toBe(true);
    const rng = new Rng(6);
    const n = 320;
    const d = 128; // n·d² above the wasm threshold
    const x = Float32Array.from({ length: (n + 5) * d }, () => rng.normal() * 2 + 1);
    const idx = Int32Array.from({ length: n }, (_, i) => i + 5); // not the first rows
    const mean = rowMean(x, d, idx);
    const cov = rowCovariance(x, d, idx, mean);
    let worst = 0;
    let largest = 0;
    for (let a = 0; a < d; a += 3) {
      for (let b = 0; b < d; b += 5) {
        let s = 0;
        for (const r of idx) s += (x[r * d + a]! - mean[a]!) * (x[r * d + b]! - mean[b]!);
        s /= n;
        worst = Math.max(worst, Math.abs(cov[a * d + b]! - s));
        largest = Math.max(largest, Math.abs(s));
      }
    }
    expect(worst / largest).toBeLessThan(1e-5);
    for (let a = 0; a < d; a++) expect(cov[a * d + 7]).toBe(cov[7 * d + a]);
  });
});
