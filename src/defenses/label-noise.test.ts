import { describe, expect, it } from 'vitest';
import { isAntidoteError } from '../errors.js';
import { evaluateDetection } from '../eval/detection.js';
import { nearestMeanClassifier, syntheticDataset, syntheticReps } from '../testing/synthetic.js';
import { Rng } from '../util/rng.js';
import { knnConsistency } from './knn-consistency.js';
import { confidentLearningDetector, findLabelIssues, stratifiedFolds } from './label-noise.js';

/** True labels, noisy probabilities around them, and 20% random flips of the given labels. */
function noisyProbs(n: number, k: number, flipRate: number, seed: number) {
  const rng = new Rng(seed);
  const truth = Int32Array.from({ length: n }, () => rng.int(k));
  const probs = new Float32Array(n * k);
  for (let i = 0; i < n; i++) {
    const conf = rng.uniform(0.45, 0.99);
    let rest = 0;
    const other = new Float64Array(k);
    for (let j = 0; j < k; j++) if (j !== truth[i]) rest += other[j] = rng.next();
    for (let j = 0; j < k; j++) {
      probs[i * k + j] = j === truth[i] ? conf : ((1 - conf) * other[j]!) / rest;
    }
  }
  const y = Int32Array.from(truth);
  const flipped = new Uint8Array(n);
  for (const i of rng.sample(n, Math.round(flipRate * n))) {
    y[i] = (truth[i]! + 1 + rng.int(k - 1)) % k;
    flipped[i] = 1;
  }
  return { truth, y, probs, flipped };
}

describe('findLabelIssues (confident learning)', () => {
  it('finds random 20% flips with precision ≥ 0.9 and recall ≥ 0.8', () => {
    const { y, probs, flipped, truth } = noisyProbs(3000, 5, 0.2, 1);
    const res = findLabelIssues(y, probs);
    const ev = evaluateDetection(
      { scores: res.selfConfidence.map((p) => 1 - p), flagged: res.issues },
      { poisoned: flipped },
    );
    expect(ev.precision).toBeGreaterThanOrEqual(0.9);
    expect(ev.recall).toBeGreaterThanOrEqual(0.8);
    expect(res.noiseRate).toBeGreaterThan(0.15);
    expect(res.noiseRate).toBeLessThan(0.25);
    let right = 0;
    let total = 0;
    for (let i = 0; i < y.length; i++) {
      if (res.issues[i]) {
        total++;
        if (res.suggestedLabels[i] === truth[i]) right++;
      }
    }
    expect(right / total).toBeGreaterThan(0.9);
  });

  it('computes thresholds and the confident joint exactly on a small case', () => {
    // labels: 0,0,1,1 ; t0 = mean(0.9, 0.2) = 0.55, t1 = mean(0.8, 0.7) = 0.75
    const y = Int32Array.from([0, 0, 1, 1]);
    const probs = Float32Array.from([0.9, 0.1, 0.2, 0.8, 0.2, 0.8, 0.3, 0.7]);
    const res = findLabelIssues(y, probs, { filterBy: 'confident-joint' });
    expect(res.thresholds[0]).toBeCloseTo(0.55);
    expect(res.thresholds[1]).toBeCloseTo(0.75);
    expect(res.confidentJoint).toEqual([
      [1, 1],
      [0, 1],
    ]);
    expect(Array.from(res.issues)).toEqual([0, 1, 0, 0]);
  });

  it('flags nothing when labels agree with confident predictions', () => {
    const { truth, probs } = noisyProbs(500, 4, 0, 2);
    const res = findLabelIssues(truth, probs);
    expect(res.issues.reduce((a, b) => a + b, 0)).toBe(0);
  });

  it('rejects malformed input', () => {
    expect(() => findLabelIssues(Int32Array.from([0, 1]), new Float32Array(3))).toThrow(
      expect.objectContaining({ code: 'SHAPE_MISMATCH' }),
    );
    expect(() => findLabelIssues(Int32Array.from([0, 3]), new Float32Array(4))).toThrow(
      expect.objectContaining({ code: 'LABEL_OUT_OF_RANGE' }),
    );
  });
});

describe('confidentLearningDetector', () => {
  it('uses out-of-sample probabilities from k-fold training', async () => {
    const s = syntheticReps({ classes: 4, perClass: 150, dim: 8, seed: 5 });
    const ds = syntheticDataset(s);
    // Overlapping classes: shrink the features so the nearest-mean model is uncertain.
    const rng = new Rng(7);
    const y = Int32Array.from(ds.y);
    const flipped = new Uint8Array(y.length);
    for (const i of rng.sample(y.length, 120)) {
      y[i] = (y[i]! + 1 + rng.int(3)) % 4;
      flipped[i] = 1;
    }
    const noisy = { ...ds, y };
    let calls = 0;
    const report = await confidentLearningDetector.detect(noisy, nearestMeanClassifier(noisy, 20), {
      folds: 4,
      trainFold: async (train) => {
        calls++;
        return nearestMeanClassifier(train, 20);
      },
    });
    expect(calls).toBe(4);
    expect(report.params.probabilities).toBe('out-of-sample');
    const ev = evaluateDetection(report, { poisoned: flipped, y });
    expect(ev.precision).toBeGreaterThanOrEqual(0.9);
    expect(ev.recall).toBeGreaterThanOrEqual(0.8);
    expect(ev.auc).toBeGreaterThan(0.95);
    expect(report.suggestedLabels).toBeDefined();
  });

  it('spreads classes evenly over stratified folds', () => {
    const y = Int32Array.from({ length: 100 }, (_, i) => i % 4);
    const folds = stratifiedFolds(y, 5, new Rng(1));
    for (let c = 0; c < 4; c++) {
      const per = new Array(5).fill(0);
      for (let i = 0; i < 100; i++) if (y[i] === c) per[folds[i]!]++;
      expect(per).toEqual([5, 5, 5, 5, 5]);
    }
  });
});

describe('knnConsistency', () => {
  it('finds flipped labels among well-separated classes and suggests the true label', () => {
    const s = syntheticReps({ classes: 5, perClass: 200, dim: 20, seed: 8 });
    const rng = new Rng(3);
    const y = Int32Array.from(s.y);
    const flipped = new Uint8Array(y.length);
    for (const i of rng.sample(y.length, 100)) {
      y[i] = (y[i]! + 1 + rng.int(4)) % 5;
      flipped[i] = 1;
    }
    const report = knnConsistency({ reps: { data: s.data, dim: s.dim }, y, classes: s.classes });
    const ev = evaluateDetection(report, { poisoned: flipped, y });
    expect(ev.f1).toBeGreaterThanOrEqual(0.95);
    for (let i = 0; i < y.length; i++) {
      if (report.flagged[i] && flipped[i]) expect(report.suggestedLabels![i]).toBe(s.y[i]);
    }
  });

  it('leaves clean data alone and rejects too few records', () => {
    const s = syntheticReps({ classes: 3, perClass: 100, dim: 10, seed: 2 });
    const report = knnConsistency({
      reps: { data: s.data, dim: s.dim },
      y: s.y,
      classes: s.classes,
    });
    expect(report.flagged.reduce((a, b) => a + b, 0)).toBe(0);
    let err: unknown;
    try {
      knnConsistency({
        reps: { data: new Float32Array(3), dim: 1 },
        y: new Int32Array(3),
        classes: ['a'],
      });
    } catch (e) {
      err = e;
    }
    expect(isAntidoteError(err, 'INVALID_ARGUMENT')).toBe(true);
  });
});
