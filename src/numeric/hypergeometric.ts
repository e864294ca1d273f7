/**
 * The hypergeometric upper tail: the exact null distribution of "how many of a group's records
 * were flagged" when `flagged` of `total` records are flagged with no regard to the group (a
 * permutation of the flags), the test of Fisher's exact test.
 */

const LANCZOS = [
  0.9999999999998099, 676.5203681218851, -1259.1392167224028, 771.3234287776531, -176.6150291621406,
  12.507343278686905, -0.13857109526572012, 9.984369578019572e-6, 1.5056327351493116e-7,
];

/** ln Γ(x) for x > 0 (Lanczos approximation, g = 7; relative error ~1e-15). */
export function logGamma(x: number): number {
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  const z = x - 1;
  let a = LANCZOS[0]!;
  const t = z + 7.5;
  for (let i = 1; i < 9; i++) a += LANCZOS[i]! / (z + i);
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(a);
}

/** ln C(n, k) for integers 0 ≤ k ≤ n. */
export function logChoose(n: number, k: number): number {
  return logGamma(n + 1) - logGamma(k + 1) - logGamma(n - k + 1);
}

/**
 * P[X ≥ k] for X ~ Hypergeometric(total, successes, draws): drawing `draws` of `total` items of
 * which `successes` are marked, the chance of at least `k` marked ones. Integer arguments with
 * `successes, draws ≤ total`; 1 for `k ≤` the smallest possible count, 0 above the largest.
 */
export function hypergeometricUpperTail(
  total: number,
  successes: number,
  draws: number,
  k: number,
): number {
  const lo = Math.max(0, draws - (total - successes));
  const hi = Math.min(draws, successes);
  if (k <= lo) return 1;
  if (k > hi) return 0;
  const denom = logChoose(total, draws);
  let p = 0;
  for (let x = k; x <= hi; x++) {
    p += Math.exp(logChoose(successes, x) + logChoose(total - successes, draws - x) - denom);
  }
  return Math.min(1, p);
}
