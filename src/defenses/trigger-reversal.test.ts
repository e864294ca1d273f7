import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backdoorAttack } from '../attacks/backdoor.js';
import type { Dataset } from '../data/dataset.js';
import { initEngine } from '../engine/backend.js';
import { type TfClassifier, trainClassifier } from '../engine/tf-classifier.js';
import { fakeModel } from '../testing/fake-model.js';
import { syntheticImages, testTrigger } from '../testing/images.js';
import { Rng } from '../util/rng.js';
import { STRONG_EVIDENCE } from './detector.js';
import { detectorByName } from './registry.js';
import { carriesTrigger, triggerReversalScan } from './trigger-reversal.js';

const cnn = { arch: 'cnn' as const, filters: [4, 8] as [number, number], hidden: [16] };
// A longer optimisation than the default (24 epochs): the tiny model's clean classes are close.
const options = { seed: 1, epochs: 30 };
const train = (ds: Dataset) =>
  trainClassifier(ds, { model: cnn, seed: 1, epochs: 15, batchSize: 32, learningRate: 0.01 });

describe('carriesTrigger', () => {
  it('is minus the mask-weighted mean squared difference to the pattern', () => {
    // Two records of 2×1 pixels, 1 channel; the mask weighs pixel 0 only.
    const x = Float32Array.from([1, 0, 0.5, 1]);
    const r = carriesTrigger(x, 2, {
      mask: Float32Array.from([1, 0]),
      pattern: Float32Array.from([1, 0]),
    });
    expect(Array.from(r)).toEqual([-0, -0.25]);
  });
});

describe('trigger reversal (nc) on synthetic 16×16 images, 10 classes', () => {
  let poisoned: Dataset;
  let truth: Set<number>;
  let backdoored: TfClassifier;
  let clean: TfClassifier;
  let cleanSet: Dataset;
  beforeAll(async () => {
    await initEngine();
    cleanSet = syntheticImages({ classes: 10, perClass: 100, side: 16, seed: 3 });
    // BadNets all-to-one into class 0: 20 records (2% of the set, a sixth of class 0) with a 3×3
    // checkerboard in the bottom-right corner.
    const r = backdoorAttack.poison(
      cleanSet,
      { mode: 'all-to-one', target: 0, trigger: testTrigger, rate: 0.02 },
      new Rng(1),
    );
    poisoned = r.dataset;
    truth = new Set(r.record.indices);
    backdoored = await train(poisoned);
    clean = await train(cleanSet);
  });
  afterAll(() => {
    backdoored?.dispose();
    clean?.dispose();
  });

  it('names the target class strongly and flags the records that carry the trigger', async () => {
    expect(truth.size).toBe(20);
    const report = await triggerReversalScan(poisoned, backdoored, options);
    const target = report.perClass[0]!;
    expect(target.suspicious).toBe(true);
    expect(target.strength).toBeGreaterThanOrEqual(STRONG_EVIDENCE);
    for (const f of report.perClass.slice(1)) expect(f.suspicious).toBe(false);
    const flagged = [...report.flagged.keys()].filter((i) => report.flagged[i] === 1);
    const hits = flagged.filter((i) => truth.has(i)).length;
    // Measured: 9 flagged, all poison (precision 1, recall 0.45): on these noisy blobs only the
    // poisons whose corner stands out from the class's noise pass the 3.5-SD record cut.
    expect(hits / flagged.length).toBeGreaterThanOrEqual(0.9);
    expect(hits / truth.size).toBeGreaterThanOrEqual(0.4);
    expect(flagged.every((i) => poisoned.y[i] === 0)).toBe(true);
  });

  it('finds no strong class and flags nothing on a clean model', async () => {
    const report = await triggerReversalScan(cleanSet, clean, options);
    for (const f of report.perClass) expect(f.strength ?? 0).toBeLessThan(STRONG_EVIDENCE);
    expect(report.flagged.reduce((a, b) => a + b, 0)).toBe(0);
  });

  it('says "not run" without grading for a model without gradients', async () => {
    const ds = cleanSet;
    const report = await detectorByName('nc').detect(ds, fakeModel(ds.shape.slice(1), 10), {
      seed: 1,
    });
    expect(report.params.ran).toBe(false);
    expect(
      report.perClass.every((f) => f.strength === undefined && /^not run/.test(f.reason)),
    ).toBe(true);
  });
});
