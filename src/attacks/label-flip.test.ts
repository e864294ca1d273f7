import { describe, expect, it } from 'vitest';
import type { Classifier } from '../engine/classifier.js';
import { isAntidoteError } from '../errors.js';
import { syntheticImages } from '../testing/synthetic-images.js';
import { Rng } from '../util/rng.js';
import {
  adversarialFlipPlan,
  cleanModelProbabilities,
  type LabelFlipOptions,
  labelFlipAttack,
} from './label-flip.js';

const ds = syntheticImages(200, [4, 4, 1], 4, 2, true);

describe('labelFlipAttack', () => {
  it('random: budget, every flipped label differs, features untouched, seeded', () => {
    const { dataset, poisoned, record } = labelFlipAttack.poison(
      ds,
      { mode: 'random', rate: 0.25 },
      new Rng(5),
    );
    expect(record.indices.length).toBe(50);
    expect(dataset.x).toEqual(ds.x);
    let diff = 0;
    for (let i = 0; i < 200; i++) {
      if (dataset.y[i] !== ds.y[i]) diff++;
      expect(poisoned[i] === 1).toBe(dataset.y[i] !== ds.y[i]);
    }
    expect(diff).toBe(50);
    expect(record.originalLabels).toEqual(record.indices.map((i) => ds.y[i]));
    expect(record.poisonedLabels).toEqual(record.indices.map((i) => dataset.y[i]));
    expect(dataset.source).toEqual(ds.source);
    const again = labelFlipAttack.poison(ds, { mode: 'random', rate: 0.25 }, new Rng(5));
    expect(Buffer.from(again.dataset.y.buffer).equals(Buffer.from(dataset.y.buffer))).toBe(true);
    expect(JSON.stringify(again.record)).toBe(JSON.stringify(record));
    const other = labelFlipAttack.poison(ds, { mode: 'random', rate: 0.25 }, new Rng(6));
    expect(other.record.indices).not.toEqual(record.indices);
  });

  it('random new labels are spread over the other classes', () => {
    const big = syntheticImages(4000, [1, 1, 1], 4, 1);
    const { record } = labelFlipAttack.poison(big, { mode: 'random', rate: 0.5 }, new Rng(1));
    const counts = new Map<string, number>();
    for (let j = 0; j < record.indices.length; j++) {
      const key = `${record.originalLabels[j]}>${record.poisonedLabels[j]}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    expect(counts.size).toBe(12); // 4 × 3 ordered pairs
    for (const v of counts.values()) expect(Math.abs(v - 2000 / 12)).toBeLessThan(60);
  });

  it('targeted: only source records, all become target; count budget', () => {
    const { dataset, record } = labelFlipAttack.poison(
      ds,
      { mode: 'targeted', source: 1, target: 3, count: 20 },
      new Rng(1),
    );
    expect(record.indices.length).toBe(20);
    for (const i of record.indices) {
      expect(ds.y[i]).toBe(1);
      expect(dataset.y[i]).toBe(3);
    }
    expect(record.rateDefinition).toBeUndefined();
  });

  it('swap: source and target trade labels', () => {
    const { dataset, record } = labelFlipAttack.poison(
      ds,
      { mode: 'swap', source: 0, target: 2, rate: 0.2 },
      new Rng(1),
    );
    expect(record.indices.length).toBe(40);
    const seen = new Set<number>();
    for (const i of record.indices) {
      seen.add(ds.y[i]!);
      expect(dataset.y[i]).toBe(ds.y[i] === 0 ? 2 : 0);
    }
    expect(seen).toEqual(new Set([0, 2]));
  });

  it('markSource marks only flipped records', () => {
    const { dataset, record } = labelFlipAttack.poison(
      ds,
      { mode: 'random', rate: 0.1, markSource: 'x' },
      new Rng(1),
    );
    for (let i = 0; i < 200; i++)
      expect(dataset.source![i]).toBe(record.indices.includes(i) ? 'x' : ds.source![i]);
  });

  describe('adversarial', () => {
    // 3 classes; model: record i has confidence that grows with i; class c is confused with (c+2)%3.
    const n = 30;
    const small = syntheticImages(n, [1, 1, 1], 3, 1);
    const probs = new Float32Array(n * 3);
    for (let i = 0; i < n; i++) {
      const c = small.y[i]!;
      const own = 0.4 + (0.5 * i) / n;
      probs[i * 3 + c] = own;
      probs[i * 3 + ((c + 2) % 3)] = (1 - own) * 0.8;
      probs[i * 3 + ((c + 1) % 3)] = (1 - own) * 0.2;
    }
    it('farthest-first flips the most confident records to the most confused class', () => {
      const { dataset, record } = labelFlipAttack.poison(
        small,
        { mode: 'adversarial', count: 5, probabilities: probs },
        new Rng(0),
      );
      expect(record.indices).toEqual([25, 26, 27, 28, 29]);
      for (const i of record.indices) expect(dataset.y[i]).toBe((small.y[i]! + 2) % 3);
      expect(record.params.rule).toBe('farthest-first');
      expect(String(record.params.ruleSource)).toMatch(/Xiao et al\. 2015/);
    });
    it('nearest-first flips the records closest to the boundary', () => {
      const { record } = labelFlipAttack.poison(
        small,
        { mode: 'adversarial', count: 3, probabilities: probs, rule: 'nearest-first' },
        new Rng(0),
      );
      // own = 0.4 + i/60 vs confused = 0.8 (1 - own): |log ratio| is smallest at i = 3, then 2, 4.
      expect(record.indices).toEqual([2, 3, 4]);
    });
    it('ties are broken by the seed, reproducibly', () => {
      const flat = new Float32Array(n * 3).fill(1 / 3);
      const a = adversarialFlipPlan(small.y, flat, 3, 'farthest-first', new Rng(1));
      const b = adversarialFlipPlan(small.y, flat, 3, 'farthest-first', new Rng(1));
      const c = adversarialFlipPlan(small.y, flat, 3, 'farthest-first', new Rng(2));
      expect(a.order).toEqual(b.order);
      expect(a.order).not.toEqual(c.order);
    });
    it('probabilities come from a Classifier in batches', async () => {
      const calls: number[] = [];
      const model: Classifier = {
        inputShape: [1, 1, 1],
        numClasses: 3,
        layerNames: [],
        async predictProba(x, m) {
          calls.push(m);
          const out = new Float32Array(m * 3);
          for (let i = 0; i < m; i++) out[i * 3 + (x[i]! > 0.25 ? 1 : 0)] = 1;
          return out;
        },
        async predict() {
          return new Int32Array(0);
        },
        async activations() {
          return { data: new Float32Array(0), dim: 0 };
        },
      };
      const p = await cleanModelProbabilities(model, small, 8);
      expect(calls).toEqual([8, 8, 8, 6]);
      for (let i = 0; i < n; i++) expect(p[i * 3 + (small.x[i]! > 0.25 ? 1 : 0)]).toBe(1);
    });
  });

  describe('bad parameters → INVALID_ARGUMENT', () => {
    const cases: [string, LabelFlipOptions][] = [
      ['rate 1', { mode: 'random', rate: 1 }],
      ['rate -0.5', { mode: 'random', rate: -0.5 }],
      ['rate and count', { mode: 'random', rate: 0.1, count: 3 }],
      ['neither rate nor count', { mode: 'random' }],
      ['count too big', { mode: 'random', count: 201 }],
      ['target out of range', { mode: 'targeted', source: 0, target: 4, rate: 0.1 }],
      ['missing source', { mode: 'targeted', target: 1, rate: 0.1 }],
      ['source = target', { mode: 'swap', source: 1, target: 1, rate: 0.1 }],
      ['budget over the source class', { mode: 'targeted', source: 0, target: 1, rate: 0.5 }],
      ['adversarial without probabilities', { mode: 'adversarial', rate: 0.1 }],
      ['unknown mode', { mode: 'chaos' as 'random', rate: 0.1 }],
    ];
    for (const [name, options] of cases) {
      it(name, () => {
        let err: unknown;
        try {
          labelFlipAttack.poison(ds, options, new Rng(0));
        } catch (e) {
          err = e;
        }
        expect(isAntidoteError(err, 'INVALID_ARGUMENT')).toBe(true);
      });
    }
  });
});
