import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { type Dataset, recordSize, validateDataset } from '../data/dataset.js';
import { isAntidoteError } from '../errors.js';
import { syntheticImages } from '../testing/synthetic-images.js';
import { Rng } from '../util/rng.js';
import { type BackdoorOptions, backdoorAttack } from './backdoor.js';
import { backdoorTargetOf, poisonCount } from './backdoor-plan.js';
import { addPatternTrigger } from './triggers.js';

function digest(ds: Dataset, poisoned: Uint8Array): string {
  const h = createHash('sha256');
  h.update(new Uint8Array(ds.x.buffer, ds.x.byteOffset, ds.x.byteLength));
  h.update(new Uint8Array(ds.y.buffer, ds.y.byteOffset, ds.y.byteLength));
  h.update(JSON.stringify([ds.ids, ds.source ?? null]));
  h.update(poisoned);
  return h.digest('hex');
}

const base: BackdoorOptions = {
  trigger: { kind: 'pattern' },
  mode: 'all-to-one',
  target: 0,
  rate: 0.1,
};

describe('backdoorAttack', () => {
  const ds = syntheticImages(300, [8, 8, 1], 3, 1, true);
  const size = recordSize(ds);

  it('all-to-one, replace, of-training-set: count, labels, trigger pixels, untouched rest', () => {
    const before = ds.x.slice();
    const { dataset, poisoned, record } = backdoorAttack.poison(ds, base, new Rng(7));
    expect(ds.x).toEqual(before); // input never modified
    validateDataset(dataset);
    expect(dataset.shape).toEqual([300, 8, 8, 1]);
    expect(record.indices.length).toBe(30);
    expect(poisoned.reduce((a, b) => a + b, 0)).toBe(30);
    expect(record.achievedRate).toBeCloseTo(0.1, 10);
    expect(record.rateDefinition).toBe('of-training-set');
    for (let i = 0; i < 300; i++) {
      const xi = dataset.x.subarray(i * size, (i + 1) * size);
      const orig = ds.x.subarray(i * size, (i + 1) * size);
      if (poisoned[i]) {
        expect(ds.y[i]).not.toBe(0); // only non-target classes are eligible
        expect(dataset.y[i]).toBe(0);
        expect(xi).toEqual(addPatternTrigger(orig, [8, 8, 1]));
      } else {
        expect(dataset.y[i]).toBe(ds.y[i]);
        expect(xi).toEqual(orig);
      }
    }
    expect(dataset.ids).toEqual(ds.ids);
    expect(dataset.source).toEqual(ds.source); // not marked by default
    expect(record.sourceIndices).toEqual(record.indices);
    expect(record.trigger).toEqual({ kind: 'pattern' });
    expect(JSON.parse(JSON.stringify(record))).toEqual(record);
  });

  it('same seed → byte-identical output; other seed → other choice', () => {
    const a = backdoorAttack.poison(
      ds,
      { ...base, trigger: { kind: 'checkerboard', size: 2, position: 'random' } },
      new Rng(3),
    );
    const b = backdoorAttack.poison(
      ds,
      { ...base, trigger: { kind: 'checkerboard', size: 2, position: 'random' } },
      new Rng(3),
    );
    expect(digest(a.dataset, a.poisoned)).toBe(digest(b.dataset, b.poisoned));
    expect(JSON.stringify(a.record)).toBe(JSON.stringify(b.record));
    const c = backdoorAttack.poison(ds, base, new Rng(4));
    const d = backdoorAttack.poison(ds, base, new Rng(3));
    expect(c.record.indices).not.toEqual(d.record.indices);
  });

  it('add copies: originals kept, copies appended with #bd ids', () => {
    const { dataset, poisoned, record } = backdoorAttack.poison(
      ds,
      { ...base, injection: 'add' },
      new Rng(7),
    );
    validateDataset(dataset);
    // p / (300 + p) = 0.1 → p = round(33.3) = 33
    expect(record.indices.length).toBe(33);
    expect(dataset.shape[0]).toBe(333);
    expect(Array.from(dataset.x.subarray(0, 300 * size))).toEqual(Array.from(ds.x));
    expect(Array.from(dataset.y.subarray(0, 300))).toEqual(Array.from(ds.y));
    expect(Array.from(poisoned.subarray(0, 300)).every((v) => v === 0)).toBe(true);
    expect(Array.from(poisoned.subarray(300)).every((v) => v === 1)).toBe(true);
    for (let j = 0; j < 33; j++) {
      const src = record.sourceIndices[j]!;
      expect(record.indices[j]).toBe(300 + j);
      expect(dataset.ids[300 + j]).toBe(`${ds.ids[src]}#bd`);
      expect(dataset.source![300 + j]).toBe(ds.source![src]);
      expect(dataset.x.subarray((300 + j) * size, (301 + j) * size)).toEqual(
        addPatternTrigger(ds.x.subarray(src * size, (src + 1) * size), [8, 8, 1]),
      );
    }
    expect(record.achievedRate).toBeCloseTo(33 / 333, 10);
  });

  it('of-target-class: poisons / target-labelled records after poisoning = rate', () => {
    // 100 records of class 0; p / (100 + p) = 0.2 → p = 25
    for (const injection of ['replace', 'add'] as const) {
      const { dataset, record } = backdoorAttack.poison(
        ds,
        { ...base, rate: 0.2, rateDefinition: 'of-target-class', injection },
        new Rng(1),
      );
      expect(record.indices.length).toBe(25);
      const targetLabelled = Array.from(dataset.y).filter((v) => v === 0).length;
      expect(targetLabelled).toBe(125);
      expect(record.achievedRate).toBeCloseTo(0.2, 10);
    }
  });

  it('all-to-all maps s → s+1 mod K; source-to-target only touches the source class', () => {
    const a = backdoorAttack.poison(
      ds,
      { trigger: { kind: 'pixel' }, mode: 'all-to-all', rate: 0.3 },
      new Rng(2),
    );
    expect(a.record.indices.length).toBe(90);
    for (const i of a.record.indices) expect(a.dataset.y[i]).toBe((ds.y[i]! + 1) % 3);
    const s = backdoorAttack.poison(
      ds,
      { trigger: { kind: 'pixel' }, mode: 'source-to-target', source: 2, target: 1, rate: 0.1 },
      new Rng(2),
    );
    expect(s.record.indices.length).toBe(30);
    for (const i of s.record.indices) {
      expect(ds.y[i]).toBe(2);
      expect(s.dataset.y[i]).toBe(1);
    }
    expect(backdoorTargetOf({ mode: 'source-to-target', source: 2, target: 1 }, 0, 3)).toBeNull();
    expect(backdoorTargetOf({ mode: 'all-to-one', target: 1 }, 1, 3)).toBeNull();
  });

  it('markSource labels poisoned records only when asked', () => {
    const { dataset, record } = backdoorAttack.poison(
      ds,
      { ...base, markSource: true },
      new Rng(7),
    );
    for (let i = 0; i < 300; i++) {
      expect(dataset.source![i]).toBe(
        record.indices.includes(i) ? 'attack:backdoor' : ds.source![i],
      );
    }
  });

  it('rate 0 poisons nothing', () => {
    const { dataset, poisoned } = backdoorAttack.poison(ds, { ...base, rate: 0 }, new Rng(7));
    expect(poisoned.every((v) => v === 0)).toBe(true);
    expect(dataset.x).toEqual(ds.x);
  });

  it('RGB images with a cyan square', () => {
    const rgb = syntheticImages(40, [6, 6, 3], 2);
    const { dataset, record } = backdoorAttack.poison(
      rgb,
      {
        trigger: { kind: 'image', image: 'cyan-square', size: 2 },
        mode: 'all-to-one',
        target: 1,
        rate: 0.25,
      },
      new Rng(0),
    );
    const i = record.indices[0]!;
    const px = (r: number, c: number) =>
      Array.from(dataset.x.subarray(i * 108 + (r * 6 + c) * 3, i * 108 + (r * 6 + c) * 3 + 3));
    expect(px(4, 4)).toEqual([0, 1, 1]);
  });

  describe('bad parameters → INVALID_ARGUMENT', () => {
    const cases: [string, Partial<BackdoorOptions>][] = [
      ['rate 1', { rate: 1 }],
      ['rate -0.1', { rate: -0.1 }],
      ['rate NaN', { rate: Number.NaN }],
      ['target 3 of 3 classes', { target: 3 }],
      ['target -1', { target: -1 }],
      ['no target', { target: undefined }],
      ['trigger larger than the image', { trigger: { kind: 'checkerboard', size: 9 } }],
      ['pattern distance too far', { trigger: { kind: 'pattern', distance: 7 } }],
      ['of-target-class for all-to-all', { mode: 'all-to-all', rateDefinition: 'of-target-class' }],
      ['source = target', { mode: 'source-to-target', source: 0, target: 0 }],
      ['too many poisons needed', { mode: 'source-to-target', source: 1, target: 0, rate: 0.5 }],
      ['unknown mode', { mode: 'sideways' as 'all-to-one' }],
      ['PNG not loaded', { trigger: { kind: 'image', image: '/x.png', size: 2 } }],
    ];
    for (const [name, patch] of cases) {
      it(name, () => {
        let err: unknown;
        try {
          backdoorAttack.poison(ds, { ...base, ...patch }, new Rng(0));
        } catch (e) {
          err = e;
        }
        expect(isAntidoteError(err, 'INVALID_ARGUMENT')).toBe(true);
      });
    }
    it('non-image data', () => {
      const tab: Dataset = {
        x: new Float32Array(20),
        shape: [10, 2],
        y: new Int32Array(10),
        classes: ['a', 'b'],
        ids: [...'abcdefghij'],
      };
      expect(() => backdoorAttack.poison(tab, base, new Rng(0))).toThrow(/image records/);
    });
  });

  it('poisonCount formulas', () => {
    expect(poisonCount(0.01, 'of-training-set', 'replace', 60000, 5923)).toBe(600);
    expect(poisonCount(0.1, 'of-training-set', 'add', 900, 0)).toBe(100);
    expect(poisonCount(0.5, 'of-target-class', 'replace', 1000, 100)).toBe(100);
  });
});
