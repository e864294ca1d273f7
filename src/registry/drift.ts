import { AntidoteError } from '../errors.js';

/**
 * Distribution-shift statistics for monitoring live traffic against a reference sample:
 * the Population Stability Index (PSI; Siddiqi 2006, "Credit Risk Scorecards") over bins cut at
 * the reference quantiles, and the two-sample Kolmogorov–Smirnov statistic with its asymptotic
 * critical value (Smirnov 1948). Conventional PSI reading: < 0.1 stable, 0.1–0.25 moderate shift,
 * > 0.25 major shift.
 */

const EPS = 1e-4;

/** Bin edges (length `bins - 1`) at the reference quantiles, duplicates removed. */
export function quantileEdges(reference: ArrayLike<number>, bins: number): number[] {
  if (!Number.isInteger(bins) || bins < 2) {
    throw new AntidoteError('INVALID_ARGUMENT', `PSI needs at least 2 bins, got ${bins}`);
  }
  const s = Float64Array.from(reference).sort();
  if (s.length === 0) throw new AntidoteError('INVALID_ARGUMENT', 'PSI needs a reference sample');
  const edges: number[] = [];
  for (let b = 1; b < bins; b++) {
    const v = s[Math.min(s.length - 1, Math.floor((b * s.length) / bins))]!;
    if (edges.length === 0 || v > edges[edges.length - 1]!) edges.push(v);
  }
  return edges;
}

/** Counts of `values` in the bins delimited by `edges` (`edges.length + 1` bins). */
export function histogram(values: ArrayLike<number>, edges: readonly number[]): Float64Array {
  const h = new Float64Array(edges.length + 1);
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    let lo = 0;
    let hi = edges.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (v < edges[mid]!) hi = mid;
      else lo = mid + 1;
    }
    h[lo]!++;
  }
  return h;
}

/** PSI between two histograms (counts; smoothed with a small floor so empty bins stay finite). */
export function psiFromCounts(reference: ArrayLike<number>, current: ArrayLike<number>): number {
  if (reference.length !== current.length) {
    throw new AntidoteError('SHAPE_MISMATCH', 'PSI histograms must have the same number of bins');
  }
  let rs = 0;
  let cs = 0;
  for (let i = 0; i < reference.length; i++) {
    rs += reference[i]!;
    cs += current[i]!;
  }
  if (rs === 0 || cs === 0) return 0;
  let psi = 0;
  for (let i = 0; i < reference.length; i++) {
    const r = Math.max(EPS, reference[i]! / rs);
    const c = Math.max(EPS, current[i]! / cs);
    psi += (c - r) * Math.log(c / r);
  }
  return psi;
}

/** PSI of `current` against `reference` over `bins` quantile bins of the reference. */
export function psi(reference: ArrayLike<number>, current: ArrayLike<number>, bins = 10): number {
  const edges = quantileEdges(reference, bins);
  return psiFromCounts(histogram(reference, edges), histogram(current, edges));
}

/** The two-sample Kolmogorov–Smirnov statistic sup |F_ref − F_cur|. */
export function ksStatistic(reference: ArrayLike<number>, current: ArrayLike<number>): number {
  return ksStatisticSorted(Float64Array.from(reference).sort(), current);
}

/** {@link ksStatistic} with the reference already sorted ascending (monitors sort it once). */
export function ksStatisticSorted(
  sortedReference: Float64Array,
  current: ArrayLike<number>,
): number {
  const a = sortedReference;
  const b = Float64Array.from(current).sort();
  if (a.length === 0 || b.length === 0) return 0;
  let i = 0;
  let j = 0;
  let d = 0;
  while (i < a.length && j < b.length) {
    const v = Math.min(a[i]!, b[j]!);
    while (i < a.length && a[i]! <= v) i++;
    while (j < b.length && b[j]! <= v) j++;
    d = Math.max(d, Math.abs(i / a.length - j / b.length));
  }
  return d;
}

/**
 * The asymptotic KS critical value at level `alpha`: c(α)·√((n+m)/(n·m)), c(α) = √(−ln(α/2)/2).
 * A statistic above it rejects "same distribution" at level α.
 */
export function ksCritical(n: number, m: number, alpha: number): number {
  if (!(alpha > 0 && alpha < 1)) {
    throw new AntidoteError('INVALID_ARGUMENT', `KS alpha must be in (0, 1), got ${alpha}`);
  }
  return Math.sqrt(-Math.log(alpha / 2) / 2) * Math.sqrt((n + m) / (n * m));
}

/**
 * Reduces records of `dim` features to `groups` feature-group means (contiguous feature ranges,
 * e.g. bands of image rows): returns `groups` arrays of `n` values. Drift is then tested per group,
 * which stays cheap and robust for high-dimensional inputs.
 */
export function featureGroupMeans(
  x: Float32Array,
  n: number,
  dim: number,
  groups: number,
): Float64Array[] {
  const g = Math.max(1, Math.min(groups, dim));
  const out = Array.from({ length: g }, () => new Float64Array(n));
  const bounds = Array.from({ length: g + 1 }, (_, k) => Math.floor((k * dim) / g));
  for (let i = 0; i < n; i++) {
    const row = i * dim;
    for (let k = 0; k < g; k++) {
      let s = 0;
      const from = bounds[k]!;
      const to = bounds[k + 1]!;
      for (let d = from; d < to; d++) s += x[row + d]!;
      out[k]![i] = s / (to - from);
    }
  }
  return out;
}
