import { backdoorAttack } from '../attacks/backdoor.js';
import { createTrigger } from '../attacks/triggers.js';
import type { Dataset } from '../data/dataset.js';
import { type TfClassifier, trainClassifier } from '../engine/tf-classifier.js';
import { Rng } from '../util/rng.js';

/** Side of the synthetic square images. */
export const SIDE = 8;

/**
 * Synthetic 8×8 grey images of `k` classes: each class is a fixed random blob pattern (away from
 * the bottom-right corner where the BadNets pattern trigger goes) plus Gaussian noise.
 */
export function syntheticImages(n: number, seed: number, k = 4): Dataset {
  const protoRng = new Rng(12345);
  const protos: Float32Array[] = [];
  for (let c = 0; c < k; c++) {
    const p = new Float32Array(SIDE * SIDE);
    for (let r = 0; r < SIDE - 3; r++)
      for (let q = 0; q < SIDE - 3; q++) p[r * SIDE + q] = protoRng.next() < 0.35 ? 0.9 : 0;
    protos.push(p);
  }
  const rng = new Rng(seed);
  const x = new Float32Array(n * SIDE * SIDE);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = i % k;
    y[i] = c;
    for (let j = 0; j < SIDE * SIDE; j++) {
      x[i * SIDE * SIDE + j] = Math.min(1, Math.max(0, protos[c]![j]! + rng.normal(0, 0.2)));
    }
  }
  return {
    x,
    shape: [n, SIDE, SIDE, 1],
    y,
    classes: Array.from({ length: k }, (_, c) => `c${c}`),
    ids: Array.from({ length: n }, (_, i) => `r${seed}-${i}`),
  };
}

/** The BadNets pattern trigger used by the fixtures. */
export const PATTERN = { kind: 'pattern' } as const;

/** Stamps the pattern trigger on every record of `ds` (features only). */
export function triggered(ds: Dataset): Float32Array {
  const t = createTrigger(PATTERN);
  const size = SIDE * SIDE;
  const out = new Float32Array(ds.x.length);
  const rng = new Rng(7);
  for (let i = 0; i < ds.y.length; i++) {
    out.set(t.apply(ds.x.subarray(i * size, (i + 1) * size), [SIDE, SIDE, 1], rng), i * size);
  }
  return out;
}

/** A clean training set, a backdoored copy (all-to-one into class 0) and the trained models. */
export async function trainPair(options: { n?: number; epochs?: number } = {}): Promise<{
  train: Dataset;
  poisoned: Dataset;
  poisonedMask: Uint8Array;
  test: Dataset;
  clean: TfClassifier;
  backdoored: TfClassifier;
}> {
  const train = syntheticImages(options.n ?? 400, 1);
  const test = syntheticImages(200, 2);
  const r = backdoorAttack.poison(
    train,
    { mode: 'all-to-one', target: 0, trigger: PATTERN, rate: 0.1 },
    new Rng(3),
  );
  const epochs = options.epochs ?? 15;
  const clean = await trainClassifier(train, { model: 'mlp', seed: 1, epochs, batchSize: 32 });
  const backdoored = await trainClassifier(r.dataset, {
    model: 'mlp',
    seed: 1,
    epochs,
    batchSize: 32,
  });
  return { train, poisoned: r.dataset, poisonedMask: r.poisoned, test, clean, backdoored };
}
