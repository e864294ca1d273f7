import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Dataset } from '../data/dataset.js';
import { initEngine } from '../engine/backend.js';
import { type TfClassifier, trainClassifier } from '../engine/tf-classifier.js';
import { isAntidoteError } from '../errors.js';
import { sliceRecords, syntheticImages } from '../testing/images.js';
import { Rng } from '../util/rng.js';
import { perturbationSize, pgdPerturb, resolvePgdOptions } from './pgd.js';

describe('PGD (L∞)', () => {
  let model: TfClassifier;
  let ds: Dataset;
  beforeAll(async () => {
    await initEngine();
    const all = syntheticImages({ classes: 4, perClass: 100, seed: 11, noise: 0.25 });
    model = await trainClassifier(sliceRecords(all, 0, 300), {
      model: { arch: 'mlp', hidden: [32] },
      seed: 1,
      epochs: 8,
      learningRate: 0.01,
    });
    ds = sliceRecords(all, 300, 100);
  });
  afterAll(() => model?.dispose());

  it('one step without a random start is clip(x + α·sign(∇ loss)), checked against lossGradient', async () => {
    const x = ds.x.slice(0, 10 * 64);
    const y = ds.y.slice(0, 10);
    const adv = await pgdPerturb(
      model,
      x,
      y,
      { epsilon: 0.1, steps: 1, stepSize: 0.1, randomStart: false },
      new Rng(1),
    );
    const g = await model.lossGradient(x, y);
    let checked = 0;
    for (let i = 0; i < x.length; i++) {
      if (Math.abs(g[i]!) < 1e-7) continue;
      const expected = Math.min(1, Math.max(0, x[i]! + 0.1 * Math.sign(g[i]!)));
      expect(adv[i]).toBeCloseTo(expected, 5);
      checked++;
    }
    expect(checked).toBeGreaterThan(100);
  });

  it('stays in the ε-ball and the value range, lowers accuracy, targets work, no leaks', async () => {
    const n = 100;
    const before = tf.memory().numTensors;
    const adv = await pgdPerturb(model, ds.x, ds.y, { epsilon: 0.3, steps: 10 }, new Rng(2));
    expect(tf.memory().numTensors).toBe(before);
    const size = perturbationSize(ds.x, adv, n);
    expect(size.maxLinf).toBeLessThanOrEqual(0.3 + 1e-6);
    expect(adv.every((v) => v >= 0 && v <= 1)).toBe(true);
    const acc = (p: Int32Array, y: ArrayLike<number>) => p.filter((v, i) => v === y[i]).length / n;
    const clean = acc(await model.predict(ds.x, n), ds.y);
    const attacked = acc(await model.predict(adv, n), ds.y);
    expect(clean).toBeGreaterThan(0.9);
    expect(attacked).toBeLessThan(clean - 0.3);
    const targets = Int32Array.from(ds.y, (c) => (c + 1) % 4);
    const tadv = await pgdPerturb(
      model,
      ds.x,
      ds.y,
      { epsilon: 0.3, steps: 10 },
      new Rng(2),
      targets,
    );
    expect(acc(await model.predict(tadv, n), targets)).toBeGreaterThan(0.5);
    // Same seed, same result.
    const again = await pgdPerturb(model, ds.x, ds.y, { epsilon: 0.3, steps: 10 }, new Rng(2));
    expect(again).toEqual(adv);
  });

  it('rejects bad parameters', async () => {
    for (const o of [
      { epsilon: -1 },
      { epsilon: 0.1, steps: 0 },
      { epsilon: 0.1, clip: [1, 0] as const },
    ]) {
      expect(() => resolvePgdOptions(o)).toThrow(/PGD/);
    }
    await expect(
      pgdPerturb(model, ds.x.slice(0, 64), Int32Array.from([7]), { epsilon: 0.1 }, new Rng(1)),
    ).rejects.toSatisfy((e) => isAntidoteError(e, 'LABEL_OUT_OF_RANGE'));
    await expect(
      pgdPerturb(model, ds.x.slice(0, 60), Int32Array.from([0]), { epsilon: 0.1 }, new Rng(1)),
    ).rejects.toSatisfy((e) => isAntidoteError(e, 'SHAPE_MISMATCH'));
  });
});
