import { describe, expect, it } from 'vitest';
import { isAntidoteError } from '../errors.js';
import { evaluateDetection, rocAuc } from '../eval/detection.js';
import { syntheticReps } from '../testing/synthetic.js';
import { Rng } from '../util/rng.js';
import { STRONG_EVIDENCE } from './detector.js';
import { spectralSignatures } from './spectral-signatures.js';
import { spectre } from './spectre.js';

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
    // Graded on the shared scale: the attacked class's tail is strong among the classes.
    expect(report.perClass[0]!.strength).toBeGreaterThanOrEqual(STRONG_EVIDENCE);
    for (const f of report.perClass.slice(1)) expect(f.strength).toBeLessThan(STRONG_EVIDENCE);
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

  it('grades the far tail: clean classes with a smooth shoulder are not strong, a poison mode is', () => {
    // Ten classes of 2,000 records, light-tailed (bounded at 2.8 SDs along the first axis) like
    // ReLU activations: two hold one record at 3.6 SDs, three a smooth shoulder reaching 4.5 SDs
    // (about 1% beyond 3, none beyond 5), and class 0 holds 160 poisoned records 8 SDs out. The
    // share beyond 3 robust SDs (the statistic before) made the three clean shoulders strong
    // (9–18) against a null whose median share is about zero; the share beyond 5 does not.
    const rng = new Rng(3);
    const k = 10;
    const per = 2000;
    const dim = 6;
    const rows: number[] = [];
    const y: number[] = [];
    const truth: number[] = [];
    for (let c = 0; c < k; c++) {
      for (let t = 0; t < (c === 0 ? per + 160 : per); t++) {
        const x = Array.from({ length: dim }, (_, j) => 10 * c + rng.normal() / (1 + j));
        const g = rng.normal();
        const shoulder = Math.min(g + 0.5 * Math.max(g - 1, 0) ** 2, 4.5);
        x[0] = 10 * c + 1.5 * (c >= 1 && c <= 3 ? shoulder : Math.max(-2.8, Math.min(2.8, g)));
        if ((c === 4 || c === 5) && t === 0) x[0] = 10 * c + 1.5 * 3.6;
        const poison = c === 0 && t >= per;
        if (poison) x[0] += 12;
        rows.push(...x);
        y.push(c);
        truth.push(poison ? 1 : 0);
      }
    }
    const report = spectralSignatures({
      reps: { data: Float32Array.from(rows), dim },
      y: Int32Array.from(y),
      classes: Array.from({ length: k }, (_, c) => `c${c}`),
    });
    expect(report.perClass[0]!.strength).toBeGreaterThanOrEqual(STRONG_EVIDENCE);
    for (const f of report.perClass.slice(1)) {
      expect(f.strength).toBeLessThan(STRONG_EVIDENCE);
      expect(f.flagged).toBe(0);
    }
    const ev = evaluateDetection(report, {
      poisoned: Uint8Array.from(truth),
      y: Int32Array.from(y),
    });
    expect(ev.recall).toBe(1);
    expect(ev.unattackedFpr).toBe(0);
  });

  it('leaves a few far-tail records alone (fewer than 0.5% of the class), flags a group', () => {
    // One class of 2,000 light-tailed records plus `extra` records 8 SDs out along the first
    // axis: 3 extreme records are a heavy tail (0.15% of the class), 20 a group (1%).
    const make = (extra: number) => {
      const rng = new Rng(5);
      const rows: number[] = [];
      const y: number[] = [];
      for (let c = 0; c < 4; c++) {
        for (let t = 0; t < (c === 0 ? 2000 + extra : 2000); t++) {
          const x = [0, 1, 2, 3].map(
            (j) => 10 * c + Math.max(-2.8, Math.min(2.8, rng.normal())) / (1 + j),
          );
          if (c === 0 && t >= 2000) x[0] = x[0]! + 12;
          rows.push(...x);
          y.push(c);
        }
      }
      return {
        reps: { data: Float32Array.from(rows), dim: 4 },
        y: Int32Array.from(y),
        classes: ['a', 'b', 'c', 'd'],
      };
    };
    const tail = spectralSignatures(make(3));
    expect(tail.flagged.reduce((x, v) => x + v, 0)).toBe(0);
    expect(tail.perClass[0]!.reason).toMatch(/far tail of the class/);
    // ...unless the share is lowered, or ε is given
    expect(
      spectralSignatures(make(3), { minTailShare: 0 }).perClass[0]!.flagged,
    ).toBeGreaterThanOrEqual(3);
    const group = spectralSignatures(make(20));
    expect(group.perClass[0]!.flagged).toBe(30);
    expect(() => spectralSignatures(make(3), { minTailShare: 2 })).toThrow(/minTailShare/);
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
    expect(report.perClass.every((f) => (f.strength ?? 99) < STRONG_EVIDENCE)).toBe(true);
  });
});
