import { mad, median } from '../numeric/order-statistics.js';
import { STRONG_EVIDENCE } from './detector.js';

/**
 * Calibration of class-level evidence against the data's own null (issue 16): instead of fixed
 * constants tuned on one dataset, a class's statistic is judged against the same statistic of
 * the other classes, or of a null sample drawn from the data (a bootstrap of clean-looking
 * parts, a trusted clean subset), by the modified z-score of Iglewicz & Hoaglin (1993,
 * "How to Detect and Handle Outliers"): `z = 0.6745·(x − median) / MAD`. A finding is strong
 * from `STRONG_EVIDENCE` (3.5), their cut-off, whatever the dataset.
 */

/** Scale factor of the modified z-score: 0.6745 = Φ⁻¹(0.75), so z ≈ a standard score for normal data. */
export const MODIFIED_Z_FACTOR = 0.6745;

/** Robust centre and spread of a null sample (see {@link robustNull}). */
export interface RobustNull {
  /** Median of the null sample. */
  readonly centre: number;
  /**
   * Its spread on the MAD scale: the MAD, or Iglewicz & Hoaglin's fallback 1.253314·(mean
   * absolute deviation) when more than half the values tie, never below `minSpread`.
   */
  readonly spread: number;
  /** Values in the null sample. */
  readonly size: number;
}

/**
 * The robust centre and spread of `values`. `minSpread` bounds the spread from below (a null of
 * a few near-identical values would otherwise make any difference look enormous); callers pass
 * a share of the centre, or the statistic's own sampling error, never a dataset constant.
 */
export function robustNull(values: ArrayLike<number>, minSpread = 0): RobustNull {
  const finite = Array.from(values).filter((v) => Number.isFinite(v));
  if (finite.length === 0) return { centre: Number.NaN, spread: Number.NaN, size: 0 };
  const centre = median(finite);
  let spread = mad(finite, centre);
  if (!(spread > 0)) {
    const meanAbs = finite.reduce((a, v) => a + Math.abs(v - centre), 0) / finite.length;
    spread = 1.253314 * meanAbs * MODIFIED_Z_FACTOR;
  }
  return { centre, spread: Math.max(spread, minSpread), size: finite.length };
}

/**
 * The modified z-score of `value` against a null (Iglewicz & Hoaglin 1993): 0.6745·(value −
 * centre) / spread. `+∞` for a value above a null with no spread, 0 for an empty null or a
 * non-finite value below it.
 */
export function modifiedZ(value: number, nul: RobustNull): number {
  if (nul.size === 0 || Number.isNaN(value)) return 0;
  if (value === Number.POSITIVE_INFINITY) return Number.POSITIVE_INFINITY;
  const d = value - nul.centre;
  if (!(nul.spread > 0)) return d > 0 ? Number.POSITIVE_INFINITY : 0;
  return (MODIFIED_Z_FACTOR * d) / nul.spread;
}

/** The value a statistic must reach to be strong against `nul` (z = {@link STRONG_EVIDENCE}). */
export function strongCutoff(nul: RobustNull, z = STRONG_EVIDENCE): number {
  return nul.centre + (z * nul.spread) / MODIFIED_Z_FACTOR;
}

/** A strength rounded for reports (finite, 2 decimals; +∞ becomes 99). */
export function roundStrength(z: number): number {
  if (!Number.isFinite(z)) return z > 0 ? 99 : 0;
  return Math.round(Math.min(z, 99) * 100) / 100;
}

/**
 * Whether a trusted clean subset contradicts a detector's flags in one class: the detector
 * flags the trusted records (known clean) at least as often as the others, and at least one of
 * them. A finding that flags known-clean records as readily as the rest is not evidence of
 * poison (the trusted records estimate the class's clean null).
 */
export function trustedContradicts(
  flaggedTrusted: number,
  trusted: number,
  flaggedRest: number,
  rest: number,
): boolean {
  if (trusted === 0 || flaggedTrusted === 0) return false;
  return flaggedTrusted / trusted >= flaggedRest / Math.max(rest, 1);
}

/**
 * Grades label-noise findings (k-NN consistency, confident learning): each class's flagged
 * share judged among the classes by the modified z-score, the spread kept at least the binomial
 * sampling error of the median share on a class of average size. Returns the findings with
 * `strength` set.
 */
export function withShareStrength<F extends { count: number; flagged: number }>(
  findings: readonly F[],
): (F & { strength: number })[] {
  const present = findings.filter((f) => f.count > 0);
  const shares = present.map((f) => f.flagged / f.count);
  const avg = present.length ? present.reduce((a, f) => a + f.count, 0) / present.length : 1;
  const mid = shares.length ? median(shares) : 0;
  const nul = robustNull(shares.length ? shares : [0], Math.sqrt(Math.max(mid, 1 / avg) / avg));
  return findings.map((f) => ({
    ...f,
    strength: f.count > 0 && f.flagged > 0 ? roundStrength(modifiedZ(f.flagged / f.count, nul)) : 0,
  }));
}
