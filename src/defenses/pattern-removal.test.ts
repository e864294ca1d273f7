import { describe, expect, it } from 'vitest';
import { plantedTriggerCase } from '../testing/planted-trigger.js';
import {
  coreFailures,
  type PatternRemoval,
  patternRemoval,
  removalCarriers,
} from './pattern-removal.js';

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

  describe('removal carriers', () => {
    const removal = (drop: number[], leaves: number[]): PatternRemoval => ({
      drop: Float64Array.from(drop),
      leaves: Uint8Array.from(leaves),
    });

    it('keeps a carrier the control also sends out when the pattern takes more of the class', () => {
      // Records: 0 a carrier the control leaves alone; 1 a carrier near a boundary once the
      // trigger is gone, which the control's removal sends out too, by less; 2 a fragile clean
      // record that both send out, the control by more; 3 leaves, but its fall is in the lower
      // mode; 4 falls in the upper mode but keeps the class.
      const trigger = removal([5, 4, 1.2, 0.8, 3], [1, 1, 1, 1, 0]);
      const control = removal([0.1, 2.5, 1.9, 0, 0.2], [0, 1, 1, 0, 0]);
      const upper = [1, 1, 1, 0, 1];
      expect(Array.from(removalCarriers(trigger, control, upper))).toEqual([0, 1]);
    });

    it('takes no record that loses the class no faster than under the control', () => {
      const trigger = removal([2, 2, 2], [1, 1, 1]);
      const control = removal([2, 3, 0.5], [1, 1, 0]);
      expect(Array.from(removalCarriers(trigger, control, [1, 1, 1]))).toEqual([2]);
    });

    it('takes as the core the records that fall as deeply as the candidate and beat the control', () => {
      // The candidate is records 0–2 (falls 5, 4, 0.5: median 4). Record 3 is a carrier beyond it
      // (fall 6); 4 leaves but falls less than the candidate's median (a clean record a global
      // pattern pushes over a boundary); 5 falls deeply but keeps the class; 6 falls deeply and
      // leaves, but the control's pattern takes as much of the class from it.
      const trigger = removal([5, 4, 0.5, 6, 1.5, 7, 4.5], [1, 1, 1, 1, 1, 0, 1]);
      const control = removal([0, 0, 0, 0, 0, 0, 4.5], [0, 0, 0, 0, 0, 0, 1]);
      expect(Array.from(coreFailures(trigger, control, [0, 1, 2]))).toEqual([0, 1, 3]);
      // The median, not the candidate's weakest record, sets the depth.
      expect(Array.from(coreFailures(trigger, control, [2, 4]))).toEqual([0, 1, 3, 4]);
      expect(Array.from(coreFailures(trigger, control, []))).toEqual([]);
    });

    it('refuses sizes that disagree', () => {
      const three = removal([1, 1, 1], [1, 1, 1]);
      expect(() => coreFailures(three, removal([1, 1], [1, 1]), [0])).toThrow(
        expect.objectContaining({ code: 'SHAPE_MISMATCH' }),
      );
      expect(() => removalCarriers(three, removal([1, 1], [1, 1]), [1, 1, 1])).toThrow(
        expect.objectContaining({ code: 'SHAPE_MISMATCH' }),
      );
      expect(() => removalCarriers(three, three, [1, 1])).toThrow(
        expect.objectContaining({ code: 'SHAPE_MISMATCH' }),
      );
    });
  });
});
