import { describe, expect, it } from 'vitest';
import { Rng } from '../util/rng.js';
import { classCounts, type Dataset, validateDataset } from './dataset.js';
import {
  concatDatasets,
  filterRecords,
  indicesByClass,
  sampleRecords,
  shuffleRecords,
  stratifiedSplit,
  takeFirst,
} from './transform.js';

/** n records of 2 features; record i has label `label(i)` and features [i, -i]. */
function make(n: number, label: (i: number) => number, k = 3, prefix = 'r'): Dataset {
  return {
    x: Float32Array.from({ length: 2 * n }, (_, j) =>
      j % 2 ? -Math.floor(j / 2) : Math.floor(j / 2),
    ),
    shape: [n, 2],
    y: Int32Array.from({ length: n }, (_, i) => label(i)),
    classes: Array.from({ length: k }, (_, i) => `c${i}`),
    ids: Array.from({ length: n }, (_, i) => `${prefix}${i}`),
    source: Array.from({ length: n }, (_, i) => `s${i % 4}`),
  };
}

describe('stratifiedSplit', () => {
  // 100 of class 0, 50 of class 1, 10 of class 2.
  const ds = make(160, (i) => (i < 100 ? 0 : i < 150 ? 1 : 2));

  it('keeps class proportions and partitions the records', () => {
    const { train, test, trainIndices, testIndices } = stratifiedSplit(ds, 0.2, new Rng(7));
    expect(classCounts(test)).toEqual([20, 10, 2]);
    expect(classCounts(train)).toEqual([80, 40, 8]);
    const all = [...trainIndices, ...testIndices].sort((a, b) => a - b);
    expect(all).toEqual(Array.from({ length: 160 }, (_, i) => i));
    // Records travel with their features, ids and sources, in input order.
    const j = testIndices[0]!;
    expect(test.ids[0]).toBe(`r${j}`);
    expect(Array.from(test.x.subarray(0, 2))).toEqual([j, -j]);
    expect(test.source![0]).toBe(`s${j % 4}`);
    expect([...testIndices]).toEqual([...testIndices].sort((a, b) => a - b));
    validateDataset(train);
    validateDataset(test);
  });

  it('is reproducible for a seed and differs across seeds', () => {
    const a = stratifiedSplit(ds, 0.3, new Rng(1)).testIndices;
    const b = stratifiedSplit(ds, 0.3, new Rng(1)).testIndices;
    const c = stratifiedSplit(ds, 0.3, new Rng(2)).testIndices;
    expect(Array.from(a)).toEqual(Array.from(b));
    expect(Array.from(a)).not.toEqual(Array.from(c));
  });

  it('refuses fractions outside (0, 1)', () => {
    for (const f of [0, 1, -0.5, Number.NaN]) {
      expect(() => stratifiedSplit(ds, f, new Rng(1))).toThrow(
        expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
      );
    }
  });
});

describe('subsets', () => {
  const ds = make(10, (i) => i % 3);
  it('indicesByClass', () => {
    expect(indicesByClass(ds).map((a) => Array.from(a))).toEqual([
      [0, 3, 6, 9],
      [1, 4, 7],
      [2, 5, 8],
    ]);
  });
  it('takeFirst, filterRecords', () => {
    expect(takeFirst(ds, 3).ids).toEqual(['r0', 'r1', 'r2']);
    expect(takeFirst(ds, 99).ids.length).toBe(10);
    expect(filterRecords(ds, (i) => ds.y[i] === 2).ids).toEqual(['r2', 'r5', 'r8']);
    expect(() => takeFirst(ds, -1)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });
  it('sampleRecords and shuffleRecords are seeded', () => {
    const s = sampleRecords(ds, 4, new Rng(5));
    expect(s.ids).toEqual(sampleRecords(ds, 4, new Rng(5)).ids);
    expect(s.ids.length).toBe(4);
    const idx = s.ids.map((id) => Number(id.slice(1)));
    expect(idx).toEqual([...idx].sort((a, b) => a - b));
    const sh = shuffleRecords(ds, new Rng(5));
    expect([...sh.ids].sort()).toEqual([...ds.ids].sort());
    expect(sh.ids).not.toEqual(ds.ids);
  });
});

describe('concatDatasets', () => {
  const a = make(3, (i) => i, 3, 'a');
  const b = make(2, () => 1, 3, 'b');
  it('concatenates features, labels, ids and sources', () => {
    const c = concatDatasets([a, b]);
    expect(c.shape).toEqual([5, 2]);
    expect(Array.from(c.y)).toEqual([0, 1, 2, 1, 1]);
    expect(c.ids).toEqual(['a0', 'a1', 'a2', 'b0', 'b1']);
    expect(Array.from(c.x.subarray(6))).toEqual([0, -0, 1, -1]);
    validateDataset(c);
  });
  it('fills missing sources with empty strings', () => {
    const { source: _, ...bare } = b;
    expect(concatDatasets([a, bare]).source).toEqual(['s0', 's1', 's2', '', '']);
  });
  it('refuses duplicate ids, other classes, other shapes, mixed text', () => {
    expect(() => concatDatasets([a, a])).toThrow(
      expect.objectContaining({
        code: 'INVALID_ARGUMENT',
        message: expect.stringContaining('"a0" appears in dataset 0 and dataset 1'),
      }),
    );
    expect(() => concatDatasets([a, { ...b, classes: ['x', 'y', 'z'] }])).toThrow(
      expect.objectContaining({
        code: 'INVALID_ARGUMENT',
        message: expect.stringContaining('classes'),
      }),
    );
    expect(() => concatDatasets([a, { ...b, shape: [2, 1, 2] }])).toThrow(
      expect.objectContaining({ code: 'SHAPE_MISMATCH' }),
    );
    expect(() => concatDatasets([a, { ...b, text: ['p', 'q'] }])).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
    expect(() => concatDatasets([])).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });
});
