import { beforeAll, describe, expect, it } from 'vitest';
import { backdoorAttack } from '../attacks/backdoor.js';
import type { Dataset } from '../data/dataset.js';
import { loadMnist } from '../data/mnist.js';
import { initEngine } from '../engine/backend.js';
import { type TfClassifier, trainClassifier } from '../engine/tf-classifier.js';
import { evaluateDetection, rocAuc } from '../eval/detection.js';
import { Rng } from '../util/rng.js';
import { activationClustering } from './activation-clustering.js';
import { computeRepresentations } from './representations.js';
import { spectre } from './spectre.js';

/**
 * End to end on a small poisoned MNIST subset: BadNets pattern trigger, all-to-one into class 0
 * at 20% of the target class, a small CNN trained on it, then the detectors on its penultimate layer.
 */
describe('detectors on a poisoned MNIST subset (end to end)', () => {
  let poisoned: Dataset;
  let truth: Uint8Array;
  let model: TfClassifier;

  beforeAll(async () => {
    await initEngine();
    const clean = await loadMnist('train', { limit: 3000 });
    const result = backdoorAttack.poison(
      clean,
      {
        mode: 'all-to-one',
        target: 0,
        trigger: { kind: 'pattern' },
        rate: 0.2,
        rateDefinition: 'of-target-class',
      },
      new Rng(1),
    );
    poisoned = result.dataset;
    truth = result.poisoned;
    model = await trainClassifier(poisoned, { model: 'cnn', seed: 1, epochs: 6, batchSize: 32 });
  }, 240_000);

  it('activation clustering finds the poison and leaves clean classes alone; the naive rule does not', async () => {
    const reps = await computeRepresentations(poisoned, model);
    const input = { reps, y: poisoned.y, classes: poisoned.classes };
    const report = await activationClustering(input);
    const ev = evaluateDetection(report, { poisoned: truth, y: poisoned.y });
    const naive = evaluateDetection(
      await activationClustering(input, { analysis: 'smaller', reduce: 'pca' }),
      {
        poisoned: truth,
        y: poisoned.y,
      },
    );
    expect(ev.unattackedFpr).toBeLessThanOrEqual(0.01);
    expect(ev.f1).toBeGreaterThan(naive.f1);
    expect(naive.f1).toBeLessThan(0.15);
    expect(ev.f1).toBeGreaterThanOrEqual(0.6);
    const target = report.perClass[0];
    expect(target!.suspicious).toBe(true);
    // Robust spectral scores rank the poison above the clean records of the target class.
    const sp = spectre(input);
    const mask = Uint8Array.from(poisoned.y, (c) => (c === 0 ? 1 : 0));
    expect(rocAuc(sp.scores, truth, mask)).toBeGreaterThan(0.9);
  });
});
