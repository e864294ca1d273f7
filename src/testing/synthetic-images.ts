/**
 * Tiny uniform-noise image datasets for attack tests (values in [0, 0.5), so a trigger value of 1
 * always shows). `images.ts` has the blob-prototype images model-level defense tests train on.
 */
import type { Dataset } from '../data/dataset.js';
import { Rng } from '../util/rng.js';

/**
 * A small synthetic image dataset for tests: `n` records of `[h, w, c]` with values in [0, 0.5)
 * (so a trigger value of 1 always shows), labels cycling through `k` classes.
 */
export function syntheticImages(
  n: number,
  shape: readonly number[] = [8, 8, 1],
  k = 3,
  seed = 1,
  withSource = false,
): Dataset {
  const rng = new Rng(seed);
  const size = shape.reduce((a, b) => a * b, 1);
  const x = new Float32Array(n * size);
  for (let i = 0; i < x.length; i++) x[i] = rng.next() * 0.5;
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) y[i] = i % k;
  return {
    x,
    shape: [n, ...shape],
    y,
    classes: Array.from({ length: k }, (_, i) => `c${i}`),
    ids: Array.from({ length: n }, (_, i) => `r${i}`),
    ...(withSource ? { source: Array.from({ length: n }, (_, i) => `feed${i % 2}`) } : {}),
  };
}
