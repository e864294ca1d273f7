import { describe, expect, it } from 'vitest';
import { resolveFeatureTrigger } from '../attacks/tabular-backdoor.js';
import type { Dataset } from '../data/dataset.js';
import { loadSentiment } from '../data/datasets/sentiment.js';
import type { TabularColumn } from '../data/datasets/tabular.js';
import { stratifiedSplit } from '../data/transform.js';
import { discoverKeywords } from '../defenses/keyword-discovery.js';
import { computeRepresentations } from '../defenses/representations.js';
import { spectralSignatures } from '../defenses/spectral-signatures.js';
import { Rng } from '../util/rng.js';
import { runFeatureExperiment } from './text-experiment.js';

describe('text experiment on the UCI sentiment sentences (yelp, 1000)', () => {
  it('rare-word backdoor at 10%: high ASR, detectors scored against the ground truth', async () => {
    const all = await loadSentiment({ sources: ['yelp'] });
    const { train, test } = stratifiedSplit(all, 0.2, new Rng(1));
    const run = await runFeatureExperiment({
      train,
      test,
      attack: {
        attack: 'text-backdoor',
        mode: 'all-to-one',
        target: 1,
        rate: 0.1,
        trigger: { kind: 'words', words: ['cf'] },
      },
      textModel: { kind: 'embedding-bag', epochs: 30, batchSize: 32 },
      seed: 3,
      detectors: {
        keywords: async (victim, ds) =>
          discoverKeywords(ds, (texts) => victim.text!.predictProbaTexts(texts)),
        spectral: async (victim, ds) => {
          const f = victim.featurize(ds);
          const reps = await computeRepresentations(f, victim.text!.classifier);
          return spectralSignatures({ reps, y: f.y, classes: f.classes });
        },
      },
    });
    const r = run.result;
    expect(r.poison.count).toBe(80);
    expect(r.clean.attackSuccessRate!).toBeLessThan(0.5);
    // Measured 0.89 here (800 sentences, mean pooling dilutes one word in long sentences).
    expect(r.poisoned.attackSuccessRate!).toBeGreaterThan(0.8);
    expect(r.accuracyDrop).toBeLessThan(0.05);
    const kw = r.detection.keywords!;
    expect((kw.extra as { keywords: { token: string }[] }).keywords[0]!.token).toBe('cf');
    expect(kw.metrics.f1).toBeGreaterThan(0.9);
    expect(r.detection.spectral!.metrics.n).toBe(800);
    expect(JSON.parse(JSON.stringify(r)).poisoned.accuracy).toBe(r.poisoned.accuracy);
  });

  it('validates the attack before training', async () => {
    const ds: Dataset = {
      x: new Float32Array(0),
      shape: [4, 0],
      y: Int32Array.from([0, 1, 0, 1]),
      classes: ['a', 'b'],
      ids: ['0', '1', '2', '3'],
      text: ['x', 'y', 'x', 'y'],
    };
    await expect(
      runFeatureExperiment({
        train: ds,
        test: ds,
        attack: {
          attack: 'text-backdoor',
          mode: 'all-to-one',
          target: 5,
          rate: 0.1,
          trigger: { kind: 'words', words: ['cf'] },
        },
        seed: 0,
      }),
    ).rejects.toThrow(/target/);
  });
});

describe('tabular experiment (synthetic credit data)', () => {
  it('feature-value backdoor bad → good and a targeted flip', async () => {
    const columns: TabularColumn[] = [
      { name: 'amount', kind: 'numeric' },
      { name: 'status', kind: 'categorical', levels: ['none', 'low', 'high'] },
      { name: 'age', kind: 'numeric' },
    ];
    const rng = new Rng(5);
    const n = 600;
    const x = new Float32Array(n * 3);
    const y = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const amount = rng.normal(5, 2);
      const status = rng.int(3);
      const age = rng.normal(40, 10);
      x.set([amount, status, age], i * 3);
      y[i] = amount + rng.normal(0, 1) > 6 ? 1 : 0; // 1 = bad
    }
    const ds: Dataset = {
      x,
      shape: [n, 3],
      y,
      classes: ['good', 'bad'],
      ids: Array.from({ length: n }, (_, i) => `c${i}`),
    };
    const { train, test } = stratifiedSplit(ds, 0.25, new Rng(2));
    const trigger = resolveFeatureTrigger(columns, { status: 'high', age: 99 });
    const run = await runFeatureExperiment({
      train,
      test,
      columns,
      attack: {
        attack: 'tabular-backdoor',
        mode: 'source-to-target',
        source: 1,
        target: 0,
        rate: 0.1,
        trigger,
      },
      tabularModel: { model: 'mlp', epochs: 40 },
      seed: 1,
    });
    expect(run.result.clean.accuracy).toBeGreaterThan(0.75);
    expect(run.result.poisoned.attackSuccessRate!).toBeGreaterThan(0.8);
    expect(run.result.clean.attackSuccessRate!).toBeLessThan(0.5);
    const flip = await runFeatureExperiment({
      train,
      test,
      columns,
      attack: { attack: 'label-flip', mode: 'targeted', source: 1, target: 0, rate: 0.2 },
      tabularModel: { model: 'logistic', epochs: 20 },
      seed: 1,
    });
    expect(flip.result.poisoned.sourceClassAccuracy!).toBeLessThan(
      flip.result.clean.sourceClassAccuracy!,
    );
  });
});
