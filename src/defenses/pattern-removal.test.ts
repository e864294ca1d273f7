import { describe, expect, it } from 'vitest';
import { plantedTriggerCase } from '../testing/planted-trigger.js';
import { patternRemoval } from './pattern-removal.js';

describe('per-record pattern removal', () => {
  it('sends the records that carry the trigger out of the class and leaves the clean ones', async () => {
    const { ds, model, poisoned } = plantedTriggerCase();
    const size = 16;
    const idx = [...ds.y.keys()].filter((i) => ds.y[i] === 0);
    const x = new Float32Array(idx.length * size);
    idx.forEach((i, r) => {
      x.set(ds.x.subarray(i * size, (i + 1) * size), r * size);
    });
    const before = await model.predictProba(x, idx.length);
    // The trigger (value 15 set to 1), as a pattern estimate would give it.
    const pattern = new Float64Array(size);
    pattern[15] = 1;
    const { drop, leaves } = await patternRemoval(model, x, idx.length, before, pattern, 0, 0, 1);
    idx.forEach((i, r) => {
      expect(leaves[r]).toBe(poisoned.has(i) ? 1 : 0);
      if (poisoned.has(i)) expect(drop[r]).toBeCloseTo(Math.log(0.9 / 0.02), 5);
      else expect(drop[r]).toBe(0);
    });
    // A pattern the model ignores (value 14) moves no record.
    const ignored = new Float64Array(size);
    ignored[14] = 0.4;
    const none = await patternRemoval(model, x, idx.length, before, ignored, 0, 0, 1);
    expect(none.leaves.reduce((a, v) => a + v, 0)).toBe(0);
  });

  it('refuses sizes that disagree', async () => {
    const { model } = plantedTriggerCase();
    const x = new Float32Array(32);
    const before = await model.predictProba(x, 2);
    await expect(
      patternRemoval(model, x, 3, before, new Float64Array(16), 0, 0, 1),
    ).rejects.toMatchObject({ code: 'SHAPE_MISMATCH' });
  });
});
