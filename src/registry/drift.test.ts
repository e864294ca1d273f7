import { describe, expect, it } from 'vitest';
import { Rng } from '../util/rng.js';
import {
  featureGroupMeans,
  ksCritical,
  ksStatistic,
  psi,
  psiFromCounts,
  quantileEdges,
} from './drift.js';

const normal = (n: number, mean: number, seed: number) => {
  const r = new Rng(seed);
  return Float64Array.from({ length: n }, () => r.normal(mean, 1));
};

describe('drift statistics', () => {
  it('PSI is ~0 for the same distribution and large for a shifted one', () => {
    const ref = normal(2000, 0, 1);
    expect(psi(ref, normal(2000, 0, 2))).toBeLessThan(0.05);
    expect(psi(ref, normal(2000, 1, 3))).toBeGreaterThan(0.25);
    // Hand-computed: (0.5-0.25)ln(2) + (0.5-0.75)ln(2/3).
    expect(psiFromCounts([1, 3], [2, 2])).toBeCloseTo(
      0.25 * Math.log(2) - 0.25 * Math.log(2 / 3),
      10,
    );
    expect(quantileEdges([1, 1, 1, 2], 4)).toEqual([1, 2]);
    expect(() => psi([], [1])).toThrow(/reference/);
  });

  it('KS statistic and critical value', () => {
    expect(ksStatistic([1, 2, 3], [1, 2, 3])).toBe(0);
    expect(ksStatistic([1, 2, 3], [4, 5, 6])).toBe(1);
    expect(ksStatistic([1, 2, 3, 4], [3, 4, 5, 6])).toBeCloseTo(0.5);
    // c(0.05) = 1.358 for n = m = 100.
    expect(ksCritical(100, 100, 0.05)).toBeCloseTo(1.358 * Math.sqrt(2 / 100), 3);
    const ref = normal(500, 0, 4);
    expect(ksStatistic(ref, normal(500, 0, 5))).toBeLessThan(ksCritical(500, 500, 0.01));
    expect(ksStatistic(ref, normal(500, 0.5, 6))).toBeGreaterThan(ksCritical(500, 500, 0.01));
  });

  it('averages contiguous feature groups', () => {
    const g = featureGroupMeans(Float32Array.from([1, 3, 5, 7, 0, 0, 2, 2]), 2, 4, 2);
    expect(Array.from(g[0] ?? [])).toEqual([2, 0]);
    expect(Array.from(g[1] ?? [])).toEqual([6, 2]);
  });
});
