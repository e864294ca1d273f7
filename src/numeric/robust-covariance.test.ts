import { describe, expect, it } from 'vitest';
import { Rng } from '../util/rng.js';
import { robustMeanCov } from './robust-covariance.js';

describe('MCD-style robust covariance', () => {
  it('robust covariance ignores a gross minority', () => {
    const rng = new Rng(3);
    const n = 400;
    const d = 3;
    const z = new Float64Array(n * d);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < d; j++) z[i * d + j] = rng.normal() + (i < 60 ? 30 : 0);
    }
    const est = robustMeanCov(z, n, d);
    for (let j = 0; j < d; j++) expect(Math.abs(est.mean[j]!)).toBeLessThan(0.3);
    for (let j = 0; j < d; j++) expect(est.cov[j * d + j]).toBeLessThan(1.5);
    expect(est.inlier.slice(0, 60).reduce((a, b) => a + b, 0)).toBe(0);
  });
});
