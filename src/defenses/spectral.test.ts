import { describe, expect, it } from 'vitest';
import { Rng } from '../data/rng.js';
import { initEngine, wasmEngineActive } from '../engine/backend.js';
import { isAntidoteError } from '../errors.js';
import { evaluateDetection, rocAuc } from '../eval/detection.js';
import {
  median,
  principalComponents,
  projectRows,
  rowCovariance,
  rowMean,
  selectKth,
} from './linalg.js';
import { spectralSignatures } from './spectral-signatures.js';
import { robustMeanCov, spectre } from './spectre.js';
import { syntheticReps } from './test-utils/synthetic.js';

const input = (s: ReturnType<typeof syntheticReps>) => ({
  reps: { data: s.data, dim: s.dim },
  y: s.y,
  classes: s.classes,
});
const classMask = (y: Int32Array, c: number) => Uint8Array.from(y, (v) => (v === c ? 1 : 0));

describe('spectral signatures (Tran et al. 2018)', () => {
  const poisoned = syntheticReps({ classes: 5, perClass: 300, dim: 20, poison: 30, seed: 11 });

  it('with ε estimated, removes 1.5·ε̂ of the attacked class only', () => {
    const report = spectralSignatures(input(poisoned));
    const ev = evaluateDetection(report, { poisoned: poisoned.poisoned, y: poisoned.y });
    expect(ev.recall).toBe(1);
    expect(ev.unattackedFpr).toBe(0);
    expect(report.perClass[0]!.stats.epsilon).toBeCloseTo(30 / 330, 2);
    expect(report.perClass[0]!.flagged).toBe(Math.round(1.5 * 30));
    expect(rocAuc(report.scores, poisoned.poisoned, classMask(poisoned.y, 0))).toBe(1);
  });

  it('with ε given, removes 1.5·ε of every class (the paper’s rule)', () => {
    const report = spectralSignatures(input(poisoned), { epsilon: 0.1 });
    for (const f of report.perClass) expect(f.flagged).toBe(Math.round(0.15 * f.count));
  });

  it('scores the centred projection: shifting every vector leaves the scores unchanged', () => {
    const shifted = Float32Array.from(
      poisoned.data,
      (v, i) => v + (i % poisoned.dim === 0 ? 50 : 0),
    );
    const a = spectralSignatures(input(poisoned));
    const b = spectralSignatures({
      ...input(poisoned),
      reps: { data: shifted, dim: poisoned.dim },
    });
    for (let i = 0; i < a.scores.length; i += 37) expect(b.scores[i]).toBeCloseTo(a.scores[i]!, 2);
  });

  it('leaves clean Gaussian classes alone', () => {
    const clean = syntheticReps({ classes: 4, perClass: 300, dim: 20, seed: 12 });
    const report = spectralSignatures(input(clean));
    expect(report.flagged.reduce((x, v) => x + v, 0)).toBe(0);
  });

  it('rejects a bad ε', () => {
    let err: unknown;
    try {
      spectralSignatures(input(poisoned), { epsilon: 2 });
    } catch (e) {
      err = e;
    }
    expect(isAntidoteError(err, 'INVALID_ARGUMENT')).toBe(true);
  });
});

describe('robust spectral scores (SPECTRE-style)', () => {
  it('finds a 1% poison cluster in one class and leaves the other classes alone', () => {
    // 3 poisoned records in a class of 300, shifted along a low-variance direction.
    const s = syntheticReps({ classes: 6, perClass: 300, dim: 16, poison: 3, shift: 3, seed: 21 });
    const report = spectre(input(s));
    const mask = classMask(s.y, 0);
    expect(rocAuc(report.scores, s.poisoned, mask)).toBeGreaterThanOrEqual(0.99);
    const ev = evaluateDetection(report, { poisoned: s.poisoned, y: s.y });
    expect(ev.recall).toBe(1);
    expect(ev.unattackedFpr).toBe(0);
    expect(report.perClass[0]!.suspicious).toBe(true);
  });

  it('flags nothing in clean Gaussian classes', () => {
    const clean = syntheticReps({ classes: 6, perClass: 300, dim: 16, seed: 22 });
    const report = spectre(input(clean));
    expect(report.flagged.reduce((x, v) => x + v, 0)).toBe(0);
  });

  it('robust covariance ignores a gross minority', () => {
    const rng = new Rng(3);
    const n = 400;
    const d = 3;
    const z = new Float64Array(n * d);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < d; j++) z[i * d + j] = rng.normal() + (i < 60 ? 30 : 0);
    }
    const est = robustMeanCov(z, n, d);
    for (let j = 0; j < d; j++) expect(Math.abs(est.mean[j]!)).toBeLessThan(0.3);
    for (let j = 0; j < d; j++) expect(est.cov[j * d + j]).toBeLessThan(1.5);
    expect(est.inlier.slice(0, 60).reduce((a, b) => a + b, 0)).toBe(0);
  });

  it('PCA via subspace iteration agrees with the dense path on wide data', () => {
    const rng = new Rng(4);
    const n = 200;
    const d = 300; // > DENSE_EIGEN_MAX_DIM
    const x = new Float32Array(n * d);
    for (let i = 0; i < n; i++) {
      const t = rng.normal() * 5;
      for (let j = 0; j < d; j++) x[i * d + j] = rng.normal() * 0.1 + (j < 3 ? t : 0);
    }
    const idx = Int32Array.from({ length: n }, (_, i) => i);
    const pcs = principalComponents(x, d, idx, 1, rng);
    // Top direction ≈ (1,1,1,0,...)/√3.
    expect(
      Math.abs(pcs.vectors[0]! + pcs.vectors[1]! + pcs.vectors[2]!) / Math.sqrt(3),
    ).toBeGreaterThan(0.99);
    const p = projectRows(x, d, idx, pcs.mean, pcs.vectors, 1);
    expect(p.length).toBe(n);
  });

  it('projectRows matches the plain dot products for any number of directions', () => {
    const rng = new Rng(8);
    const d = 7;
    const x = Float32Array.from({ length: 5 * d }, () => rng.normal());
    const idx = [4, 0, 2];
    const mean = Float64Array.from({ length: d }, () => rng.normal());
    for (const k of [1, 4, 6]) {
      const v = Float64Array.from({ length: k * d }, () => rng.normal());
      const p = projectRows(x, d, idx, mean, v, k);
      for (let r = 0; r < idx.length; r++) {
        for (let q = 0; q < k; q++) {
          let s = 0;
          for (let j = 0; j < d; j++) s += (x[idx[r]! * d + j]! - mean[j]!) * v[q * d + j]!;
          expect(p[r * k + q]).toBeCloseTo(s, 10);
        }
      }
    }
  });
});

describe('selection', () => {
  it('selectKth and median agree with sorting, ties and odd/even lengths included', () => {
    const rng = new Rng(5);
    for (let t = 0; t < 300; t++) {
      const n = 1 + rng.int(40);
      const a = Float64Array.from({ length: n }, () => rng.int(6) - 2.5);
      const sorted = Float64Array.from(a).sort();
      const k = rng.int(n);
      const copy = Float64Array.from(a);
      expect(selectKth(copy, k)).toBe(sorted[k]);
      for (let i = 0; i < k; i++) expect(copy[i]).toBeLessThanOrEqual(sorted[k]!);
      for (let i = k + 1; i < n; i++) expect(copy[i]).toBeGreaterThanOrEqual(sorted[k]!);
      const ref = n % 2 === 1 ? sorted[(n - 1) >> 1] : (sorted[n / 2 - 1]! + sorted[n / 2]!) / 2;
      expect(median(a)).toBe(ref);
    }
    expect(median([])).toBeNaN();
  });
});

describe('covariance on the wasm engine', () => {
  it('matches a float64 reference within 1e-5 of the largest entry', async () => {
    await initEngine({ backend: 'wasm' });
    expect(wasmEngineActive()).toBe(true);
    const rng = new Rng(6);
    const n = 320;
    const d = 128; // n·d² above the wasm threshold
    const x = Float32Array.from({ length: (n + 5) * d }, () => rng.normal() * 2 + 1);
    const idx = Int32Array.from({ length: n }, (_, i) => i + 5); // not the first rows
    const mean = rowMean(x, d, idx);
    const cov = rowCovariance(x, d, idx, mean);
    let worst = 0;
    let largest = 0;
    for (let a = 0; a < d; a += 3) {
      for (let b = 0; b < d; b += 5) {
        let s = 0;
        for (const r of idx) s += (x[r * d + a]! - mean[a]!) * (x[r * d + b]! - mean[b]!);
        s /= n;
        worst = Math.max(worst, Math.abs(cov[a * d + b]! - s));
        largest = Math.max(largest, Math.abs(s));
      }
    }
    expect(worst / largest).toBeLessThan(1e-5);
    for (let a = 0; a < d; a++) expect(cov[a * d + 7]).toBe(cov[7 * d + a]);
  });
});
