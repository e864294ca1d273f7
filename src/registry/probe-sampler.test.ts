import { describe, expect, it } from 'vitest';
import { Rng } from '../util/rng.js';
import { ProbeSampler } from './probe-sampler.js';

describe('ProbeSampler', () => {
  it('probes one record per block at a random position, never leaving a gap of 2B records', () => {
    const s = new ProbeSampler(new Rng(3));
    const picks = Array.from({ length: 4000 }, () => s.next(0.25));
    expect(picks.filter(Boolean).length).toBe(1000);
    let gap = 0;
    let maxGap = 0;
    const positions = new Set<number>();
    picks.forEach((p, i) => {
      if (p) {
        positions.add(i % 4);
        gap = 0;
      } else maxGap = Math.max(maxGap, ++gap);
    });
    expect(maxGap).toBeLessThanOrEqual(6);
    expect(positions.size).toBe(4); // every position within a block gets chosen
    for (let b = 0; b < 1000; b++)
      expect(picks.slice(b * 4, b * 4 + 4).filter(Boolean)).toHaveLength(1);
  });

  it('handles every record, none, rate changes and is seeded', () => {
    const s = new ProbeSampler(new Rng(1));
    expect(Array.from({ length: 5 }, () => s.next(1))).toEqual([true, true, true, true, true]);
    expect(Array.from({ length: 5 }, () => s.next(0))).toEqual([false, false, false, false, false]);
    const run = (seed: number) => {
      const t = new ProbeSampler(new Rng(seed));
      return Array.from({ length: 40 }, (_, i) => t.next(i < 20 ? 0.5 : 0.1));
    };
    expect(run(7)).toEqual(run(7));
    expect(run(7)).not.toEqual(run(8));
    const r = run(7);
    expect(r.slice(0, 20).filter(Boolean)).toHaveLength(10);
    expect(r.slice(20).filter(Boolean)).toHaveLength(2);
  });
});
