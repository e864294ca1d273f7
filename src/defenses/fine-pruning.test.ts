import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Dataset } from '../data/dataset.js';
import { initEngine } from '../engine/backend.js';
import type { TfClassifier } from '../engine/tf-classifier.js';
import { isAntidoteError } from '../errors.js';
import { evaluateBackdoor } from '../eval/metrics.js';
import { sliceRecords, syntheticImages, testTrigger, trainTestModel } from '../testing/images.js';
import { Rng } from '../util/rng.js';
import { finePrune } from './fine-pruning.js';
import { pruneDenseUnits } from './pruning.js';

describe('fine-pruning (synthetic 8×8 images, backdoored MLP)', () => {
  let model: TfClassifier;
  let train: Dataset;
  let val: Dataset;
  let test: Dataset;
  beforeAll(async () => {
    await initEngine();
    const all = syntheticImages({ classes: 4, perClass: 175, seed: 5 });
    train = sliceRecords(all, 0, 400);
    val = sliceRecords(all, 400, 100);
    test = sliceRecords(all, 500, 200);
    model = await trainTestModel(train, { rate: 0.1, model: { arch: 'mlp', hidden: [32] } });
  });
  afterAll(() => model?.dispose());

  it('pruneDenseUnits zeroes a unit in and out, and rejects bad units', () => {
    const m = model.model;
    const before = tf.memory().numTensors;
    const probe = tf.tidy(() => m.apply(tf.ones([1, 8, 8, 1])) as tf.Tensor);
    probe.dispose();
    expect(() => pruneDenseUnits(m, 'features', [32])).toThrow(/outside/);
    expect(() => pruneDenseUnits(m, 'flatten', [0])).toThrow(/Dense/);
    expect(() => pruneDenseUnits(m, 'nope', [0])).toThrow(/no layer/);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('bad parameters are rejected', async () => {
    for (const o of [
      { maxAccuracyDrop: 1 },
      { step: 0 },
      { maxFraction: 1 },
      { fineTuneEpochs: -1 },
    ]) {
      await expect(finePrune(model, train, val, { seed: 1, ...o })).rejects.toSatisfy((e) =>
        isAntidoteError(e, 'INVALID_ARGUMENT'),
      );
    }
    await expect(finePrune(model, train, val, { seed: 1, layer: 'flatten' })).rejects.toSatisfy(
      (e) => isAntidoteError(e, 'INVALID_ARGUMENT'),
    );
  });

  it('prunes dormant units within the accuracy budget; fine-tuning keeps them off', async () => {
    const targeting = { mode: 'all-to-one' as const, target: 0 };
    const asrBefore = await evaluateBackdoor(model, test, testTrigger, targeting, new Rng(1));
    const r = await finePrune(model, train, val, {
      seed: 2,
      maxAccuracyDrop: 0.04,
      fineTuneEpochs: 3,
    });
    expect(r.pruned.length).toBeGreaterThan(0);
    expect(r.accuracyAfterPruning).toBeGreaterThanOrEqual(r.accuracyBefore - 0.04);
    // Ranked by mean clean activation, most dormant first.
    for (let i = 1; i < r.pruned.length; i++) {
      expect(r.meanActivation[r.pruned[i]!]).toBeGreaterThanOrEqual(
        r.meanActivation[r.pruned[i - 1]!]!,
      );
    }
    const [kernel, bias] = model.model.getLayer('features').getWeights();
    const k = kernel!.arraySync() as number[][];
    const b = bias!.arraySync() as number[];
    for (const u of r.pruned) {
      expect(b[u] === 0).toBe(true);
      expect(k.every((row) => row[u] === 0)).toBe(true);
    }
    // Pruned units are silent on every input, triggered ones included.
    const acts = await model.activations(test.x, 200, 'features');
    for (const u of r.pruned) {
      for (let i = 0; i < 200; i++) expect(acts.data[i * acts.dim + u]).toBe(0);
    }
    const asrAfter = await evaluateBackdoor(model, test, testTrigger, targeting, new Rng(1));
    expect(asrAfter.attackSuccessRate).toBeLessThanOrEqual(asrBefore.attackSuccessRate);
  });
});
