import { AntidoteError } from '../errors.js';

/**
 * A seeded pseudo-random number generator: xoshiro128** (Blackman & Vigna 2018), seeded through
 * SplitMix32. Every random choice in Antidote goes through an `Rng` (never `Math.random`), so the
 * same seed gives the same poisoned set, the same model and the same report.
 *
 * Not cryptographically secure: for keys and nonces use `node:crypto`.
 */
export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;
  private spareNormal: number | undefined;
  /** The seed this generator was created from. */
  readonly seed: number;

  constructor(seed: number) {
    if (!Number.isSafeInteger(seed)) {
      throw new AntidoteError('INVALID_ARGUMENT', `seed must be a safe integer, got ${seed}`);
    }
    this.seed = seed;
    // SplitMix32 over both 32-bit halves of the seed fills the 128-bit state.
    let x = (seed >>> 0) ^ Math.imul(Math.floor(seed / 2 ** 32) >>> 0, 0x9e3779b9);
    const next = (): number => {
      x = (x + 0x9e3779b9) | 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.s0 = next();
    this.s1 = next();
    this.s2 = next();
    this.s3 = next();
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  /** A uniformly distributed unsigned 32-bit integer. */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** A uniform float in [0, 1) with 32 bits of randomness. */
  next(): number {
    return this.nextUint32() / 4294967296;
  }

  /** A uniform float in [lo, hi). */
  uniform(lo = 0, hi = 1): number {
    return lo + (hi - lo) * this.next();
  }

  /** A uniform integer in [0, n), without modulo bias (Lemire's rejection method). */
  int(n: number): number {
    if (!Number.isInteger(n) || n <= 0 || n > 2 ** 32) {
      throw new AntidoteError(
        'INVALID_ARGUMENT',
        `Rng.int: n must be an integer in [1, 2^32], got ${n}`,
      );
    }
    const threshold = (2 ** 32 - n) % n;
    for (;;) {
      const r = this.nextUint32();
      if (r >= threshold) return r % n;
    }
  }

  /** A standard normal deviate (Marsaglia polar method). */
  normal(mean = 0, std = 1): number {
    if (this.spareNormal !== undefined) {
      const v = this.spareNormal;
      this.spareNormal = undefined;
      return mean + std * v;
    }
    let u: number;
    let v: number;
    let s: number;
    do {
      u = this.next() * 2 - 1;
      v = this.next() * 2 - 1;
      s = u * u + v * v;
    } while (s >= 1 || s === 0);
    const m = Math.sqrt((-2 * Math.log(s)) / s);
    this.spareNormal = v * m;
    return mean + std * u * m;
  }

  /** Shuffles `a` in place (Fisher–Yates) and returns it. */
  shuffle<T extends { length: number; [i: number]: unknown }>(a: T): T {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = a[i];
      a[i] = a[j];
      a[j] = t;
    }
    return a;
  }

  /** A random permutation of 0..n-1. */
  permutation(n: number): Int32Array {
    const p = new Int32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    return this.shuffle(p);
  }

  /**
   * `k` distinct indices drawn uniformly from 0..n-1, in the order drawn (partial Fisher–Yates).
   * Sort the result if you need index order.
   */
  sample(n: number, k: number): Int32Array {
    if (!Number.isInteger(k) || k < 0 || k > n) {
      throw new AntidoteError(
        'INVALID_ARGUMENT',
        `cannot sample ${k} of ${n} items without replacement`,
      );
    }
    const p = new Int32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    for (let i = 0; i < k; i++) {
      const j = i + this.int(n - i);
      const t = p[i]!;
      p[i] = p[j]!;
      p[j] = t;
    }
    return p.slice(0, k);
  }

  /** `k` distinct elements of `items`, drawn uniformly (see {@link Rng.sample}). */
  choose<T>(items: readonly T[], k: number): T[] {
    return Array.from(this.sample(items.length, k), (i) => items[i] as T);
  }

  /**
   * An independent generator derived from this one's seed and a label, so sub-tasks get their
   * own reproducible streams regardless of how much the parent has been used.
   */
  fork(label: string): Rng {
    let h = 0x811c9dc5 ^ (this.seed >>> 0);
    for (let i = 0; i < label.length; i++) {
      h = Math.imul(h ^ label.charCodeAt(i), 0x01000193);
    }
    return new Rng((h >>> 0) + (Math.floor(this.seed / 2 ** 32) >>> 0) * 2 ** 21);
  }

  /** A fresh 31-bit seed drawn from this stream (e.g. for TF.js initialisers). */
  nextSeed(): number {
    return this.nextUint32() >>> 1;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
