import { describe, expect, it } from 'vitest';
import { isAntidoteError } from '../errors.js';
import { evaluateDetection, rocAuc } from './detection.js';

describe('rocAuc', () => {
  it('is 1 for a perfect ranking, 0 for a reversed one, 0.5 for all ties', () => {
    expect(rocAuc([0.1, 0.2, 0.9, 0.8], [0, 0, 1, 1])).toBe(1);
    expect(rocAuc([0.9, 0.8, 0.1, 0.2], [0, 0, 1, 1])).toBe(0);
    expect(rocAuc([1, 1, 1, 1], [0, 1, 0, 1])).toBe(0.5);
  });

  it('matches the pairwise definition on a small example with ties', () => {
    const s = [0.3, 0.7, 0.7, 0.1, 0.5, 0.9];
    const l = [0, 1, 0, 0, 1, 1];
    let wins = 0;
    let pairs = 0;
    for (let i = 0; i < s.length; i++) {
      for (let j = 0; j < s.length; j++) {
        if (l[i] === 1 && l[j] === 0) {
          pairs++;
          wins += s[i]! > s[j]! ? 1 : s[i] === s[j] ? 0.5 : 0;
        }
      }
    }
    expect(rocAuc(s, l)).toBeCloseTo(wins / pairs, 12);
  });

  it('is NaN when only one kind is present', () => {
    expect(rocAuc([1, 2], [0, 0])).toBeNaN();
  });
});

describe('evaluateDetection', () => {
  it('counts the confusion matrix and derives the metrics', () => {
    const report = {
      scores: Float32Array.from([0.9, 0.8, 0.2, 0.7, 0.1, 0.3]),
      flagged: Uint8Array.from([1, 1, 0, 1, 0, 0]),
    };
    const poisoned = Uint8Array.from([1, 1, 1, 0, 0, 0]);
    const y = Int32Array.from([0, 0, 0, 1, 1, 1]);
    const ev = evaluateDetection(report, { poisoned, y, classes: ['a', 'b'] });
    expect([ev.tp, ev.fp, ev.tn, ev.fn]).toEqual([2, 1, 2, 1]);
    expect(ev.precision).toBeCloseTo(2 / 3);
    expect(ev.recall).toBeCloseTo(2 / 3);
    expect(ev.f1).toBeCloseTo(2 / 3);
    expect(ev.fpr).toBeCloseTo(1 / 3);
    expect(ev.flaggedShare).toBeCloseTo(0.5);
    expect(ev.auc).toBeCloseTo(7 / 9);
    expect(ev.perClass.map((c) => [c.className, c.attacked, c.tp, c.fp])).toEqual([
      ['a', true, 2, 0],
      ['b', false, 0, 1],
    ]);
    expect(ev.unattackedFpr).toBeCloseTo(1 / 3);
    expect(ev.unattackedRecords).toBe(3);
    expect(ev.perClass[1]!.recall).toBeNaN();
  });

  it('gives F1 0 (not NaN) when poison exists and nothing is found', () => {
    const ev = evaluateDetection(
      { scores: [0, 0], flagged: [0, 0] },
      { poisoned: Uint8Array.from([1, 0]) },
    );
    expect(ev.f1).toBe(0);
    expect(ev.precision).toBeNaN();
  });

  it('rejects arrays of different lengths', () => {
    expect(() =>
      evaluateDetection({ scores: [1, 2], flagged: [1, 0] }, { poisoned: Uint8Array.from([1]) }),
    ).toThrow(expect.objectContaining({ code: 'SHAPE_MISMATCH' }));
    let error: unknown;
    try {
      evaluateDetection(
        { scores: [1], flagged: [1] },
        { poisoned: Uint8Array.from([1]), y: Int32Array.from([0, 1]) },
      );
    } catch (e) {
      error = e;
    }
    expect(isAntidoteError(error, 'SHAPE_MISMATCH')).toBe(true);
  });
});
