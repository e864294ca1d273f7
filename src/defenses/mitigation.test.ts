import { describe, expect, it } from 'vitest';
import type { Dataset } from '../data/dataset.js';
import type { Classifier } from '../engine/classifier.js';
import { isAntidoteError } from '../errors.js';
import { activationClustering } from './activation-clustering.js';
import {
  applyReport,
  defenseEffectivenessRating,
  mitigate,
  scoreModel,
  type TriggeredInputs,
} from './mitigation.js';
import { syntheticDataset, syntheticReps } from './test-utils/synthetic.js';

/** 1-nearest-neighbour classifier: memorises its training set, backdoor included. */
function oneNN(train: Dataset): Classifier {
  const d = train.shape[1]!;
  const k = train.classes.length;
  const n = train.y.length;
  const predict = async (x: Float32Array, m: number) => {
    const out = new Int32Array(m);
    for (let i = 0; i < m; i++) {
      let best = Number.POSITIVE_INFINITY;
      for (let r = 0; r < n; r++) {
        let s = 0;
        for (let j = 0; j < d!; j++) s += (x[i * d! + j]! - train.x[r * d! + j]!) ** 2;
        if (s < best) {
          best = s;
          out[i] = train.y[r]!;
        }
      }
    }
    return out;
  };
  return {
    inputShape: [d],
    numClasses: k,
    layerNames: ['features'],
    predict,
    predictProba: async (x, m) => {
      const p = await predict(x, m);
      const out = new Float32Array(m * k);
      for (let i = 0; i < m; i++) out[i * k + p[i]!] = 1;
      return out;
    },
    activations: async (x, m) => ({ data: x.slice(0, m * d), dim: d }),
  };
}

describe('DER', () => {
  it('follows (max(0, ΔASR) − max(0, ΔACC) + 1) / 2', () => {
    const before = { cleanAccuracy: 0.99, attackSuccessRate: 0.95, robustAccuracy: 0.04 };
    expect(
      defenseEffectivenessRating(before, {
        cleanAccuracy: 0.99,
        attackSuccessRate: 0.01,
        robustAccuracy: 0.98,
      }),
    ).toBeCloseTo(0.97);
    expect(
      defenseEffectivenessRating(before, {
        cleanAccuracy: 0.89,
        attackSuccessRate: 0.95,
        robustAccuracy: 0.04,
      }),
    ).toBeCloseTo(0.45);
    // Accuracy gains and ASR increases are clipped to 0.
    expect(
      defenseEffectivenessRating(before, {
        cleanAccuracy: 1,
        attackSuccessRate: 0.99,
        robustAccuracy: 0,
      }),
    ).toBeCloseTo(0.5);
    expect(
      defenseEffectivenessRating(
        { ...before, attackSuccessRate: null },
        { ...before, attackSuccessRate: 0 },
      ),
    ).toBeNull();
  });
});

describe('applyReport', () => {
  const ds: Dataset = {
    x: Float32Array.from([0, 1, 2, 3]),
    shape: [4, 1],
    y: Int32Array.from([0, 1, 0, 1]),
    classes: ['a', 'b'],
    ids: ['r0', 'r1', 'r2', 'r3'],
  };

  it('drops flagged records', () => {
    const out = applyReport(ds, { flagged: Uint8Array.from([0, 1, 0, 1]) });
    expect(out.dataset.ids).toEqual(['r0', 'r2']);
    expect(out.droppedIds).toEqual(['r1', 'r3']);
  });

  it('relabels with suggested labels, dropping flags without a suggestion', () => {
    const out = applyReport(
      ds,
      { flagged: Uint8Array.from([1, 1, 0, 0]), suggestedLabels: Int32Array.from([1, -1, 0, 0]) },
      'relabel',
    );
    expect(out.dataset.ids).toEqual(['r0', 'r2', 'r3']);
    expect(Array.from(out.dataset.y)).toEqual([1, 0, 1]);
    expect(out.relabelledIds).toEqual(['r0']);
    expect(out.droppedIds).toEqual(['r1']);
    expect(Array.from(ds.y)).toEqual([0, 1, 0, 1]);
  });

  it('matches by id and rejects unknown ids', () => {
    const out = applyReport(ds, { flagged: Uint8Array.from([1]) }, 'drop', ['r2']);
    expect(out.droppedIds).toEqual(['r2']);
    let err: unknown;
    try {
      applyReport(ds, { flagged: Uint8Array.from([1]) }, 'drop', ['zz']);
    } catch (e) {
      err = e;
    }
    expect(isAntidoteError(err, 'NOT_FOUND')).toBe(true);
  });
});

describe('mitigate', () => {
  it('removes a backdoor found by activation clustering: ASR falls, accuracy holds, DER ≈ 1', async () => {
    const s = syntheticReps({
      classes: 4,
      perClass: 120,
      dim: 12,
      poison: 16,
      mode: 'source',
      seed: 6,
    });
    const train = syntheticDataset(s);
    // Test data from the same distributions, and its triggered copy (trigger = +3 on the last 2 dims).
    const t = syntheticReps({ classes: 4, perClass: 40, dim: 12, seed: 6 });
    const test = syntheticDataset(t);
    const trigX = Float32Array.from(test.x);
    for (let i = 0; i < test.y.length; i++) {
      trigX[i * 12 + 10]! += 3;
      trigX[i * 12 + 11]! += 3;
    }
    const keep = Array.from(test.y.keys()).filter((i) => test.y[i] !== 0);
    const triggered: TriggeredInputs = {
      x: Float32Array.from(keep.flatMap((i) => Array.from(trigX.subarray(i * 12, i * 12 + 12)))),
      n: keep.length,
      yTrue: Int32Array.from(keep, (i) => test.y[i]!),
      targets: new Int32Array(keep.length),
    };
    const report = await activationClustering({
      reps: { data: train.x, dim: 12 },
      y: train.y,
      classes: train.classes,
    });
    const result = await mitigate(train, report, {
      before: oneNN(train),
      retrain: async (ds) => oneNN(ds),
      evaluate: (m) => scoreModel(m, test, triggered),
    });
    expect(result.before.attackSuccessRate).toBeGreaterThan(0.5);
    expect(result.after.attackSuccessRate).toBeLessThan(0.05);
    expect(result.after.cleanAccuracy).toBeGreaterThanOrEqual(result.before.cleanAccuracy - 0.01);
    expect(result.der).toBeGreaterThan(0.7);
    expect(result.droppedIds.length).toBeGreaterThanOrEqual(16);
  });
});
