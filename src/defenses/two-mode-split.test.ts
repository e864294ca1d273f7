import { describe, expect, it } from 'vitest';
import { Rng } from '../util/rng.js';
import { splitAtTail, twoModeSplit } from './two-mode-split.js';

describe('two-mode split', () => {
  it('cuts between two modes', () => {
    const rng = new Rng(7);
    const low = Array.from({ length: 150 }, () => rng.normal(0, 0.3));
    const high = Array.from({ length: 50 }, () => rng.normal(4, 1));
    const sample = [...high, ...low];
    const split = twoModeSplit(sample, 2, true)!;
    expect(split.cut).toBe(150);
    expect([...split.order.subarray(split.cut)].sort((a, b) => a - b)).toEqual(
      Array.from({ length: 50 }, (_, i) => i),
    );
    expect(splitAtTail(split, sample.length, 2)).toBe(false);
  });

  it('tells a split at the smallest side allowed: a heavy tail, not a mode', () => {
    const rng = new Rng(8);
    const tail = [...Array.from({ length: 200 }, () => rng.normal(0, 1)), 40, 41];
    const split = twoModeSplit(tail, 2, true)!;
    expect(split.cut).toBe(200);
    expect(splitAtTail(split, tail.length, 2)).toBe(true);
    expect(splitAtTail(twoModeSplit(tail, 5, true)!, tail.length, 5)).toBe(true);
  });

  it('splits by the within-side sum of squares with a shared variance, and not a sample too small', () => {
    expect(twoModeSplit([0, 0.1, 0.2, 5, 5.1, 5.2], 2, false)!.cut).toBe(3);
    expect(twoModeSplit([1, 2, 3], 2, true)).toBeUndefined();
  });
});
