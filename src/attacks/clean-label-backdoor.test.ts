import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Dataset } from '../data/dataset.js';
import { initEngine } from '../engine/backend.js';
import { type TfClassifier, trainClassifier } from '../engine/tf-classifier.js';
import { isAntidoteError } from '../errors.js';
import { mnist14, sliceRecords, syntheticImages } from '../testing/images.js';
import { Rng } from '../util/rng.js';
import { cleanLabelBackdoor } from './clean-label-backdoor.js';
import { cornerTrigger } from './corner-trigger.js';
import { createTrigger } from './triggers.js';

const trigger = createTrigger({ kind: 'checkerboard', size: 3, margin: 0 });
const train = (ds: Dataset, seed = 1) =>
  trainClassifier(ds, {
    model: { arch: 'mlp', hidden: [32] },
    seed,
    epochs: 12,
    learningRate: 0.01,
  });

describe('clean-label backdoor (Turner et al. 2019)', () => {
  let surrogate: TfClassifier;
  let clean: Dataset;
  beforeAll(async () => {
    await initEngine();
    const all = syntheticImages({ classes: 4, perClass: 150, seed: 21, noise: 0.25 });
    clean = sliceRecords(all, 0, 400);
    surrogate = await train(clean, 9);
  });
  afterAll(() => surrogate?.dispose());

  it('never changes a label, stays within ε, touches only target-class records, is reproducible', async () => {
    const opts = { target: 1, rate: 0.3, epsilon: 0.2, trigger };
    const r = await cleanLabelBackdoor(clean, surrogate, opts, new Rng(4));
    expect(Array.from(r.dataset.y)).toEqual(Array.from(clean.y));
    expect(r.record.originalLabels).toEqual(r.record.poisonedLabels);
    const targetCount = clean.y.filter((c) => c === 1).length;
    expect(r.record.indices.length).toBe(Math.round(0.3 * targetCount));
    expect(r.perturbation.maxLinf).toBeLessThanOrEqual(0.2 + 1e-6);
    expect(r.perturbation.meanLinf).toBeGreaterThan(0.1);
    expect(r.surrogateMisclassified).toBeGreaterThan(0.5);
    const poisonedSet = new Set(r.record.indices);
    for (let i = 0; i < clean.y.length; i++) {
      const changed = r.dataset.x
        .subarray(i * 64, (i + 1) * 64)
        .some((v, d) => v !== clean.x[i * 64 + d]);
      expect(changed).toBe(poisonedSet.has(i));
      if (changed) expect(clean.y[i]).toBe(1);
    }
    const again = await cleanLabelBackdoor(clean, surrogate, opts, new Rng(4));
    expect(again.dataset.x).toEqual(r.dataset.x);
    expect(JSON.parse(JSON.stringify(r.record))).toEqual(r.record);
  });

  it('makes the poisons hard to learn: an independently trained model misclassifies them (MNIST 14×14)', async () => {
    // Turner et al.'s mechanism: perturbed target-class images no longer look like their class, so a
    // victim can fit them only through the trigger. Measured on the perturbation alone (no trigger):
    // ASR itself is measured in bench/model-defenses.mjs.
    const clean = await mnist14('train', 1500);
    const surrogate = await train(clean, 9);
    const victim = await train(clean, 10);
    try {
      const r = await cleanLabelBackdoor(
        clean,
        surrogate,
        { target: 1, rate: 0.5, epsilon: 0.3, trigger },
        new Rng(4),
      );
      const plain = await cleanLabelBackdoor(
        clean,
        surrogate,
        { target: 1, rate: 0.5, epsilon: 0, trigger },
        new Rng(4),
      );
      expect(plain.record.indices).toEqual(r.record.indices);
      const size = 196;
      const pick = (x: Float32Array) => {
        const out = new Float32Array(r.record.indices.length * size);
        r.record.indices.forEach((i, j) => {
          out.set(x.subarray(i * size, (i + 1) * size), j * size);
        });
        return out;
      };
      const n = r.record.indices.length;
      const wrong = (p: Int32Array) => p.filter((c) => c !== 1).length / n;
      const onAdv = wrong(await victim.predict(pick(r.dataset.x), n));
      const onPlain = wrong(await victim.predict(pick(plain.dataset.x), n));
      expect(r.surrogateMisclassified).toBeGreaterThan(0.9);
      expect(onPlain).toBeLessThan(0.25);
      expect(onAdv).toBeGreaterThan(0.8); // measured 100%
    } finally {
      surrogate.dispose();
      victim.dispose();
    }
  });

  it('the corner trigger: reduced amplitude on the poisons, full amplitude at test time', async () => {
    const opts = {
      target: 2,
      rate: 0.2,
      epsilon: 0,
      trigger: { kind: 'corner' as const, amplitude: 0.25 },
    };
    const r = await cleanLabelBackdoor(clean, surrogate, opts, new Rng(5));
    expect(r.dataset.y).toEqual(clean.y);
    expect(r.record.params.trigger).toEqual({
      kind: 'corner',
      size: 3,
      corners: 'four',
      amplitude: 0.25,
    });
    expect(r.record.trigger).toBeUndefined();
    const shape = [8, 8, 1];
    const poisonRow = cornerTrigger({ kind: 'corner', amplitude: 0.25 });
    const full = cornerTrigger({ kind: 'corner' });
    const chosen = new Set(r.record.indices);
    for (let i = 0; i < clean.y.length; i++) {
      const orig = clean.x.subarray(i * 64, (i + 1) * 64);
      const row = r.dataset.x.subarray(i * 64, (i + 1) * 64);
      // ε = 0: the poison is the original with the reduced-amplitude trigger.
      expect(row).toEqual(chosen.has(i) ? poisonRow.apply(orig, shape, new Rng(0)) : orig);
    }
    const img = clean.x.slice(0, 64);
    expect(r.testTrigger.apply(img, shape, new Rng(0))).toEqual(full.apply(img, shape, new Rng(0)));
  });

  it('rejects bad parameters', async () => {
    const bad = [
      { target: 4, rate: 0.1, epsilon: 0.1, trigger },
      { target: 0, rate: 1, epsilon: 0.1, trigger },
      { target: 0, rate: 0, epsilon: 0.1, trigger },
      { target: 0, rate: 0.1, epsilon: -0.1, trigger },
      {
        target: 0,
        rate: 0.1,
        epsilon: 0.1,
        trigger: createTrigger({ kind: 'checkerboard', size: 9 }),
      },
      { target: 0, rate: 0.1, epsilon: 0.1, trigger: { kind: 'corner' as const, amplitude: 0 } },
      { target: 0, rate: 0.1, epsilon: 0.1, trigger: { kind: 'corner' as const, size: 5 } },
    ];
    for (const o of bad) {
      await expect(cleanLabelBackdoor(clean, surrogate, o, new Rng(1))).rejects.toSatisfy((e) =>
        isAntidoteError(e),
      );
    }
  });
});
