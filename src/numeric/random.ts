/**
 * The seeded random source the numeric routines draw from. numeric/ sits below data/, so it names
 * only the methods it needs; util/rng.ts's `Rng` satisfies it (and is what every caller passes).
 */
export interface RandomSource {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform integer in [0, n). */
  int(n: number): number;
  /** Standard normal draw. */
  normal(): number;
  /** `k` distinct indices drawn from [0, n). */
  sample(n: number, k: number): Int32Array;
}
