import { describe, expect, it } from 'vitest';
import { isAntidoteError } from '../errors.js';
import { anomalyAmongClasses, modifiedZScores } from './anomaly-index.js';

describe('modifiedZScores (Iglewicz & Hoaglin)', () => {
  it('is signed (value − median) / (1.4826·MAD)', () => {
    const r = modifiedZScores([1, 2, 3, 4, 100]);
    expect(r.median).toBe(3);
    expect(r.mad).toBe(1);
    expect(r.scale).toBeCloseTo(1.4826, 10);
    expect(r.z[4]).toBeCloseTo(97 / 1.4826, 8);
    expect(r.z[0]).toBeCloseTo(-2 / 1.4826, 8);
  });

  it('falls back to 1.2533 × the mean absolute deviation when MAD is 0', () => {
    const r = modifiedZScores([5, 5, 5, 5, 9]);
    expect(r.mad).toBe(0);
    expect(r.scale).toBeCloseTo(1.2533 * (4 / 5), 10);
    expect(r.z[4]).toBeCloseTo(4 / (1.2533 * 0.8), 8);
  });

  it('gives 0 everywhere when every value is equal, and honours a floor on the scale', () => {
    expect(Array.from(modifiedZScores([2, 2, 2]).z)).toEqual([0, 0, 0]);
    const floored = modifiedZScores([1, 1.01, 0.99, 1.02, 1.1], 0.05);
    expect(floored.scale).toBe(0.05);
    expect(floored.z[4]).toBeCloseTo(0.09 / 0.05, 8);
  });

  it('rejects empty, non-finite input and a negative floor', () => {
    for (const [values, floor] of [
      [[], 0],
      [[1, Number.NaN], 0],
      [[1, 2], -1],
    ] as const) {
      let err: unknown;
      try {
        modifiedZScores(values, floor);
      } catch (e) {
        err = e;
      }
      expect(isAntidoteError(err, 'INVALID_ARGUMENT')).toBe(true);
    }
  });

  it('judges among classes only from 3 classes on', () => {
    expect(anomalyAmongClasses([1, 9])).toBeUndefined();
    expect(anomalyAmongClasses([1, 2, 9], 0.5)!.z[2]).toBeCloseTo(7 / 1.4826, 8);
  });
});
