import { describe, expect, it } from 'vitest';
import { isAntidoteError } from '../errors.js';
import { evaluateDetection } from '../eval/detection.js';
import { nearestMeanClassifier, syntheticDataset, syntheticReps } from '../testing/synthetic.js';
import { Rng } from '../util/rng.js';
import {
  activationClustering,
  activationClusteringDetector,
  splitClass,
} from './activation-clustering.js';

const input = (s: ReturnType<typeof syntheticReps>) => ({
  reps: { data: s.data, dim: s.dim },
  y: s.y,
  classes: s.classes,
});

describe('activation clustering', () => {
  const poisoned = syntheticReps({ classes: 6, perClass: 300, dim: 24, poison: 33, seed: 3 });

  it('finds a small separated cluster and leaves clean classes alone (default analysis)', async () => {
    const report = await activationClustering(input(poisoned));
    const ev = evaluateDetection(report, { poisoned: poisoned.poisoned, y: poisoned.y });
    expect(ev.f1).toBeGreaterThanOrEqual(0.95);
    expect(ev.auc).toBeGreaterThanOrEqual(0.99);
    expect(ev.unattackedFpr).toBe(0);
    expect(report.perClass[0]!.suspicious).toBe(true);
    expect(report.perClass[0]!.reason).toMatch(/small, separated cluster/);
    for (const f of report.perClass.slice(1)) {
      expect(f.suspicious).toBe(false);
      expect(f.reason).toMatch(/^left alone: /);
    }
  });

  it('beats the reference "always the smaller cluster" rule, which flags clean classes', async () => {
    const naive = await activationClustering(input(poisoned), { analysis: 'smaller' });
    const ev = evaluateDetection(naive, { poisoned: poisoned.poisoned, y: poisoned.y });
    expect(ev.f1).toBeLessThan(0.3);
    expect(ev.unattackedFpr).toBeGreaterThan(0.2);
  });

  it('flags nothing in clean single-Gaussian classes', async () => {
    const clean = syntheticReps({ classes: 5, perClass: 300, dim: 24, seed: 9 });
    const report = await activationClustering(input(clean));
    expect(report.flagged.reduce((a, b) => a + b, 0)).toBe(0);
    expect(report.perClass.every((f) => !f.suspicious)).toBe(true);
  });

  it('with FastICA instead of PCA, finds the cluster and leaves Gaussian classes alone', async () => {
    const report = await activationClustering(input(poisoned), { reduce: 'ica' });
    const ev = evaluateDetection(report, { poisoned: poisoned.poisoned, y: poisoned.y });
    expect(ev.f1).toBeGreaterThanOrEqual(0.95);
    expect(ev.unattackedFpr).toBe(0);
    const clean = syntheticReps({ classes: 5, perClass: 300, dim: 24, seed: 9 });
    const none = await activationClustering(input(clean), { reduce: 'ica' });
    expect(none.flagged.reduce((a, b) => a + b, 0)).toBe(0);
    await expect(
      activationClustering(input(clean), { reduce: 'tsne' as unknown as 'ica' }),
    ).rejects.toSatisfy((e) => isAntidoteError(e));
  });

  it('is reproducible for a seed', async () => {
    const a = await activationClustering(input(poisoned), { seed: 5 });
    const b = await activationClustering(input(poisoned), { seed: 5 });
    expect(Array.from(a.scores)).toEqual(Array.from(b.scores));
  });

  it('offers the other analyses', async () => {
    const rel = await activationClustering(input(poisoned), { analysis: 'relative-size' });
    expect(rel.perClass[0]!.suspicious).toBe(true);
    const sil = await activationClustering(input(poisoned), { analysis: 'silhouette' });
    expect(sil.perClass[0]!.suspicious).toBe(true);
  });

  it('measures a split: relative size, silhouette and separation', () => {
    const idx = Int32Array.from({ length: 333 }, (_, i) => (i < 300 ? i : 6 * 300 + (i - 300)));
    const s = splitClass({ data: poisoned.data, dim: poisoned.dim }, idx, new Rng(1));
    expect(s.relativeSize).toBeCloseTo(33 / 333, 2);
    expect(s.separation).toBeGreaterThan(6);
    expect(s.silhouette).toBeGreaterThan(0.4);
  });

  it('exclusionary reclassification sends poison back to its source classes', async () => {
    const s = syntheticReps({
      classes: 4,
      perClass: 150,
      dim: 12,
      poison: 18,
      mode: 'source',
      seed: 4,
    });
    const ds = syntheticDataset(s);
    const report = await activationClusteringDetector.detect(ds, nearestMeanClassifier(ds), {
      analysis: 'exclusionary',
      layer: 'features',
      retrain: async (train) => nearestMeanClassifier(train),
    });
    const ev = evaluateDetection(report, { poisoned: s.poisoned, y: s.y });
    expect(ev.recall).toBeGreaterThanOrEqual(0.9);
    expect(ev.unattackedFpr).toBe(0);
    expect(report.perClass[0]!.stats.returnedToLabel).toBeLessThan(0.5);
  });

  it('rejects bad input with AntidoteErrors', async () => {
    const ds = syntheticDataset(poisoned);
    const model = nearestMeanClassifier(ds);
    await expect(
      activationClusteringDetector.detect(ds, { ...model, inputShape: [5] }, {}),
    ).rejects.toSatisfy((e) => isAntidoteError(e, 'SHAPE_MISMATCH'));
    await expect(
      activationClusteringDetector.detect(ds, model, { layer: 'nope' }),
    ).rejects.toSatisfy((e) => isAntidoteError(e, 'NOT_FOUND'));
    const y = Int32Array.from(poisoned.y);
    y[0] = 6; // class 6 gets a single record
    await expect(
      activationClustering({ ...input(poisoned), y, classes: [...poisoned.classes, 'lonely'] }),
    ).rejects.toSatisfy((e) => isAntidoteError(e, 'INVALID_ARGUMENT'));
    await expect(
      activationClustering(input(poisoned), { analysis: 'exclusionary' }),
    ).rejects.toSatisfy((e) => isAntidoteError(e, 'INVALID_ARGUMENT'));
  });
});
