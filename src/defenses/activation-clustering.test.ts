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
import { STRONG_EVIDENCE } from './detector.js';

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

  it('splits each class in both spaces: finds poison that robust whitening hides among halos', async () => {
    // ReLU-like activations with sparse bursts (3% of the coordinates jump by |N(0, 4²)|): robust
    // whitening turns every class's bursts into a separated-looking halo, so the 60 poisoned
    // records of class 0 (shifted by 4 along four coordinates) do not stand out there; a plain
    // PCA split separates them (the Fashion-MNIST pattern case of the detection matrix).
    const rng = new Rng(4);
    const k = 6;
    const dim = 24;
    const mu = Array.from({ length: k * dim }, () => rng.normal(0, 1));
    const rows: number[] = [];
    const y: number[] = [];
    const truth: number[] = [];
    for (let c = 0; c < k; c++) {
      for (let t = 0; t < (c === 0 ? 660 : 600); t++) {
        const poison = c === 0 && t >= 600;
        for (let j = 0; j < dim; j++) {
          const base = mu[c * dim + j]! + rng.normal() * 0.5;
          const burst = rng.next() < 0.03 ? Math.abs(rng.normal()) * 4 : 0;
          rows.push(Math.max(0, base + burst + (poison && j < 4 ? 4 : 0)));
        }
        y.push(c);
        truth.push(poison ? 1 : 0);
      }
    }
    const data = {
      reps: { data: Float32Array.from(rows), dim },
      y: Int32Array.from(y),
      classes: Array.from({ length: k }, (_, c) => `c${c}`),
    };
    const truthOf = { poisoned: Uint8Array.from(truth), y: data.y };
    const whitened = await activationClustering(data, { seed: 1, reduce: 'whitened' });
    expect(whitened.perClass[0]!.strength!).toBeLessThan(STRONG_EVIDENCE);
    expect(evaluateDetection(whitened, truthOf).recall).toBe(0);
    const report = await activationClustering(data, { seed: 1 }); // default: whitened+pca
    expect(report.params.reduce).toBe('whitened+pca');
    expect(report.perClass[0]!.strength!).toBeGreaterThanOrEqual(STRONG_EVIDENCE);
    expect(report.perClass[0]!.stats.space).toBe('pca');
    expect(evaluateDetection(report, truthOf).recall).toBe(1);
    expect(evaluateDetection(report, truthOf).unattackedFpr).toBe(0);
    for (const f of report.perClass.slice(1)) expect(f.strength!).toBeLessThan(STRONG_EVIDENCE);
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

  it('calibrated: grades every class, strong only where poison is (strength ≥ 3.5)', async () => {
    const report = await activationClustering(input(poisoned));
    expect(report.perClass[0]!.strength).toBeGreaterThanOrEqual(STRONG_EVIDENCE);
    for (const f of report.perClass.slice(1)) expect(f.strength).toBeLessThan(STRONG_EVIDENCE);
    expect(report.perClass[0]!.stats.strongSeparation).toBeGreaterThan(0);
  });

  it('calibrated: finds all-to-all poison (every class poisoned), where a rule among the classes alone cannot', async () => {
    const s = allToAll(6, 300, 30, 24, 11);
    const report = await activationClustering({ reps: s.reps, y: s.y, classes: s.classes });
    const ev = evaluateDetection(report, { poisoned: s.poisoned, y: s.y });
    expect(ev.f1).toBeGreaterThanOrEqual(0.95);
    expect(report.perClass.every((f) => (f.strength ?? 0) >= STRONG_EVIDENCE)).toBe(true);
    // The earlier fixed-constant analysis grades too, but among the classes only: all alike.
    const old = await activationClustering(
      { reps: s.reps, y: s.y, classes: s.classes },
      { analysis: 'separated' },
    );
    expect(old.perClass.every((f) => (f.strength ?? 99) < STRONG_EVIDENCE)).toBe(true);
  });

  it('calibrated: two classes (a binary tabular or text model): poison found, clean left alone', async () => {
    const two = syntheticReps({ classes: 2, perClass: 300, dim: 16, poison: 15, seed: 4 });
    const report = await activationClustering(input(two));
    const ev = evaluateDetection(report, { poisoned: two.poisoned, y: two.y });
    expect(ev.f1).toBeGreaterThanOrEqual(0.95);
    const clean = syntheticReps({ classes: 2, perClass: 300, dim: 16, seed: 2 });
    const none = await activationClustering(input(clean));
    expect(none.flagged.reduce((a, b) => a + b, 0)).toBe(0);
    expect(none.perClass.every((f) => (f.strength ?? 0) < STRONG_EVIDENCE)).toBe(true);
  });
});

/** Gaussian classes, each with `poison` extra records shifted along its own direction. */
function allToAll(k: number, per: number, poison: number, dim: number, seed: number) {
  const rng = new Rng(seed);
  const n = k * (per + poison);
  const data = new Float32Array(n * dim);
  const y = new Int32Array(n);
  const poisoned = new Uint8Array(n);
  let r = 0;
  for (let c = 0; c < k; c++) {
    const mean = Array.from({ length: dim }, () => rng.normal(0, 6));
    const dir = Array.from({ length: dim }, () => rng.normal());
    const norm = Math.hypot(...dir);
    for (let t = 0; t < per + poison; t++, r++) {
      const bad = t >= per;
      for (let j = 0; j < dim; j++) {
        const sd = 1 / Math.sqrt(1 + j);
        data[r * dim + j] = mean[j]! + rng.normal() * sd + (bad ? (8 * dir[j]!) / norm : 0);
      }
      y[r] = c;
      poisoned[r] = bad ? 1 : 0;
    }
  }
  return {
    reps: { data, dim },
    y,
    poisoned,
    classes: Array.from({ length: k }, (_, c) => `c${c}`),
  };
}
