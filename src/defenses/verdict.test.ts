import { describe, expect, it } from 'vitest';
import type { Dataset } from '../data/dataset.js';
import type { ClassFinding, DetectionReport } from './detector.js';
import { mergeReports, withinClassRanks } from './scan.js';
import { isStrong, scanVerdict, verdictLine } from './verdict.js';

/** Two classes of ten records; records 0–1 of class a carry the poison. */
const ds: Dataset = {
  x: new Float32Array(20),
  shape: [20, 1],
  y: Int32Array.from({ length: 20 }, (_, i) => (i < 10 ? 0 : 1)),
  classes: ['a', 'b'],
  ids: Array.from({ length: 20 }, (_, i) => `r${i}`),
};

function report(
  method: string,
  flagged: number[],
  strengths: [number | undefined, number | undefined],
  scores?: number[],
): DetectionReport {
  const f = Uint8Array.from({ length: 20 }, (_, i) => (flagged.includes(i) ? 1 : 0));
  const perClass: ClassFinding[] = [0, 1].map((c) => {
    const s = strengths[c];
    return {
      classIndex: c,
      className: c ? 'b' : 'a',
      count: 10,
      flagged: flagged.filter((i) => (i < 10 ? 0 : 1) === c).length,
      suspicious: flagged.some((i) => (i < 10 ? 0 : 1) === c),
      ...(s !== undefined ? { strength: s } : {}),
      reason: `${method} on class ${c}`,
      stats: {},
    };
  });
  return {
    method,
    scores: Float32Array.from(scores ?? Array.from({ length: 20 }, (_, i) => (f[i] ? 9 : i % 5))),
    flagged: f,
    perClass,
    params: {},
  };
}

describe('scanVerdict', () => {
  it('PASS when nothing is flagged and nothing is strong', () => {
    const m = mergeReports(
      ds,
      [report('ac', [], [1.2, 0.3]), report('ss', [], [0.5, -1])],
      undefined,
      ['ac', 'ss'],
    );
    expect(m.verdict.verdict).toBe('pass');
    expect(verdictLine(m.verdict)).toMatch(/^PASS: nothing found.*\(2 detectors: ac, ss\)\.$/);
    expect(m.verdict.evidence).toEqual([]);
  });

  it('REVIEW, not PASS, when one detector flags records the merged decision does not keep', () => {
    // ss flags two records on weak evidence; ac ranks them low: the quorum keeps none.
    const m = mergeReports(
      ds,
      [
        report(
          'ac',
          [],
          [0.4, 0.2],
          Array.from({ length: 20 }, (_, i) => (i < 2 ? 0 : i)),
        ),
        report('ss', [0, 1], [1.1, 0.3]),
      ],
      undefined,
      ['ac', 'ss'],
    );
    expect(m.flagged.reduce((a, b) => a + b, 0)).toBe(0);
    expect(m.verdict.verdict).toBe('review');
    expect(m.verdict.reason).toMatch(/ss flags 2 records on its own/);
  });

  it('one strong detector the others do not confirm: records flagged, REVIEW with its evidence (the old quorum passed it)', () => {
    // ss ranks the records ac flags low: no confirmation.
    const ss = report(
      'ss',
      [],
      [0.1, 0.2],
      Array.from({ length: 20 }, (_, i) => (i < 2 ? 0 : i)),
    );
    const m = mergeReports(ds, [report('ac', [0, 1], [9.5, 0.4]), ss], undefined, ['ac', 'ss']);
    expect(Array.from(m.flagged.slice(0, 3))).toEqual([1, 1, 0]);
    expect(m.verdict.verdict).toBe('review');
    expect(m.verdict.reason).toMatch(
      /class "a" \(ac, strength 9\.5, 2 records flagged\) not confirmed/,
    );
    expect(m.verdict.evidence).toEqual([
      expect.objectContaining({ detector: 'ac', className: 'a', strength: 9.5, confirmedBy: [] }),
    ]);
  });

  it('FAIL when another detector confirms the strong finding, by strength or by rank', () => {
    const byStrength = mergeReports(
      ds,
      [report('ac', [0, 1], [9.5, 0]), report('ss', [0], [4.1, 0])],
      undefined,
      ['ac', 'ss'],
    );
    expect(byStrength.verdict.verdict).toBe('fail');
    expect(verdictLine(byStrength.verdict)).toMatch(/^FAIL: confirmed poison in 1 class/);
    // ss flags nothing and grades nothing strong, but ranks ac's records at the top of class a.
    const byRank = mergeReports(
      ds,
      [
        report('ac', [0, 1], [9.5, 0]),
        report(
          'ss',
          [],
          [0, 0],
          Array.from({ length: 20 }, (_, i) => (i < 2 ? 50 : i)),
        ),
      ],
      undefined,
      ['ac', 'ss'],
    );
    expect(byRank.verdict.verdict).toBe('fail');
    expect(byRank.verdict.evidence[0]!.confirmedBy).toEqual(['ss']);
  });

  it('never PASS while a finding is strong, even with nothing flagged; ungraded findings are not strong', () => {
    const strongOnly = scanVerdict({
      y: ds.y,
      classes: ds.classes,
      reports: [report('spectre', [], [0, 4])],
      flagged: new Uint8Array(20),
      classRanks: [new Float32Array(20)],
    });
    expect(strongOnly.verdict).toBe('review');
    expect(strongOnly.reason).toMatch(/found by the only detector run/);
    const ungraded = report('x', [3], [undefined, undefined]);
    expect(isStrong(undefined)).toBe(false);
    const m = mergeReports(ds, [ungraded]);
    expect(m.verdict.verdict).toBe('review');
    expect(m.verdict.reason).toMatch(/without a strong class-level finding/);
    expect(withinClassRanks(ungraded.scores, ds.y, 2)[3]).toBeGreaterThan(0.9);
  });
});
