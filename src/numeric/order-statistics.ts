/** Order statistics on plain number arrays: selection, median, MAD, quantiles. */

/**
 * Rearranges `a` in place so that `a[k]` holds the value it would hold if `a` were sorted, with
 * nothing larger before it and nothing smaller after it (Hoare's quickselect, median-of-three
 * pivots: expected O(n)). NaN-free input assumed.
 */
export function selectKth(a: Float64Array, k: number): number {
  let lo = 0;
  let hi = a.length - 1;
  while (hi > lo) {
    const mid = (lo + hi) >> 1;
    // Median of three as pivot, moved to a[mid].
    if (a[mid]! < a[lo]!) swap(a, mid, lo);
    if (a[hi]! < a[lo]!) swap(a, hi, lo);
    if (a[hi]! < a[mid]!) swap(a, hi, mid);
    const pivot = a[mid]!;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i]! < pivot) i++;
      while (a[j]! > pivot) j--;
      if (i <= j) {
        swap(a, i, j);
        i++;
        j--;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else break;
  }
  return a[k]!;
}

function swap(a: Float64Array, i: number, j: number): void {
  const t = a[i]!;
  a[i] = a[j]!;
  a[j] = t;
}

/** Median of `values` (copied, not modified). NaN for an empty input. */
export function median(values: ArrayLike<number>): number {
  const n = values.length;
  if (n === 0) return Number.NaN;
  const a = Float64Array.from(values);
  const upper = selectKth(a, n >> 1);
  if (n % 2 === 1) return upper;
  // After selection everything in a[0 .. n/2 − 1] is ≤ the upper middle: the lower middle is
  // their maximum.
  let lower = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < n >> 1; i++) if (a[i]! > lower) lower = a[i]!;
  return (lower + upper) / 2;
}

/** Median absolute deviation about the median (unscaled). */
export function mad(values: ArrayLike<number>, med = median(values)): number {
  const dev = new Float64Array(values.length);
  for (let i = 0; i < values.length; i++) dev[i] = Math.abs(values[i]! - med);
  return median(dev);
}

/** The q-quantile (0..1) of `values` by linear interpolation. */
export function quantile(values: ArrayLike<number>, q: number): number {
  const n = values.length;
  if (n === 0) return Number.NaN;
  const a = Float64Array.from(values).sort();
  const pos = Math.min(Math.max(q, 0), 1) * (n - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, n - 1);
  return a[lo]! + (a[hi]! - a[lo]!) * (pos - lo);
}
