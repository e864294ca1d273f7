import { describe, expect, it } from 'vitest';
import { Rng } from './rng.js';

describe('Rng', () => {
  it('is deterministic for a seed and differs between seeds', () => {
    const a = new Rng(42);
    const b = new Rng(42);
    const c = new Rng(43);
    const sa = Array.from({ length: 8 }, () => a.nextUint32());
    const sb = Array.from({ length: 8 }, () => b.nextUint32());
    const sc = Array.from({ length: 8 }, () => c.nextUint32());
    expect(sa).toEqual(sb);
    expect(sa).not.toEqual(sc);
  });

  it('produces uniform floats in [0, 1) with the right mean', () => {
    const r = new Rng(1);
    let sum = 0;
    for (let i = 0; i < 100_000; i++) {
      const v = r.next();
      expect(v).toBeGreaterThanOrEqual(0);
      expect(v).toBeLessThan(1);
      sum += v;
    }
    expect(sum / 100_000).toBeCloseTo(0.5, 2);
  });

  it('int(n) covers [0, n) evenly', () => {
    const r = new Rng(7);
    const counts = new Array(7).fill(0);
    for (let i = 0; i < 70_000; i++) counts[r.int(7)]++;
    for (const c of counts) expect(Math.abs(c - 10_000)).toBeLessThan(500);
  });

  it('normal() has mean 0 and variance 1', () => {
    const r = new Rng(3);
    let s = 0;
    let s2 = 0;
    const n = 50_000;
    for (let i = 0; i < n; i++) {
      const v = r.normal();
      s += v;
      s2 += v * v;
    }
    expect(s / n).toBeCloseTo(0, 1);
    expect(s2 / n).toBeCloseTo(1, 1);
  });

  it('permutation and sample return distinct valid indices', () => {
    const r = new Rng(5);
    const p = Array.from(r.permutation(100)).sort((x, y) => x - y);
    expect(p).toEqual(Array.from({ length: 100 }, (_, i) => i));
    const s = r.sample(1000, 50);
    expect(new Set(s).size).toBe(50);
    for (const i of s) expect(i >= 0 && i < 1000).toBe(true);
    expect(() => r.sample(3, 4)).toThrow(/cannot sample/);
  });

  it('fork gives reproducible independent streams', () => {
    const a = new Rng(9).fork('shuffle');
    const b = new Rng(9).fork('shuffle');
    const c = new Rng(9).fork('init');
    expect(a.nextUint32()).toBe(b.nextUint32());
    expect(new Rng(9).fork('shuffle').nextUint32()).not.toBe(c.nextUint32());
  });

  it('rejects a non-integer seed', () => {
    expect(() => new Rng(1.5)).toThrow(/seed must be a safe integer/);
  });
});
