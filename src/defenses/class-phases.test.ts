import { describe, expect, it } from 'vitest';
import { rememberValueRange, valueRange } from '../data/range.js';
import { syntheticDataset, syntheticReps } from '../testing/synthetic.js';
import { classPhasedDetector, prepareClassPhases } from './class-phases.js';
import { triggerTransferPlan } from './trigger-transfer.js';

/** A small image dataset (4×4×1 records). */
function images() {
  const s = syntheticReps({ classes: 3, perClass: 40, dim: 16, seed: 3 });
  return { ...syntheticDataset(s), shape: [s.y.length, 4, 4, 1] };
}

/** Makes `x`'s known largest value `hi` (a plan made from now on reads it; arrays are never written). */
function moveRange(x: Float32Array, hi: number): void {
  rememberValueRange(x, valueRange(x)[0], hi);
}

describe('prepareClassPhases', () => {
  const tt = classPhasedDetector('tt')!;

  it('gives tt the plan it would make, made ahead, once, for that dataset and seed', () => {
    const ds = images();
    const context = { seed: 7 };
    const fresh = tt.options({}, context, ds);
    expect(fresh).toEqual(triggerTransferPlan(ds, { seed: 7 }));
    prepareClassPhases(ds, ['ac', 'tt'], context);
    // The records' known range changes after the plan was made: the prepared plan (the old
    // range) is the one used, by the next scan only; the one after makes its own.
    const hi = (fresh as { hi: number }).hi;
    moveRange(ds.x, hi + 10);
    expect(tt.options({}, context, ds)).toEqual(fresh);
    expect((tt.options({}, context, ds) as { hi: number }).hi).toBe(hi + 10);
  });

  it('is not used by a scan with another seed or layer, or of another dataset', () => {
    const ds = images();
    prepareClassPhases(ds, ['tt'], { seed: 7 });
    const hi = (tt.options({}, { seed: 7 }, images()) as { hi: number }).hi;
    moveRange(ds.x, hi + 10);
    expect((tt.options({}, { seed: 8 }, ds) as { hi: number }).hi).toBe(hi + 10);
    expect((tt.options({}, { seed: 7, layer: 'dense' }, ds) as { hi: number }).hi).toBe(hi + 10);
    expect((tt.options({}, { seed: 7 }, ds) as { hi: number }).hi).toBe(hi);
  });

  it('prepares nothing without tt', () => {
    const ds = images();
    prepareClassPhases(ds, ['ac', 'ss'], { seed: 1 });
    const hi = (tt.options({}, { seed: 1 }, ds) as { hi: number }).hi;
    moveRange(ds.x, hi + 10);
    expect((tt.options({}, { seed: 1 }, ds) as { hi: number }).hi).toBe(hi + 10);
  });
});
