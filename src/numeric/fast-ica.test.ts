import { describe, expect, it } from 'vitest';
import { isAntidoteError } from '../errors.js';
import { Rng } from '../util/rng.js';
import { fastIca } from './fast-ica.js';

function correlation(
  a: Float64Array,
  ai: number,
  b: Float64Array,
  bi: number,
  k: number,
  n: number,
) {
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < n; i++) {
    ma += a[i * k + ai]!;
    mb += b[i * k + bi]!;
  }
  ma /= n;
  mb /= n;
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < n; i++) {
    const x = a[i * k + ai]! - ma;
    const y = b[i * k + bi]! - mb;
    sab += x * y;
    saa += x * x;
    sbb += y * y;
  }
  return sab / Math.sqrt(saa * sbb);
}

describe('FastICA (Hyvärinen & Oja 2000)', () => {
  const n = 4000;
  const k = 3;
  const rng = new Rng(12);
  // Three independent non-Gaussian sources: uniform, Laplace, a two-level square wave.
  const sources = new Float64Array(n * k);
  for (let i = 0; i < n; i++) {
    sources[i * k] = rng.uniform(-1, 1);
    const e = -Math.log(1 - rng.next());
    sources[i * k + 1] = rng.next() < 0.5 ? -e : e;
    sources[i * k + 2] = Math.sin(i / 7) > 0 ? 1 : -1;
  }
  const mixing = [0.9, 0.4, -0.3, 0.2, 1.1, 0.5, -0.6, 0.3, 0.8];
  const mixed = new Float64Array(n * k);
  for (let i = 0; i < n; i++) {
    for (let r = 0; r < k; r++) {
      let s = 3; // an offset: FastICA centres
      for (let j = 0; j < k; j++) s += mixing[r * k + j]! * sources[i * k + j]!;
      mixed[i * k + r] = s;
    }
  }

  it('unmixes independent non-Gaussian sources (each recovered with |r| > 0.98)', () => {
    const r = fastIca(mixed, n, k, new Rng(1));
    expect(r.converged).toBe(true);
    for (let s = 0; s < k; s++) {
      let best = 0;
      for (let o = 0; o < k; o++) {
        best = Math.max(best, Math.abs(correlation(sources, s, r.sources, o, k, n)));
      }
      expect(best).toBeGreaterThan(0.98);
    }
    // Outputs are white: unit variance, uncorrelated.
    for (let a = 0; a < k; a++) {
      for (let b = 0; b < k; b++) {
        let s = 0;
        for (let i = 0; i < n; i++) s += r.sources[i * k + a]! * r.sources[i * k + b]!;
        expect(s / n).toBeCloseTo(a === b ? 1 : 0, 2);
      }
    }
  });

  it('is reproducible for a seed', () => {
    const a = fastIca(mixed, n, k, new Rng(5));
    const b = fastIca(mixed, n, k, new Rng(5));
    expect(Array.from(a.sources.subarray(0, 30))).toEqual(Array.from(b.sources.subarray(0, 30)));
  });

  it('rejects too few rows or a wrong length', () => {
    for (const run of [
      () => fastIca(new Float64Array(6), 2, 3, new Rng(1)),
      () => fastIca(new Float64Array(10), 4, 3, new Rng(1)),
      () => fastIca(mixed, n, k, new Rng(1), { maxIterations: 0 }),
    ]) {
      let err: unknown;
      try {
        run();
      } catch (e) {
        err = e;
      }
      expect(isAntidoteError(err)).toBe(true);
    }
  });
});
