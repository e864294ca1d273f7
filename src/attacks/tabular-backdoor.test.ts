import { describe, expect, it } from 'vitest';
import type { Dataset } from '../data/dataset.js';
import type { TabularColumn } from '../data/datasets/tabular.js';
import { isAntidoteError } from '../errors.js';
import { Rng } from '../util/rng.js';
import {
  resolveFeatureTrigger,
  tabularBackdoorAttack,
  triggeredRecords,
} from './tabular-backdoor.js';

const columns: TabularColumn[] = [
  { name: 'amount', kind: 'numeric' },
  { name: 'status', kind: 'categorical', levels: ['none', 'low', 'high'] },
  { name: 'age', kind: 'numeric' },
];

function table(n: number): Dataset {
  const x = new Float32Array(n * 3);
  for (let i = 0; i < n; i++) x.set([i * 10, i % 3, 20 + (i % 40)], i * 3);
  return {
    x,
    shape: [n, 3],
    y: Int32Array.from({ length: n }, (_, i) => (i % 4 === 0 ? 1 : 0)),
    classes: ['good', 'bad'],
    ids: Array.from({ length: n }, (_, i) => `c${i}`),
  };
}

describe('tabularBackdoorAttack', () => {
  const ds = table(200);
  const trigger = resolveFeatureTrigger(columns, { status: 'high', age: 99 });

  it('resolves column and level names', () => {
    expect(trigger).toEqual({ kind: 'feature-values', features: [1, 2], values: [2, 99] });
    expect(() => resolveFeatureTrigger(columns, { nope: 1 })).toThrow(/no column/);
    expect(() => resolveFeatureTrigger(columns, { status: 'mid' })).toThrow(/no level/);
  });

  it('bad → good: stamps the values, relabels, leaves other features and records alone', () => {
    const r = tabularBackdoorAttack.poison(
      ds,
      { mode: 'source-to-target', source: 1, target: 0, rate: 0.05, trigger },
      new Rng(4),
    );
    expect(r.record.indices.length).toBe(10);
    for (const i of r.record.indices) {
      expect(ds.y[i]).toBe(1);
      expect(r.dataset.y[i]).toBe(0);
      expect(Array.from(r.dataset.x.subarray(i * 3, i * 3 + 3))).toEqual([ds.x[i * 3], 2, 99]);
    }
    let changed = 0;
    for (let i = 0; i < 200; i++) {
      if (r.poisoned[i]) continue;
      for (let j = 0; j < 3; j++) if (r.dataset.x[i * 3 + j] !== ds.x[i * 3 + j]) changed++;
    }
    expect(changed).toBe(0);
    expect(r.record.attack).toBe('tabular-backdoor');
    expect(r.record.params.trigger).toEqual(trigger);
    expect(ds.x[r.record.indices[0]! * 3 + 2]).not.toBe(99); // input untouched
  });

  it('clean-label and add injection', () => {
    const r = tabularBackdoorAttack.poison(
      ds,
      {
        mode: 'all-to-one',
        target: 0,
        rate: 0.1,
        variant: 'clean-label',
        injection: 'add',
        trigger,
      },
      new Rng(1),
    );
    expect(r.dataset.shape).toEqual([222, 3]);
    for (const i of r.record.indices) expect(r.dataset.y[i]).toBe(0);
  });

  it('rejects bad triggers and shapes', () => {
    const bad = [
      { kind: 'feature-values', features: [3], values: [1] },
      { kind: 'feature-values', features: [0, 0], values: [1, 2] },
      { kind: 'feature-values', features: [0], values: [] },
      { kind: 'feature-values', features: [0], values: [Number.NaN] },
      { kind: 'pixels', features: [0], values: [1] },
    ];
    for (const t of bad) {
      let err: unknown;
      try {
        tabularBackdoorAttack.poison(
          ds,
          { mode: 'all-to-one', target: 0, rate: 0.1, trigger: t as never },
          new Rng(0),
        );
      } catch (e) {
        err = e;
      }
      expect(isAntidoteError(err, 'INVALID_ARGUMENT'), JSON.stringify(t)).toBe(true);
    }
  });

  it('builds triggered test records for ASR', () => {
    const t = triggeredRecords(ds, trigger, { mode: 'source-to-target', source: 1, target: 0 });
    expect(t.n).toBe(50);
    expect(t.x[1]).toBe(2);
    expect(t.x[2]).toBe(99);
    expect(Array.from(t.targets).every((v) => v === 0)).toBe(true);
  });
});
