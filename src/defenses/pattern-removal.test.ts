import { describe, expect, it } from 'vitest';
import { plantedTriggerCase } from '../testing/planted-trigger.js';
import { Rng } from '../util/rng.js';
import {
  coreFailures,
  fallModes,
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
    const { drop, leaves, unassigned } = await patternRemoval(
      model,
      x,
      idx.length,
      before,
      pattern,
      0,
      0,
      1,
    );
    idx.forEach((i, r) => {
      expect(leaves[r]).toBe(poisoned.has(i) ? 1 : 0);
      expect(unassigned[r]).toBe(0);
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
    const removal = (drop: number[], leaves: number[], unassigned?: number[]): PatternRemoval => ({
      drop: Float64Array.from(drop),
      leaves: Uint8Array.from(leaves),
      unassigned: Uint8Array.from(unassigned ?? drop.map(() => 0)),
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

    it('takes a carrier the model does not assign to the class when the pattern takes more of it', () => {
      // Records: 0 a carrier the model fitted (it leaves); 1 a carrier the model did not fit (it
      // reads as its source class with the trigger, so it cannot leave), from which the pattern
      // takes much of the class; 2 a clean record the model misreads, from which the control's
      // pattern takes as much; 3 a misread record whose fall lies in the lower mode.
      const trigger = removal([5, 4, 1, 0.5], [1, 0, 0, 0], [0, 1, 1, 1]);
      const control = removal([0.1, 0.2, 1.5, 0], [0, 0, 0, 0], [0, 1, 1, 1]);
      expect(Array.from(removalCarriers(trigger, control, [1, 1, 1, 0]))).toEqual([0, 1]);
    });

    it('splits the failing records into carriers and fragile records by the effect of the pattern', () => {
      // 60 carriers from which the pattern takes 2–5 nats more of the class than the control
      // does, and 40 fragile records pushed over a nearby boundary by both, the pattern by 0–0.6
      // more: two modes of the effect; the failing records are positions 0–99 of 120.
      const rng = new Rng(5);
      const drop: number[] = [];
      const ctl: number[] = [];
      for (let r = 0; r < 120; r++) {
        const base = rng.uniform(0.2, 0.8);
        ctl.push(base);
        drop.push(r < 60 ? base + rng.uniform(2, 5) : r < 100 ? base + rng.uniform(0, 0.6) : 0);
      }
      const failing = Int32Array.from({ length: 100 }, (_, r) => r);
      const leaves = drop.map(() => 1);
      const modes = fallModes(removal(drop, leaves), removal(ctl, leaves), failing);
      expect(Array.from(modes.upper)).toEqual(Array.from({ length: 60 }, (_, r) => r));
      expect(Array.from(modes.lower)).toEqual(Array.from({ length: 40 }, (_, r) => 60 + r));
      // Two carriers far beyond the fragile records: a heavy tail, all of them upper.
      const tail = Int32Array.from([0, 1, ...Array.from({ length: 40 }, (_, r) => 60 + r)]);
      const one = fallModes(removal(drop, leaves), removal(ctl, leaves), tail);
      expect(Array.from(one.upper)).toEqual(Array.from(tail));
      expect(one.lower.length).toBe(0);
      // Too few to split.
      expect(
        Array.from(
          fallModes(removal(drop, leaves), removal(ctl, leaves), failing.slice(0, 3)).upper,
        ),
      ).toEqual([0, 1, 2]);
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
