import { describe, expect, it } from 'vitest';
import { isAntidoteError } from '../errors.js';
import { evaluateDetection } from '../eval/detection.js';
import { nearestMeanClassifier, syntheticDataset, syntheticReps } from '../testing/synthetic.js';
import { Rng } from '../util/rng.js';
import { STRONG_EVIDENCE } from './detector.js';
import { detectorByName, detectorEntry } from './registry.js';
import { scanGlobalModel, scanUntangling } from './scan-untangling.js';

const input = (s: { data: Float32Array; dim: number; y: Int32Array; classes: string[] }) => ({
  reps: { data: s.data, dim: s.dim },
  y: s.y,
  classes: s.classes,
});
const flaggedCount = (f: Uint8Array) => f.reduce((a, v) => a + v, 0);

/** Clean Gaussian classes plus, in every class, `per` records shifted along a class's own direction. */
function poisonEveryClass(per: number, seed: number) {
  const s = syntheticReps({ classes: 6, perClass: 300, dim: 16, seed });
  const rng = new Rng(seed + 100);
  const k = s.classes.length;
  const extra = k * per;
  const n = s.y.length + extra;
  const data = new Float32Array(n * s.dim);
  data.set(s.data);
  const y = new Int32Array(n);
  y.set(s.y);
  const poisoned = new Uint8Array(n);
  let r = s.y.length;
  for (let c = 0; c < k; c++) {
    const dir = Float64Array.from({ length: s.dim }, () => rng.normal());
    const norm = Math.hypot(...dir);
    for (let t = 0; t < per; t++, r++) {
      for (let j = 0; j < s.dim; j++) {
        const sd = 1 / Math.sqrt(1 + j);
        data[r * s.dim + j] = s.means[c * s.dim + j]! + (6 * dir[j]!) / norm + rng.normal() * sd;
      }
      y[r] = c;
      poisoned[r] = 1;
    }
  }
  return { data, dim: s.dim, y, poisoned, classes: s.classes };
}

describe('SCAn (Tang et al. 2021)', () => {
  it('flags the class holding a planted sub-group, strongly, and recovers its records', () => {
    for (const seed of [3, 4, 5]) {
      const s = syntheticReps({ classes: 10, perClass: 300, dim: 16, poison: 40, shift: 6, seed });
      const report = scanUntangling(input(s));
      expect(report.method).toBe('scan-untangling');
      const target = report.perClass[0]!;
      expect(target.suspicious).toBe(true);
      expect(target.strength).toBeGreaterThanOrEqual(Math.exp(2));
      expect(target.reason).toMatch(/anomaly index .* > 7\.39 among 10 classes/);
      for (const f of report.perClass.slice(1)) {
        expect(f.strength).toBeLessThan(STRONG_EVIDENCE);
        expect(f.flagged).toBe(0);
      }
      const ev = evaluateDetection(report, { poisoned: s.poisoned, y: s.y });
      expect(ev.f1).toBeGreaterThanOrEqual(0.9);
      expect(ev.auc).toBeGreaterThanOrEqual(0.99);
      expect(ev.unattackedFpr).toBe(0);
    }
  });

  it('finds no strong class and flags nothing in clean Gaussian classes', () => {
    for (const seed of [11, 12, 13, 14]) {
      const s = syntheticReps({ classes: 10, perClass: 300, dim: 16, seed });
      const report = scanUntangling(input(s));
      expect(flaggedCount(report.flagged)).toBe(0);
      for (const f of report.perClass) {
        expect(f.suspicious).toBe(false);
        expect(f.strength).toBeLessThan(STRONG_EVIDENCE);
        expect(f.stats.j).toBeGreaterThan(0);
      }
    }
  });

  it('all-to-all: J is large in every class, so the cross-class null hides the poison (documented)', () => {
    const s = poisonEveryClass(30, 21);
    const clean = scanUntangling(
      input(syntheticReps({ classes: 6, perClass: 300, dim: 16, seed: 21 })),
    );
    const report = scanUntangling(input(s));
    for (let c = 0; c < 6; c++) {
      // Each class untangles: J far above its clean value ...
      expect(report.perClass[c]!.stats.j as number).toBeGreaterThan(
        2 * (clean.perClass[c]!.stats.j as number),
      );
    }
    // ... but no class stands out among the others.
    expect(flaggedCount(report.flagged)).toBe(0);
    for (const f of report.perClass) expect(f.strength).toBeLessThan(STRONG_EVIDENCE);
    // The records still rank first within their class.
    const ev = evaluateDetection(report, { poisoned: s.poisoned, y: s.y });
    expect(ev.auc).toBeGreaterThanOrEqual(0.99);
  });

  it('judges no class without a null (fewer than 3 classes)', () => {
    const s = syntheticReps({ classes: 2, perClass: 200, dim: 8, poison: 30, seed: 5 });
    const report = scanUntangling(input(s));
    expect(flaggedCount(report.flagged)).toBe(0);
    for (const f of report.perClass) {
      expect(f.strength).toBe(0);
      expect(f.reason).toMatch(/no cross-class null/);
    }
  });

  it('leaves classes below minClassSize out of the null, with a reason', () => {
    const s = syntheticReps({ classes: 5, perClass: 100, dim: 8, seed: 6 });
    const report = scanUntangling(input(s), { minClassSize: 101 });
    for (const f of report.perClass) {
      expect(f.strength).toBe(0);
      expect(f.reason).toMatch(/fewer than 101: not judged/);
    }
  });

  it('recovers the shared covariance and the class identities (global model EM)', () => {
    const s = syntheticReps({ classes: 8, perClass: 2000, dim: 4, seed: 8 });
    const n = s.y.length;
    const d = s.dim;
    const mean = new Float64Array(d);
    for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mean[j]! += s.data[i * d + j]! / n;
    const total = new Float64Array(d * d);
    for (let i = 0; i < n; i++)
      for (let a = 0; a < d; a++)
        for (let b = 0; b < d; b++)
          total[a * d + b]! +=
            ((s.data[i * d + a]! - mean[a]!) * (s.data[i * d + b]! - mean[b]!)) / n;
    const means = new Float64Array(8 * d);
    for (let i = 0; i < n; i++)
      for (let j = 0; j < d; j++) means[s.y[i]! * d + j]! += (s.data[i * d + j]! - mean[j]!) / 2000;
    const g = scanGlobalModel(total, means, new Array(8).fill(2000), d);
    // syntheticReps: within-class SD 1/√(1 + j) on axis j, independent axes.
    for (let a = 0; a < d; a++) {
      expect(g.se[a * d + a]!).toBeCloseTo(1 / (1 + a), 1);
      for (let b = 0; b < d; b++)
        if (a !== b) expect(Math.abs(g.se[a * d + b]!)).toBeLessThan(0.05);
    }
    // Identities shrink the class means only slightly with 2,000 records each.
    for (let i = 0; i < means.length; i++) expect(g.identities[i]!).toBeCloseTo(means[i]!, 1);
  });

  it('runs from the registry as `sca` on a model’s representations', async () => {
    const s = syntheticReps({ classes: 6, perClass: 200, dim: 12, poison: 25, shift: 6, seed: 9 });
    const ds = syntheticDataset(s);
    const entry = detectorEntry('sca');
    expect(entry.paper).toMatch(/USENIX Security/);
    const report = await detectorByName('sca').detect(ds, nearestMeanClassifier(ds), {
      layer: 'features',
      scaThreshold: 5,
    });
    expect(report.params.threshold).toBe(5);
    expect(report.perClass[0]!.suspicious).toBe(true);
    expect(evaluateDetection(report, { poisoned: s.poisoned }).f1).toBeGreaterThanOrEqual(0.9);
  });

  it('rejects bad options', () => {
    const s = syntheticReps({ classes: 3, perClass: 30, dim: 4, seed: 1 });
    for (const bad of [{ threshold: 0 }, { maxIterations: 0 }, { minClassSize: 1 }]) {
      let err: unknown;
      try {
        scanUntangling(input(s), bad);
      } catch (e) {
        err = e;
      }
      expect(isAntidoteError(err, 'INVALID_ARGUMENT')).toBe(true);
    }
  });
});
