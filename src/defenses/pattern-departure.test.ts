import { describe, expect, it } from 'vitest';
import { consistentDeparture, departureMapsAgree } from './pattern-departure.js';

describe('consistent departure of a pattern', () => {
  it('counts an all-to-all map k → k + 1 in full, and moves into the excluded class not at all', () => {
    // Four probes of each of classes 0–4; the pattern sends class k to k + 1 (mod 5).
    const before = Int32Array.from({ length: 20 }, (_, i) => Math.floor(i / 4));
    const after = before.map((s) => (s + 1) % 5);
    expect(consistentDeparture(before, after, 9, 10).share).toBe(1);
    // Class 0 is the candidate's: the moves of class 4 into it are left out.
    expect(consistentDeparture(before, after, 0, 10).share).toBeCloseTo(16 / 20);
  });

  it('counts one source per destination: a pattern sending everything to one class is one cell', () => {
    const before = Int32Array.from({ length: 20 }, (_, i) => Math.floor(i / 4));
    const after = new Int32Array(20).fill(2);
    // Sources 0, 1, 3, 4 all go to class 2: only one of them is matched.
    expect(consistentDeparture(before, after, 9, 10).share).toBeCloseTo(4 / 20);
  });

  it('counts one destination per source: a source split between two destinations counts its larger part', () => {
    const before = new Int32Array(10).fill(1);
    const after = Int32Array.from([2, 2, 2, 3, 3, 1, 1, 1, 1, 1]);
    expect(consistentDeparture(before, after, 9, 10).share).toBeCloseTo(3 / 10);
    expect(consistentDeparture(new Int32Array(0), new Int32Array(0), 0, 3).share).toBe(0);
  });

  it('refuses predictions of different lengths', () => {
    expect(() => consistentDeparture(new Int32Array(2), new Int32Array(3), 0, 3)).toThrow(
      expect.objectContaining({ code: 'SHAPE_MISMATCH' }),
    );
  });

  it('maps the sources a pattern moves, most of their probes to one class', () => {
    const before = Int32Array.from({ length: 20 }, (_, i) => Math.floor(i / 4));
    const after = before.map((s) => (s + 1) % 5);
    // Source 2 keeps three of its four probes: not moved.
    after[8] = 2;
    after[9] = 2;
    after[10] = 2;
    const { map } = consistentDeparture(before, after, 0, 5);
    expect([...map]).toEqual([1, 2, -1, 4, -1]);
  });

  it('agrees two maps on a majority of the sources both move, two at least', () => {
    const f = Int32Array.from([1, 2, 3, 4, 0]);
    expect(departureMapsAgree(f, Int32Array.from([1, 2, -1, -1, -1]))).toBe(true);
    expect(departureMapsAgree(f, Int32Array.from([1, -1, -1, -1, -1]))).toBe(false);
    expect(departureMapsAgree(f, Int32Array.from([1, 2, 4, 0, 3]))).toBe(false);
  });
});
