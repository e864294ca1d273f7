import { describe, expect, it } from 'vitest';
import { hypergeometricUpperTail, logChoose, logGamma } from './hypergeometric.js';
import { holmAdjust } from './multiple-testing.js';

describe('hypergeometric', () => {
  it('logGamma and logChoose match exact values', () => {
    expect(logGamma(1)).toBeCloseTo(0, 12);
    expect(logGamma(6)).toBeCloseTo(Math.log(120), 12);
    expect(logGamma(0.5)).toBeCloseTo(Math.log(Math.sqrt(Math.PI)), 12);
    expect(Math.exp(logChoose(10, 3))).toBeCloseTo(120, 8);
  });

  it('the upper tail matches a direct sum and its bounds', () => {
    // 20 items, 5 marked, draw 4: P[X >= 2] = 1 - P[0] - P[1].
    const c = (n: number, k: number) => Math.exp(logChoose(n, k));
    const p0 = (c(5, 0) * c(15, 4)) / c(20, 4);
    const p1 = (c(5, 1) * c(15, 3)) / c(20, 4);
    expect(hypergeometricUpperTail(20, 5, 4, 2)).toBeCloseTo(1 - p0 - p1, 12);
    expect(hypergeometricUpperTail(20, 5, 4, 0)).toBe(1);
    expect(hypergeometricUpperTail(20, 5, 4, 5)).toBe(0);
    // Every one of 30 drawn among 30 marked of 10,000: astronomically unlikely.
    expect(hypergeometricUpperTail(10_000, 30, 30, 30)).toBeLessThan(1e-80);
  });
});

describe('holmAdjust', () => {
  it('multiplies the k-th smallest by m-k+1, monotone, capped at 1', () => {
    expect(holmAdjust([0.01, 0.04, 0.03, 0.5])).toEqual([0.04, 0.09, 0.09, 0.5]);
    expect(holmAdjust([0.6, 0.9])).toEqual([1, 1]);
    expect(holmAdjust([])).toEqual([]);
  });
});
