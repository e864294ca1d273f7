import { AntidoteError } from '../errors.js';
import { median } from './order-statistics.js';

/**
 * The modified z-score (Iglewicz & Hoaglin 1993, "How to Detect and Handle Outliers"): how far
 * each value lies from the median of all values, in robust standard deviations (1.4826·MAD, the
 * standard deviation of a normal sample). The detectors grade a class's statistic against the
 * other classes with it: the class-level anomaly index of SCAn (Tang et al. 2021) and of Neural
 * Cleanse (Wang et al. 2019) is this score.
 */

/** Result of {@link modifiedZScores}. */
export interface ModifiedZScores {
  /** Signed modified z-score per value: (value − median) / scale. */
  readonly z: Float64Array;
  /** Median of the values. */
  readonly median: number;
  /** Median absolute deviation about the median (unscaled). */
  readonly mad: number;
  /**
   * The robust standard deviation dividing the deviations: 1.4826·MAD, or, where more than half
   * of the values are equal (MAD = 0), 1.2533 times the mean absolute deviation about the median
   * (Iglewicz & Hoaglin's fallback); at least `minScale` when one is given. 0 when every value
   * is the median and no `minScale` is given (every z is then 0).
   */
  readonly scale: number;
}

/**
 * Signed modified z-scores of `values` (see the module comment). `minScale` floors the robust
 * standard deviation: a known noise level of the values (e.g. their standard error) below which
 * differences are not evidence, however alike the values happen to be. Throws `INVALID_ARGUMENT`
 * for an empty input, a non-finite value or a negative `minScale`.
 */
export function modifiedZScores(values: ArrayLike<number>, minScale = 0): ModifiedZScores {
  const n = values.length;
  if (n === 0) {
    throw new AntidoteError('INVALID_ARGUMENT', 'modified z-scores need at least one value');
  }
  for (let i = 0; i < n; i++) {
    if (!Number.isFinite(values[i])) {
      throw new AntidoteError(
        'INVALID_ARGUMENT',
        `modified z-scores need finite values; value ${i} is ${values[i]}`,
      );
    }
  }
  if (!(minScale >= 0)) {
    throw new AntidoteError('INVALID_ARGUMENT', `minScale must be ≥ 0, got ${minScale}`);
  }
  const med = median(values);
  const dev = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    dev[i] = Math.abs(values[i]! - med);
    sum += dev[i]!;
  }
  const mad = median(dev);
  const scale = Math.max(mad > 0 ? 1.4826 * mad : 1.2533 * (sum / n), minScale);
  const z = new Float64Array(n);
  if (scale > 0) for (let i = 0; i < n; i++) z[i] = (values[i]! - med) / scale;
  return { z, median: med, mad, scale };
}

/** Fewer classes than this give no cross-class null: {@link anomalyAmongClasses} declines. */
export const MIN_CLASSES_FOR_NULL = 3;

/**
 * A class statistic judged against the other classes: the {@link modifiedZScores} of `values`
 * (one per class) with the scale floored at `minScale`, or `undefined` when there are fewer than
 * {@link MIN_CLASSES_FOR_NULL} values (a median and MAD of two values say nothing).
 */
export function anomalyAmongClasses(
  values: readonly number[],
  minScale = 0,
): ModifiedZScores | undefined {
  return values.length >= MIN_CLASSES_FOR_NULL ? modifiedZScores(values, minScale) : undefined;
}
