import { describe, expect, it } from 'vitest';
import { createTrigger } from '../attacks/triggers.js';
import { encodedImages, fakeModel } from '../testing/fake-model.js';
import { Rng } from '../util/rng.js';
import {
  accuracy,
  accuracyDrop,
  attackSuccessRate,
  confusionMatrix,
  evaluateBackdoor,
  evaluateClean,
  perClassAccuracy,
  predictInBatches,
  robustAccuracy,
  triggeredTestSet,
} from './metrics.js';

describe('pure metrics', () => {
  const y = [0, 0, 1, 1, 2, 2];
  const pred = [0, 1, 1, 1, 0, 2];
  it('accuracy, confusion, per-class', () => {
    expect(accuracy(pred, y)).toBeCloseTo(4 / 6, 12);
    const m = confusionMatrix(pred, y, 4);
    expect(m).toEqual([
      [1, 1, 0, 0],
      [0, 2, 0, 0],
      [1, 0, 1, 0],
      [0, 0, 0, 0],
    ]);
    expect(perClassAccuracy(m)).toEqual([0.5, 1, 0.5, null]);
    expect(accuracy([], [])).toBe(0);
    expect(accuracyDrop(0.99, 0.9)).toBeCloseTo(0.09, 12);
  });
  it('ASR and robust accuracy', () => {
    // three attacked inputs, true labels 1,2,2, target 0
    expect(attackSuccessRate([0, 2, 0], [0, 0, 0])).toBeCloseTo(2 / 3, 12);
    expect(robustAccuracy([0, 2, 0], [1, 2, 2])).toBeCloseTo(1 / 3, 12);
  });
  it('rejects mismatched lengths and out-of-range labels', () => {
    expect(() => accuracy([1], [1, 2])).toThrow(/1 predictions but 2 labels/);
    expect(() => confusionMatrix([3], [0], 3)).toThrow(/outside/);
  });
});

describe('evaluation against a Classifier', () => {
  const shape = [8, 8, 1];
  const test = encodedImages(90, 3, 4, shape);
  const at = 6 * 8 + 6; // single-pixel trigger at [6, 6]
  it('clean accuracy in batches', async () => {
    const m = fakeModel(shape, 3);
    const r = await evaluateClean(m, test, { batchSize: 40 });
    expect(m.calls).toBe(3);
    expect(r.accuracy).toBe(1);
    expect(r.perClassAccuracy).toEqual([1, 1, 1]);
    const flipped = await evaluateClean(fakeModel(shape, 3, { flip: { 2: 1 } }), test);
    expect(flipped.accuracy).toBeCloseTo(2 / 3, 12);
    expect(flipped.perClassAccuracy).toEqual([1, 1, 0]);
    expect(flipped.confusion[2]).toEqual([0, 30, 0]);
  });
  it('ASR counts only non-target inputs; robust accuracy the rest', async () => {
    const trigger = createTrigger({ kind: 'pixel' });
    const backdoored = fakeModel(shape, 3, { backdoor: { at, target: 0 } });
    const r = await evaluateBackdoor(
      backdoored,
      test,
      trigger,
      { mode: 'all-to-one', target: 0 },
      new Rng(0),
    );
    expect(r.attacked).toBe(60); // class-0 inputs excluded
    expect(r.attackSuccessRate).toBe(1);
    expect(r.robustAccuracy).toBe(0);
    const clean = await evaluateBackdoor(
      fakeModel(shape, 3),
      test,
      trigger,
      { mode: 'all-to-one', target: 0 },
      new Rng(0),
    );
    expect(clean.attackSuccessRate).toBe(0);
    expect(clean.robustAccuracy).toBe(1);
    // A model whose backdoor sits on another pixel is not fooled.
    const elsewhere = fakeModel(shape, 3, { backdoor: { at: 0, target: 0 } });
    const e = await evaluateBackdoor(
      elsewhere,
      test,
      trigger,
      { mode: 'all-to-one', target: 0 },
      new Rng(0),
    );
    expect(e.attackSuccessRate).toBe(0);
  });
  it('all-to-all and source-to-target targets', () => {
    const trigger = createTrigger({ kind: 'pixel' });
    const a = triggeredTestSet(test, trigger, { mode: 'all-to-all' }, new Rng(0));
    expect(a.n).toBe(90);
    for (let j = 0; j < a.n; j++) expect(a.targets[j]).toBe((a.yTrue[j]! + 1) % 3);
    const s = triggeredTestSet(
      test,
      trigger,
      { mode: 'source-to-target', source: 1, target: 2 },
      new Rng(0),
    );
    expect(s.n).toBe(30);
    expect(Array.from(new Set(s.yTrue))).toEqual([1]);
    expect(s.x[at]).toBe(1);
  });
  it('shape mismatch between model and data', async () => {
    await expect(predictInBatches(fakeModel([4, 4, 1], 3), test.x, 90)).rejects.toThrow(
      /model expects/,
    );
  });
});
