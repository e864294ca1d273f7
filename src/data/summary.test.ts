import { describe, expect, it } from 'vitest';
import { summarizeAttackRecord, summarizeDataset } from './summary.js';

describe('summaries', () => {
  it('summarizeDataset counts classes and sources', () => {
    const s = summarizeDataset({
      x: Float32Array.from([0, 1, -2, 3, 4, 5]),
      shape: [3, 2],
      y: Int32Array.from([1, 1, 0]),
      classes: ['a', 'b', 'c'],
      ids: ['1', '2', '3'],
      source: ['u', 'v', 'v'],
    });
    expect(s.records).toBe(3);
    expect(s.recordShape).toEqual([2]);
    expect(s.classes).toEqual([
      { name: 'a', count: 1 },
      { name: 'b', count: 2 },
      { name: 'c', count: 0 },
    ]);
    expect(s.sources).toEqual({
      distinct: 2,
      top: [
        { source: 'v', count: 2 },
        { source: 'u', count: 1 },
      ],
    });
    expect(s.featureRange).toEqual({ min: -2, max: 5 });
    expect(s.text).toBe(false);
  });

  it('summarizeAttackRecord shortens arrays and big objects', () => {
    const big = Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`k${i}`, i]));
    expect(
      summarizeAttackRecord({
        attack: 'backdoor',
        seed: 1,
        indices: [1, 2, 3],
        params: { rate: 0.1 },
        trigger: big,
      }),
    ).toEqual({
      attack: 'backdoor',
      seed: 1,
      indices: '[3 items]',
      params: { rate: 0.1 },
      trigger: `{${Object.keys(big).join(', ')}}`,
    });
    expect(summarizeAttackRecord(undefined)).toBeUndefined();
    expect(summarizeAttackRecord('x')).toEqual({ value: 'x' });
  });
});
