import { describe, expect, it } from 'vitest';
import { Rng } from '../util/rng.js';
import { FUZZ_TARGETS, fuzzTarget, mutateBytes } from './fuzz.js';

/**
 * Seeded-mutator fuzzing of every loader (issue 19, item 2): each input decodes or fails with an
 * `AntidoteError`, in under 5 s. A few hundred inputs per loader in the fast tier
 * (`vitest --mode fast`), 1,000 in the full tier; `npm run bench -- --only hostile` runs more and
 * measures peak memory.
 */
const MODE = (import.meta as ImportMeta & { env?: { MODE?: string } }).env?.MODE;
const RUNS = MODE === 'fast' ? 300 : 1000;

describe('fuzzing the loaders with mutated inputs', () => {
  it('mutates deterministically for a seed', () => {
    const seed = Uint8Array.from({ length: 40 }, (_, i) => i);
    const a = Array.from({ length: 20 }, (_, i) => mutateBytes(new Rng(i), seed));
    const b = Array.from({ length: 20 }, (_, i) => mutateBytes(new Rng(i), seed));
    expect(a).toEqual(b);
    expect(a.some((m) => m.length !== seed.length)).toBe(true);
    expect(a.every((m) => m.length <= seed.length * 2 + 64)).toBe(true);
  });

  for (const target of FUZZ_TARGETS) {
    it(`${target.name}: typed error or success for ${RUNS} inputs, each under 5 s`, async () => {
      const t = await fuzzTarget(target, {
        runs: RUNS,
        seed: 19,
        maxMs: 5000,
        peakRss: () => process.resourceUsage().maxRSS * 1024,
      });
      expect(t.crashes).toEqual([]);
      expect(t).toMatchObject({ tried: RUNS, crash: 0, overTime: 0, overMemory: 0 });
      expect(t.typedError + t.accepted).toBe(RUNS);
      // Both outcomes occur: the seeds decode, most mutations are refused.
      expect(t.accepted).toBeGreaterThan(0);
      expect(t.typedError).toBeGreaterThan(0);
    }, 120_000);
  }
});
