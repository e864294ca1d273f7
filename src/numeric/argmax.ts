/**
 * The index of the largest value of each row of a row-major `[n, k]` matrix: the first one on a
 * tie, as TF.js's `argMax`.
 */
export function rowArgmax(values: ArrayLike<number>, n: number, k: number): Int32Array {
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const o = i * k;
    let best = 0;
    for (let j = 1; j < k; j++) if (values[o + j]! > values[o + best]!) best = j;
    out[i] = best;
  }
  return out;
}
