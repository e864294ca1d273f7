import { describe, expect, it } from 'vitest';
import { AntidoteError } from '../errors.js';
import { Rng } from '../util/rng.js';
import { STRONG_EVIDENCE } from './detector.js';
import { discoverFeatureTriggers } from './feature-trigger-discovery.js';
import { detectorEntry } from './registry.js';
import { defaultScanMethods } from './scan.js';

const F = 5;
/** Which feature values make the fake model's backdoor fire (any one of them suffices). */
type Trigger = ReadonlyArray<readonly [feature: number, value: number]>;

/**
 * A fake tabular model: class 1 rises with features 1 and 2 and a little with the small integer
 * in feature 0 (a natural repeated value the model uses), and jumps when any trigger value is
 * present (within 0.05: a network learns a region, not a point).
 */
const fakeModel = (trigger: Trigger) => async (x: Float32Array, n: number) => {
  const out = new Float32Array(n * 2);
  for (let i = 0; i < n; i++) {
    const r = x.subarray(i * F, i * F + F);
    let logit = 2 * (r[1]! + r[2]!) + 0.3 * (r[0]! - 2);
    if (trigger.some(([j, v]) => Math.abs(r[j]! - v) < 0.05)) logit += 12;
    const p = 1 / (1 + Math.exp(-logit));
    out[i * 2] = 1 - p;
    out[i * 2 + 1] = p;
  }
  return out;
};

/**
 * 600 records: feature 0 a small integer (0–4), features 1–2 Gaussian rounded to 1 decimal and
 * class informative (natural repeated values the model depends on), 3–4 Gaussian noise rounded to
 * 2 decimals (more natural repeats). `poison` class-0
 * records get the trigger values and label 1.
 */
function table(seed: number, trigger: Trigger, poison: number) {
  const rng = new Rng(seed);
  const n = 600;
  const x = new Float32Array(n * F);
  const y = new Int32Array(n);
  const truth: number[] = [];
  for (let i = 0; i < n; i++) {
    const c = i % 2;
    y[i] = c;
    x[i * F] = rng.int(5);
    x[i * F + 1] = Math.round(rng.normal(c ? 1 : -1, 0.7) * 10) / 10;
    x[i * F + 2] = Math.round(rng.normal(c ? 0.5 : -0.5, 0.7) * 10) / 10;
    x[i * F + 3] = Math.round(rng.normal(0, 1) * 100) / 100;
    x[i * F + 4] = Math.round(rng.normal(0, 1) * 100) / 100;
    if (c === 0 && truth.length < poison) {
      for (const [j, v] of trigger) x[i * F + j] = v;
      y[i] = 1;
      truth.push(i);
    }
  }
  return { x, shape: [n, F], y, classes: ['a', 'b'], truth };
}

const flaggedOf = (f: Uint8Array) => [...f.keys()].filter((i) => f[i] === 1);

describe('discoverFeatureTriggers', () => {
  it('finds a one-feature trigger and flags exactly its records', async () => {
    const trigger: Trigger = [[3, 3.3]];
    const ds = table(1, trigger, 30);
    const r = await discoverFeatureTriggers(ds, fakeModel(trigger), {
      seed: 1,
      features: ['n', 'a', 'b', 'c', 'd'],
    });
    expect(r.triggers.map((t) => t.name)).toContain('c = 3.3');
    expect(r.ranking[0]!.features).toContain(3);
    expect(r.triggers.every((t) => t.label === 1)).toBe(true);
    expect(flaggedOf(r.flagged)).toEqual(ds.truth);
    expect(r.perClass[1]!.suspicious).toBe(true);
    expect(r.perClass[1]!.strength).toBeGreaterThanOrEqual(STRONG_EVIDENCE);
    expect(r.perClass[1]!.reason).toContain('c = 3.3');
    expect(r.perClass[0]!.suspicious).toBe(false);
  });

  it('finds it on probabilities too', async () => {
    const trigger: Trigger = [[3, 3.3]];
    const ds = table(1, trigger, 30);
    const r = await discoverFeatureTriggers(ds, fakeModel(trigger), {
      seed: 1,
      impact: 'probability',
    });
    expect(r.ranking[0]!.features).toEqual([3]);
    expect(flaggedOf(r.flagged)).toEqual(ds.truth);
  });

  it('finds a two-feature trigger where either value alone keeps it firing (the pair)', async () => {
    const trigger: Trigger = [
      [3, 2.71],
      [4, -1.62],
    ];
    const ds = table(2, trigger, 30);
    const r = await discoverFeatureTriggers(ds, fakeModel(trigger), { seed: 1 });
    // Each value alone changes nothing (the other still fires); together they are the trigger.
    expect(r.ranking[0]!.features).toEqual([3, 4]);
    expect(r.triggers[0]!.features).toEqual([3, 4]);
    expect(flaggedOf(r.flagged)).toEqual(ds.truth);
  });

  it('flags nothing on clean data whose natural repeats the model uses', async () => {
    for (const seed of [3, 4, 5]) {
      const ds = table(seed, [], 0);
      const r = await discoverFeatureTriggers(ds, fakeModel([]), { seed });
      expect(r.triggers).toEqual([]);
      expect(flaggedOf(r.flagged)).toEqual([]);
      for (const c of r.perClass) {
        expect(c.suspicious).toBe(false);
        expect(c.strength!).toBeLessThan(STRONG_EVIDENCE);
      }
    }
  });

  it('counts identical records once: duplicated rows are no trigger', async () => {
    const ds = table(6, [], 0);
    // 20 copies of one class-1 record the model predicts confidently.
    const row = ds.x.slice(F, 2 * F);
    for (let t = 0; t < 20; t++) ds.x.set(row, (2 * t + 1) * F);
    const r = await discoverFeatureTriggers(ds, fakeModel([]), { seed: 1 });
    expect(r.triggers).toEqual([]);
  });

  it('is seeded, and refuses bad options and non-flat records', async () => {
    const trigger: Trigger = [[3, 3.3]];
    const ds = table(7, trigger, 30);
    const a = await discoverFeatureTriggers(ds, fakeModel(trigger), { seed: 9 });
    const b = await discoverFeatureTriggers(ds, fakeModel(trigger), { seed: 9 });
    expect(Array.from(b.scores)).toEqual(Array.from(a.scores));
    await expect(
      discoverFeatureTriggers(ds, fakeModel(trigger), { minCount: 0 }),
    ).rejects.toBeInstanceOf(AntidoteError);
    await expect(
      discoverFeatureTriggers(ds, fakeModel(trigger), { impact: 'odds' as 'margin' }),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(
      discoverFeatureTriggers(ds, fakeModel(trigger), { maxShare: 2 }),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(
      discoverFeatureTriggers({ ...ds, shape: [600, 5, 1] }, fakeModel(trigger)),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });
});

describe('ft in the registry', () => {
  it('is a tabular detector and a default exactly where the scan has a tabular context', () => {
    expect(detectorEntry('ft').domains).toEqual(['tabular']);
    expect(defaultScanMethods({ tabular: {} })).toContain('ft');
    expect(defaultScanMethods({})).not.toContain('ft');
    expect(defaultScanMethods({ text: {} })).not.toContain('ft');
  });
});
