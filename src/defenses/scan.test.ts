import { describe, expect, it } from 'vitest';
import type { Dataset } from '../data/dataset.js';
import { Rng } from '../util/rng.js';
import type { ClassFinding, DetectionReport } from './detector.js';
import { mergeReports, percentileRanks, withinClassRanks } from './scan.js';

function dataset(y: number[]): Dataset {
  return {
    x: new Float32Array(y.length),
    shape: [y.length, 1],
    y: Int32Array.from(y),
    classes: ['a', 'b'],
    ids: y.map((_, i) => `r${i}`),
  };
}

function report(
  method: string,
  scores: number[],
  flagged: number[],
  suspiciousClasses: number[],
): DetectionReport {
  const perClass: ClassFinding[] = [0, 1].map((c) => ({
    classIndex: c,
    className: c ? 'b' : 'a',
    count: 0,
    flagged: 0,
    suspicious: suspiciousClasses.includes(c),
    reason: '',
    stats: {},
  }));
  return {
    method,
    scores: Float32Array.from(scores),
    flagged: Uint8Array.from(flagged),
    perClass,
    params: {},
  };
}

describe('mergeReports', () => {
  // Ten records: 0–4 in class a (record 0 and 1 poisoned), 5–9 in class b (clean).
  const ds = dataset([0, 0, 0, 0, 0, 1, 1, 1, 1, 1]);

  it('flags records two detectors agree on', () => {
    const a = report('ac', [9, 8, 1, 1, 1, 1, 1, 1, 1, 1], [1, 1, 0, 0, 0, 0, 0, 0, 0, 0], [0]);
    const b = report('ss', [9, 1, 1, 1, 1, 1, 1, 1, 1, 1], [1, 0, 0, 0, 0, 0, 0, 0, 0, 0], [0]);
    const m = mergeReports(ds, [a, b]);
    expect(m.quorum).toBe(2);
    expect(Array.from(m.votes)).toEqual([2, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
    // Record 1: flagged by ac only, but both judged class a poisoned; ss ranks it 2nd of 5 (0.4): not corroborated.
    expect(Array.from(m.flagged)).toEqual([1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  });

  it('corroborates a single flag when the class is judged poisoned and the others rank the record at the top', () => {
    const a = report('ac', [9, 8, 1, 1, 1, 1, 1, 1, 1, 1], [1, 1, 0, 0, 0, 0, 0, 0, 0, 0], [0]);
    const b = report(
      'spectre',
      [9, 9.5, 1, 1, 1, 1, 1, 1, 1, 1],
      [1, 0, 0, 0, 0, 0, 0, 0, 0, 0],
      [0],
    );
    expect(Array.from(mergeReports(ds, [a, b]).flagged)).toEqual([1, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
  });

  it('does not corroborate a record that a detector which flagged records of its class left out', () => {
    // Thirty records of class a: 0 and 1 poisoned. ss removes a safety margin (record 2 too); ac
    // flags 0 and 1 and ranks record 2 third of 30 (percentile 0.93), below both records it flagged:
    // ac ruled on the class and left record 2 out, so its high rank does not corroborate it.
    const big = dataset(Array.from({ length: 30 }, () => 0));
    const scoresAc = [9, 8, 7, ...Array.from({ length: 27 }, () => 1)];
    const flagsAc = [1, 1, ...Array.from({ length: 28 }, () => 0)];
    const scoresSs = [9, 8, 7, ...Array.from({ length: 27 }, () => 1)];
    const flagsSs = [1, 1, 1, ...Array.from({ length: 27 }, () => 0)];
    const m = mergeReports(big, [
      report('ac', scoresAc, flagsAc, [0]),
      report('ss', scoresSs, flagsSs, [0]),
    ]);
    expect(Array.from(m.flagged.slice(0, 4))).toEqual([1, 1, 0, 0]);
    // Scored at least as high as a record ac flagged there, it is corroborated.
    const m2 = mergeReports(big, [
      report('ac', [9, 7, 8, ...scoresAc.slice(3)], flagsAc, [0]),
      report('ss', scoresSs, flagsSs, [0]),
    ]);
    expect(Array.from(m2.flagged.slice(0, 4))).toEqual([1, 1, 1, 0]);
  });

  it('leaves a class alone when only one detector judged it poisoned', () => {
    const a = report('ac', [1, 1, 1, 1, 1, 1, 1, 1, 1, 1], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0], []);
    const b = report(
      'spectre',
      [1, 1, 1, 1, 1, 9, 1, 1, 1, 1],
      [0, 0, 0, 0, 0, 1, 0, 0, 0, 0],
      [1],
    );
    const c = report('ss', [1, 1, 1, 1, 1, 9, 1, 1, 1, 1], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0], []);
    expect(Array.from(mergeReports(ds, [a, b, c]).flagged).every((v) => v === 0)).toBe(true);
    // With one detector only, its own flags stand.
    expect(Array.from(mergeReports(ds, [b]).flagged)).toEqual([0, 0, 0, 0, 0, 1, 0, 0, 0, 0]);
  });

  it('ranks within classes', () => {
    expect(Array.from(percentileRanks(Float32Array.from([3, 1, 2, 2])))).toEqual([
      1, 0.25, 0.5, 0.5,
    ]);
    const r = withinClassRanks(Float32Array.from([5, 1, 1, 9]), Int32Array.from([0, 0, 1, 1]), 2);
    expect(Array.from(r)).toEqual([1, 0.5, 0.5, 1]);
  });

  it('ranks as its definition says: ties, −0, ±Infinity, subnormals, subarrays', () => {
    // The definition: one plus the number of strictly smaller scores, over n (ties share the
    // lower rank).
    const reference = (scores: Float32Array): number[] => {
      const n = scores.length;
      return Array.from(scores, (v) => {
        let below = 0;
        for (const w of scores) if (w < v) below++;
        return Math.fround((below + 1) / n);
      });
    };
    const rng = new Rng(7);
    const special = [0, -0, Infinity, -Infinity, 1e-45, -1e-45, 3.4e38, -3.4e38];
    for (const n of [0, 1, 2, 5, 100, 3000]) {
      for (const ties of [2, 50, 1e6]) {
        const s = Float32Array.from({ length: n }, () =>
          rng.next() < 0.1
            ? special[rng.int(special.length)]!
            : (Math.floor(rng.uniform(-1, 1) * ties) / ties) * 10 ** rng.int(6),
        );
        expect(Array.from(percentileRanks(s))).toEqual(reference(s));
        // A view into a larger buffer (a detector's scores may be one).
        const wide = new Float32Array(n + 3);
        wide.set(s, 3);
        expect(Array.from(percentileRanks(wide.subarray(3)))).toEqual(reference(s));
      }
    }
    // NaN scores have no order: the comparison sort ranks them somewhere, in (0, 1].
    const withNaN = percentileRanks(Float32Array.from([2, Number.NaN, 1, 1, 3]));
    expect(withNaN.every((r) => r > 0 && r <= 1)).toBe(true);
  });
});
