import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Dataset } from '../data/dataset.js';
import { initEngine } from '../engine/backend.js';
import type { TfClassifier } from '../engine/tf-classifier.js';
import { isAntidoteError } from '../errors.js';
import { evaluateBackdoor, evaluateClean } from '../eval/metrics.js';
import { sliceRecords, syntheticImages, testTrigger, trainTestModel } from '../testing/images.js';
import { Rng } from '../util/rng.js';
import {
  anomalyIndices,
  neuralCleanse,
  neuralCleanseDecision,
  reverseTrigger,
  stampReversedTrigger,
} from './neural-cleanse.js';
import { pruneTriggerNeurons } from './trigger-pruning.js';
import { unlearnBackdoor, unlearningDataset } from './unlearning.js';

describe('Neural Cleanse primitives', () => {
  it('anomaly index is |x − median| / (1.4826·MAD)', () => {
    const a = anomalyIndices([1, 2, 3, 4, 100]);
    expect(a.median).toBe(3);
    expect(a.mad).toBe(1);
    expect(a.index[0]).toBeCloseTo(2 / 1.4826, 10);
    expect(a.index[4]).toBeCloseTo(97 / 1.4826, 10);
    expect(anomalyIndices([5, 5, 5]).index).toEqual([0, 0, 0]);
    expect(() => anomalyIndices([])).toThrow(/finite/);
  });

  // Mask L1 norms measured on MNIST cnns (bench model-defenses: BadNets → class 0, and clean).
  const classes = Array.from({ length: 10 }, (_, c) => c);
  const badnets = [4, 94.5, 48, 22.7, 87.3, 37.6, 55.1, 81.4, 46.3, 85.9];
  const clean = [87.3, 105.4, 39.7, 35.9, 77.9, 80, 58.7, 91, 51.2, 53.2];

  it('flags the backdoor target on log norms where the linear index misses it', () => {
    const log = neuralCleanseDecision(badnets, classes);
    expect(log.anomalyScale).toBe('log');
    expect(log.flagged).toEqual([0]);
    expect(log.suspectedTarget).toBe(0);
    expect(log.anomalyIndex[0]).toBeGreaterThan(3);
    expect(log.linearAnomalyIndex[0]).toBeLessThan(2);
    const linear = neuralCleanseDecision(badnets, classes, { anomalyScale: 'linear' });
    expect(linear.flagged).toEqual([]);
    expect(linear.anomalyIndex).toEqual(log.linearAnomalyIndex);
    // Above the median is never flagged, however far out.
    const big = neuralCleanseDecision([...badnets.slice(1), 10_000], classes.slice(1).concat(0));
    expect(big.flagged).not.toContain(0);
  });

  it('flags nothing on a clean model, on either scale', () => {
    expect(neuralCleanseDecision(clean, classes).flagged).toEqual([]);
    expect(neuralCleanseDecision(clean, classes, { anomalyScale: 'linear' }).flagged).toEqual([]);
    expect(() => neuralCleanseDecision([1, 2], classes)).toThrow(/one non-negative mask norm/);
  });

  it('stamps (1 − m)·x + m·p with the mask broadcast over channels', () => {
    const x = Float32Array.from([0, 0, 1, 1, 0.5, 0.5, 0.2, 0.2]); // 1 record, 2×2 pixels... as [2,1,2]
    const out = stampReversedTrigger(x, 1, {
      mask: Float32Array.from([1, 0, 0.5, 0]),
      pattern: Float32Array.from([0.9, 0.8, 0, 0, 1, 1, 0, 0]),
    });
    expect(Array.from(out)).toEqual([
      0.8999999761581421, 0.800000011920929, 1, 1, 0.75, 0.75, 0.20000000298023224,
      0.20000000298023224,
    ]);
    expect(() =>
      stampReversedTrigger(x, 2, { mask: new Float32Array(4), pattern: new Float32Array(8) }),
    ).toThrow(/does not fit/);
  });
});

const ncOptions = { seed: 1, epochs: 10, stepsPerEpoch: 10, initCost: 1e-2 };
const cnn = { arch: 'cnn' as const, filters: [4, 8] as [number, number], hidden: [16] };

describe('Neural Cleanse on a backdoored CNN (synthetic 8×8 images, 10 classes)', () => {
  let model: TfClassifier;
  let train: Dataset;
  let pool: Dataset;
  let test: Dataset;
  beforeAll(async () => {
    await initEngine();
    const all = syntheticImages({ classes: 10, perClass: 80, seed: 3 });
    train = sliceRecords(all, 0, 600);
    pool = sliceRecords(all, 600, 100);
    test = sliceRecords(all, 700, 100);
    model = await trainTestModel(train, { rate: 0.1, target: 0, model: cnn });
  });
  afterAll(() => model?.dispose());

  it('rejects bad parameters', async () => {
    const clean = { x: pool.x, n: 100 };
    for (const run of [
      () => reverseTrigger(model, clean, 10, { seed: 1 }),
      () => reverseTrigger(model, clean, 0, { seed: 1, epochs: 0 }),
      () => reverseTrigger(model, clean, 0, { seed: 1, learningRate: -1 }),
      () => reverseTrigger(model, clean, 0, { seed: 1, initialMask: 1 }),
      () => reverseTrigger(model, { x: pool.x, n: 99 }, 0, { seed: 1 }),
      () => neuralCleanse(model, clean, { seed: 1, classes: [0, 1] }),
    ]) {
      await expect(run()).rejects.toSatisfy((e) => isAntidoteError(e));
    }
  });

  it('flags the target class, finds the planted trigger, leaves no tensors, unlearning removes it', async () => {
    const before = tf.memory().numTensors;
    const report = await neuralCleanse(model, { x: pool.x, n: 100 }, ncOptions);
    expect(tf.memory().numTensors).toBe(before);
    expect(report.flagged).toEqual([0]);
    expect(report.suspectedTarget).toBe(0);
    expect(report.maskL1[0]).toBeLessThan(anomalyIndices(report.maskL1).median / 2);
    expect(report.triggers[0]!.reachedThreshold).toBe(true);
    // The reversed trigger concentrates where the planted one is: the bottom-right 3×3 corner
    // holds 14% of the pixels; measured 34% of the mask's mass.
    const m = report.triggers[0]!.mask;
    let corner = 0;
    for (let i = 5; i < 8; i++) for (let j = 5; j < 8; j++) corner += m[i * 8 + j]!;
    expect(corner / report.maskL1[0]!).toBeGreaterThan(0.25);

    const targeting = { mode: 'all-to-one' as const, target: 0 };
    const asrBefore = await evaluateBackdoor(model, test, testTrigger, targeting, new Rng(2));
    const accBefore = await evaluateClean(model, test);
    expect(asrBefore.attackSuccessRate).toBeGreaterThan(0.9);
    const ds = unlearningDataset(train, report.triggers[0]!, 0.2, 3);
    expect(Array.from(ds.y)).toEqual(Array.from(train.y));
    expect(ds.x).not.toEqual(train.x);
    await unlearnBackdoor(model, train, report.triggers[0]!, {
      seed: 3,
      epochs: 3,
      learningRate: 0.005,
    });
    const asrAfter = await evaluateBackdoor(model, test, testTrigger, targeting, new Rng(2));
    const accAfter = await evaluateClean(model, test);
    expect(asrAfter.attackSuccessRate).toBeLessThan(0.2);
    expect(accAfter.accuracy).toBeGreaterThan(accBefore.accuracy - 0.05);
  });
});

describe('Neural Cleanse on a clean model', () => {
  it('flags no class; trigger pruning runs within its bounds', async () => {
    await initEngine();
    const all = syntheticImages({ classes: 10, perClass: 80, seed: 3 });
    const model = await trainTestModel(sliceRecords(all, 0, 600), { rate: 0, model: cnn });
    try {
      const pool = sliceRecords(all, 600, 100);
      const report = await neuralCleanse(model, { x: pool.x, n: 100 }, ncOptions);
      expect(report.flagged).toEqual([]);
      const pr = await pruneTriggerNeurons(model, pool.x, 100, report.triggers[0]!, {
        maxFraction: 0.25,
      });
      expect(pr.pruned.length).toBeLessThanOrEqual(4);
      expect(pr.asrAfter).toBeLessThanOrEqual(pr.asrBefore);
    } finally {
      model.dispose();
    }
  });
});
