import { describe, expect, it } from 'vitest';
import { isAntidoteError } from '../errors.js';
import { evaluateDetection, rocAuc } from '../eval/detection.js';
import { syntheticReps } from '../testing/synthetic.js';
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
