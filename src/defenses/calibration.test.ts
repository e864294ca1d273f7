import { describe, expect, it } from 'vitest';
import {
  modifiedZ,
  robustNull,
  strongCutoff,
  trustedContradicts,
  withShareStrength,
} from './calibration.js';
import { STRONG_EVIDENCE } from './detector.js';

describe('calibration', () => {
  it('scores an outlier among the classes by the modified z-score (Iglewicz & Hoaglin)', () => {
    // Median 3, MAD 0.1: 0.6745 · (5 − 3) / 0.1 = 13.49.
    const values = [2.9, 3, 3.1, 3, 2.9, 3.1, 5];
    const nul = robustNull(values);
    const z = values.map((v) => modifiedZ(v, nul));
    expect(z[6]).toBeCloseTo(13.49, 2);
    expect(Math.max(...z.slice(0, 6))).toBeLessThan(1);
  });

  it('keeps the spread at least the given floor, and falls back on the mean deviation', () => {
    const tight = robustNull([3, 3, 3, 3.01], 0.3);
    expect(tight.spread).toBe(0.3);
    expect(modifiedZ(3.5, tight)).toBeLessThan(STRONG_EVIDENCE);
    const ties = robustNull([1, 1, 1, 1, 5]);
    expect(ties.spread).toBeGreaterThan(0);
    expect(modifiedZ(5, ties)).toBeGreaterThan(STRONG_EVIDENCE);
  });

  it('gives the value a statistic must reach to be strong', () => {
    const nul = robustNull([2, 3, 4]);
    expect(modifiedZ(strongCutoff(nul), nul)).toBeCloseTo(STRONG_EVIDENCE, 6);
    expect(modifiedZ(1, { centre: 0, spread: 0, size: 0 })).toBe(0);
  });

  it('lets a trusted clean subset contradict a finding that flags clean records as readily', () => {
    expect(trustedContradicts(2, 10, 20, 100)).toBe(true);
    expect(trustedContradicts(0, 10, 20, 100)).toBe(false);
    expect(trustedContradicts(1, 20, 30, 100)).toBe(false);
  });

  it('grades label-noise findings by their flagged share among the classes', () => {
    const graded = withShareStrength([
      { count: 500, flagged: 5 },
      { count: 500, flagged: 4 },
      { count: 500, flagged: 6 },
      { count: 500, flagged: 150 },
      { count: 0, flagged: 0 },
    ]);
    expect(graded[3]!.strength).toBeGreaterThanOrEqual(STRONG_EVIDENCE);
    expect(graded.slice(0, 3).every((f) => f.strength < STRONG_EVIDENCE)).toBe(true);
    expect(graded[4]!.strength).toBe(0);
  });
});
