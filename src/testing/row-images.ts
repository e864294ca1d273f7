/**
 * Tiny row-lit images for tests (apart from `knn.ts`, which reaches the eval layer, so that
 * lower layers' tests can use them).
 */
import type { Dataset } from '../data/dataset.js';
import { Rng } from '../util/rng.js';

/**
 * Images where class c lights row c at 0.3 over noise in [0, 0.05): a 1-nearest-neighbour
 * learner separates the classes perfectly, and a value-1 trigger outweighs a class difference,
 * so the learner picks up backdoors the way a network does.
 */
export function rowImages(n: number, k = 3, seed = 1, side = 8): Dataset {
  const rng = new Rng(seed);
  const size = side * side;
  const x = new Float32Array(n * size);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = i % k;
    y[i] = c;
    for (let j = 0; j < size; j++) x[i * size + j] = rng.next() * 0.05;
    for (let j = 0; j < side; j++) x[i * size + c * side + j]! += 0.3;
  }
  return {
    x,
    shape: [n, side, side, 1],
    y,
    classes: Array.from({ length: k }, (_, i) => `c${i}`),
    ids: Array.from({ length: n }, (_, i) => `r${i}`),
  };
}
