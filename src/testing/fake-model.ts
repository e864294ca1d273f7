import type { Dataset } from '../data/dataset.js';
import type { Classifier } from '../engine/classifier.js';
import { Rng } from '../util/rng.js';

/**
 * A synthetic image set whose class is readable from pixel 0 (`x[0] = (label + 0.5) / 10`), the
 * rest uniform in [0, 0.5) — so a trigger value of 1 is always visible.
 */
export function encodedImages(
  n: number,
  k = 3,
  seed = 1,
  shape: readonly number[] = [8, 8, 1],
): Dataset {
  const rng = new Rng(seed);
  const size = shape.reduce((a, b) => a * b, 1);
  const x = new Float32Array(n * size);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    y[i] = i % k;
    for (let j = 1; j < size; j++) x[i * size + j] = rng.next() * 0.5;
    x[i * size] = (y[i]! + 0.5) / 10;
  }
  return {
    x,
    shape: [n, ...shape],
    y,
    classes: Array.from({ length: k }, (_, i) => `c${i}`),
    ids: Array.from({ length: n }, (_, i) => `r${i}`),
  };
}

/**
 * A fake classifier over {@link encodedImages}: reads the class from pixel 0; when `backdoor` is
 * given, any input whose value at flat offset `backdoor.at` is ≥ 0.99 is classified as
 * `backdoor.target`. `flip` maps predicted classes (models a label-flipped victim).
 */
export function fakeModel(
  inputShape: readonly number[],
  k: number,
  options: { backdoor?: { at: number; target: number }; flip?: Record<number, number> } = {},
): Classifier & { calls: number } {
  const size = inputShape.reduce((a, b) => a * b, 1);
  const m = {
    calls: 0,
    inputShape,
    numClasses: k,
    layerNames: ['features', 'logits'],
    async predict(x: Float32Array, n: number): Promise<Int32Array> {
      m.calls++;
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) {
        const bd = options.backdoor;
        if (bd && x[i * size + bd.at]! >= 0.99) {
          out[i] = bd.target;
          continue;
        }
        const c = Math.min(k - 1, Math.max(0, Math.floor(x[i * size]! * 10)));
        out[i] = options.flip?.[c] ?? c;
      }
      return out;
    },
    async predictProba(x: Float32Array, n: number): Promise<Float32Array> {
      const pred = await m.predict(x, n);
      const p = new Float32Array(n * k).fill(0.1 / Math.max(k - 1, 1));
      for (let i = 0; i < n; i++) p[i * k + pred[i]!] = 0.9;
      return p;
    },
    async activations(x: Float32Array, n: number) {
      return { data: x.slice(0, n * size), dim: size };
    },
  };
  return m;
}
