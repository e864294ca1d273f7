import { describe, expect, it } from 'vitest';
import { classPhasedDetector } from '../defenses/class-phases.js';
import { WARM_UP_METHODS, warmUpClassPhases } from './warm-up.js';

describe("a worker's warm-up", () => {
  it('warms class-phased detectors that do not read records (no model at start)', () => {
    expect(WARM_UP_METHODS.length).toBeGreaterThan(0);
    for (const m of WARM_UP_METHODS) {
      const d = classPhasedDetector(m);
      expect(d, m).toBeDefined();
      expect(d!.readsRecords ?? false, m).toBe(false);
    }
  });

  it('runs their per-class phases on synthetic data', async () => {
    await expect(warmUpClassPhases({ records: 200, dim: 16, seed: 3 })).resolves.toBeUndefined();
  });
});
