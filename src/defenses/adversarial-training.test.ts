import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { pgdPerturb } from '../attacks/pgd.js';
import { initEngine } from '../engine/backend.js';
import { TfClassifier, trainClassifier } from '../engine/tf-classifier.js';
import { isAntidoteError } from '../errors.js';
import { sliceRecords, syntheticImages } from '../testing/images.js';
import { Rng } from '../util/rng.js';
import { adversarialFit } from './adversarial-training.js';

describe('PGD adversarial training (Madry et al. 2018)', () => {
  it('raises accuracy under PGD over standard training, reproducibly and without leaks', async () => {
    await initEngine();
    const all = syntheticImages({ classes: 4, perClass: 125, seed: 17, noise: 0.25 });
    const train = sliceRecords(all, 0, 400);
    const test = sliceRecords(all, 400, 100);
    const spec = { arch: 'mlp' as const, hidden: [32] };
    const pgd = { epsilon: 0.25, steps: 5 };
    const standard = await trainClassifier(train, {
      model: spec,
      seed: 1,
      epochs: 10,
      learningRate: 0.01,
    });
    const robust = await TfClassifier.create(spec, [8, 8, 1], train.classes, 1);
    const before = tf.memory().numTensors;
    const h = await adversarialFit(robust, train, { seed: 1, pgd, epochs: 10, learningRate: 0.01 });
    expect(tf.memory().numTensors).toBe(before);
    expect(h.epochs).toHaveLength(10);
    const robustAcc = async (m: TfClassifier) => {
      const adv = await pgdPerturb(m, test.x, test.y, { epsilon: 0.25, steps: 10 }, new Rng(3));
      const p = await m.predict(adv, 100);
      return p.filter((c, i) => c === test.y[i]).length / 100;
    };
    const cleanAcc = async (m: TfClassifier) =>
      (await m.predict(test.x, 100)).filter((c, i) => c === test.y[i]).length / 100;
    const rs = await robustAcc(standard);
    const rr = await robustAcc(robust);
    expect(rr).toBeGreaterThan(rs + 0.2);
    expect(await cleanAcc(robust)).toBeGreaterThan(0.8);
    const twin = await TfClassifier.create(spec, [8, 8, 1], train.classes, 1);
    await adversarialFit(twin, train, { seed: 1, pgd, epochs: 1, learningRate: 0.01 });
    const again = await TfClassifier.create(spec, [8, 8, 1], train.classes, 1);
    await adversarialFit(again, train, { seed: 1, pgd, epochs: 1, learningRate: 0.01 });
    expect(await again.predictProba(test.x, 100)).toEqual(await twin.predictProba(test.x, 100));
    await expect(
      adversarialFit(again, train, { seed: 1, pgd, adversarialShare: 0 }),
    ).rejects.toSatisfy((e) => isAntidoteError(e, 'INVALID_ARGUMENT'));
    await expect(adversarialFit(again, train, { seed: 1, pgd: { epsilon: -1 } })).rejects.toSatisfy(
      (e) => isAntidoteError(e, 'INVALID_ARGUMENT'),
    );
    for (const m of [standard, robust, twin, again]) m.dispose();
  });
});
