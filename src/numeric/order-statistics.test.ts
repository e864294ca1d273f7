import { describe, expect, it } from 'vitest';
import { Rng } from '../util/rng.js';
import { median, selectKth } from './order-statistics.js';

describe('selection', () => {
  it('selectKth and median agree with sorting, ties and odd/even lengths included', () => {
    const rng = new Rng(5);
    for (let t = 0; t < 300; t++) {
      const n = 1 + rng.int(40);
      const a = Float64Array.from({ length: n }, () => rng.int(6) - 2.5);
      const sorted = Float64Array.from(a).sort();
      const k = rng.int(n);
      const copy = Float64Array.from(a);
      expect(selectKth(copy, k)).toBe(sorted[k]);
      for (let i = 0; i < k; i++) expect(copy[i]).toBeLessThanOrEqual(sorted[k]!);
      for (let i = k + 1; i < n; i++) expect(copy[i]).toBeGreaterThanOrEqual(sorted[k]!);
      const ref = n % 2 === 1 ? sorted[(n - 1) >> 1] : (sorted[n / 2 - 1]! + sorted[n / 2]!) / 2;
      expect(median(a)).toBe(ref);
    }
    expect(median([])).toBeNaN();
  });
});
