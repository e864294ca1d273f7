import { describe, expect, it } from 'vitest';
import type { Dataset } from '../data/dataset.js';
import { Rng } from '../util/rng.js';
import { evaluateFeatureBackdoor, triggeredFeatureTestSet } from './feature-backdoor.js';

const rows: Dataset = {
  x: Float32Array.from([1, 2, 3, 4, 5, 6]),
  shape: [3, 2],
  y: Int32Array.from([0, 1, 0]),
  classes: ['a', 'b'],
  ids: ['r0', 'r1', 'r2'],
};

const texts: Dataset = {
  x: new Float32Array(0),
  shape: [3, 0],
  y: Int32Array.from([0, 1, 0]),
  classes: ['a', 'b'],
  ids: ['t0', 't1', 't2'],
  text: ['good food', 'bad food', 'nice place'],
};

describe('backdoor metrics of text and tabular models', () => {
  it('triggers only the attacked rows, and scores predictions against targets and true labels', async () => {
    const trigger = { kind: 'feature-values' as const, features: [1], values: [9] };
    const t = triggeredFeatureTestSet(rows, trigger, { mode: 'all-to-one', target: 1 }, new Rng(1));
    expect(Array.from(t.dataset.x)).toEqual([1, 9, 5, 9]);
    expect(t.dataset.shape).toEqual([2, 2]);
    expect(Array.from(t.yTrue)).toEqual([0, 0]);
    expect(Array.from(t.targets)).toEqual([1, 1]);
    // A model that follows the trigger on the first attacked row only.
    const m = await evaluateFeatureBackdoor(
      async (d) => Int32Array.from({ length: d.shape[0]! }, (_, i) => (i === 0 ? 1 : 0)),
      rows,
      trigger,
      { mode: 'all-to-one', target: 1 },
      new Rng(1),
    );
    expect(m).toEqual({ attacked: 2, attackSuccessRate: 0.5, robustAccuracy: 0.5 });
  });

  it('inserts a word trigger into the attacked texts, seeded', async () => {
    const trigger = { kind: 'words' as const, words: ['cf'] };
    const targeting = { mode: 'all-to-one' as const, target: 1 };
    const a = triggeredFeatureTestSet(texts, trigger, targeting, new Rng(3));
    const b = triggeredFeatureTestSet(texts, trigger, targeting, new Rng(3));
    expect(a.dataset.text).toEqual(b.dataset.text);
    expect(a.dataset.text).toHaveLength(2);
    for (const s of a.dataset.text!) expect(s.split(' ')).toContain('cf');
    expect(a.dataset.shape).toEqual([2, 0]);
    const m = await evaluateFeatureBackdoor(
      async (d) => Int32Array.from(d.text!, (s) => (s.includes('cf') ? 1 : 0)),
      texts,
      trigger,
      targeting,
      new Rng(3),
    );
    expect(m).toEqual({ attacked: 2, attackSuccessRate: 1, robustAccuracy: 0 });
    expect(() => triggeredFeatureTestSet(rows, trigger, targeting, new Rng(3))).toThrow(
      /no text records/,
    );
  });
});
