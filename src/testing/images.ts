import { backdoorAttack } from '../attacks/backdoor.js';
import { createTrigger, type Trigger } from '../attacks/triggers.js';
import type { Dataset } from '../data/dataset.js';
import { loadMnist } from '../data/mnist.js';
import { type TfClassifier, trainClassifier } from '../engine/tf-classifier.js';
import type { ModelSpec } from '../engine/zoo.js';
import { Rng } from '../util/rng.js';

/**
 * Tiny synthetic image data for model-level defense tests: `classes` prototypes of `side × side`
 * grayscale images (smooth random blobs on a black background, like MNIST strokes), samples =
 * prototype with multiplicative and additive Gaussian noise on the blob pixels, clipped to [0, 1].
 */
export function syntheticImages(
  o: { classes?: number; perClass?: number; side?: number; noise?: number; seed?: number } = {},
): Dataset {
  const k = o.classes ?? 4;
  const per = o.perClass ?? 100;
  const side = o.side ?? 8;
  const noise = o.noise ?? 0.15;
  const rng = new Rng(o.seed ?? 7);
  const size = side * side;
  const protos = new Float32Array(k * size);
  for (let c = 0; c < k; c++) {
    for (let b = 0; b < 3; b++) {
      const cy = rng.uniform(0, side * 0.7);
      const cx = rng.uniform(0, side * 0.7);
      const r = rng.uniform(side * 0.12, side * 0.3);
      for (let i = 0; i < side; i++) {
        for (let j = 0; j < side; j++) {
          const v = Math.exp(-((i - cy) ** 2 + (j - cx) ** 2) / (2 * r * r));
          protos[c * size + i * side + j] = Math.min(
            0.8,
            protos[c * size + i * side + j]! + v * 0.8,
          );
        }
      }
    }
  }
  const n = k * per;
  const x = new Float32Array(n * size);
  const y = new Int32Array(n);
  const order = rng.permutation(n);
  for (let t = 0; t < n; t++) {
    const r = order[t]!;
    const c = t % k;
    y[r] = c;
    for (let d = 0; d < size; d++) {
      const p = protos[c * size + d]!;
      const v = p < 0.15 ? 0 : p * (1 + rng.normal(0, noise * 2)) + rng.normal(0, noise);
      x[r * size + d] = v < 0 ? 0 : Math.min(v, 1);
    }
  }
  return {
    x,
    shape: [n, side, side, 1],
    y,
    classes: Array.from({ length: k }, (_, c) => `c${c}`),
    ids: Array.from({ length: n }, (_, i) => `img-${i}`),
  };
}

/** The first `count` records of `ds`, or records `[from, from + count)`. */
export function sliceRecords(ds: Dataset, from: number, count: number): Dataset {
  const size = ds.shape.slice(1).reduce((a, b) => a * b, 1);
  return {
    x: ds.x.slice(from * size, (from + count) * size),
    shape: [count, ...ds.shape.slice(1)],
    y: ds.y.slice(from, from + count),
    classes: ds.classes,
    ids: ds.ids.slice(from, from + count),
  };
}

/** The trigger used by these tests: a 3×3 checkerboard patch in the bottom-right corner. */
export const testTrigger: Trigger = createTrigger({ kind: 'checkerboard', size: 3, margin: 0 });

/** A small model trained on `train`, BadNets-poisoned all-to-one into `target` when `rate` > 0. */
export async function trainTestModel(
  train: Dataset,
  o: { rate?: number; target?: number; seed?: number; epochs?: number; model?: ModelSpec } = {},
): Promise<TfClassifier> {
  const ds =
    (o.rate ?? 0) > 0
      ? backdoorAttack.poison(
          train,
          { mode: 'all-to-one', target: o.target ?? 0, trigger: testTrigger, rate: o.rate ?? 0 },
          new Rng(o.seed ?? 1),
        ).dataset
      : train;
  return trainClassifier(ds, {
    model: o.model ?? { arch: 'mlp', hidden: [32] },
    seed: o.seed ?? 1,
    epochs: o.epochs ?? 15,
    batchSize: 32,
    learningRate: 0.01,
  });
}

/**
 * MNIST records downsampled to 14 × 14 (2 × 2 mean pooling): real digits at a quarter of the cost,
 * for tests that need a model whose clean predictions are not trivially confident.
 */
export async function mnist14(split: 'train' | 'test', count: number, from = 0): Promise<Dataset> {
  const full = await loadMnist(split, { limit: from + count });
  const x = new Float32Array(count * 196);
  for (let r = 0; r < count; r++) {
    const src = (from + r) * 784;
    for (let i = 0; i < 14; i++) {
      for (let j = 0; j < 14; j++) {
        const a = src + 2 * i * 28 + 2 * j;
        x[r * 196 + i * 14 + j] =
          (full.x[a]! + full.x[a + 1]! + full.x[a + 28]! + full.x[a + 29]!) / 4;
      }
    }
  }
  return {
    x,
    shape: [count, 14, 14, 1],
    y: full.y.slice(from, from + count),
    classes: full.classes,
    ids: full.ids.slice(from, from + count),
  };
}

/** A BadNets-poisoned 14 × 14 MNIST CNN and the clean splits around it (see {@link mnist14}). */
export interface MnistFixture {
  readonly model: TfClassifier;
  /** The clean training records (the model saw them, 10% of them poisoned into class 0). */
  readonly train: Dataset;
  /** Clean held-out records: 100 for overlays / optimisation, 200 for calibration, 300 to test. */
  readonly pool: Dataset;
  readonly calib: Dataset;
  readonly test: Dataset;
  readonly trigger: Trigger;
}

/**
 * Trains the MNIST fixture: 1,500 training records (14 × 14), the BadNets pattern trigger
 * all-to-one into class 0 at `rate` of the training set (0 = a clean model), a CNN (8/16 filters,
 * 32 features), 6 epochs. About 6 s on one core.
 */
export async function mnistFixture(
  o: { rate?: number; seed?: number } = {},
): Promise<MnistFixture> {
  const train = await mnist14('train', 1500);
  const trigger = createTrigger({ kind: 'pattern' });
  const rate = o.rate ?? 0.1;
  const ds =
    rate > 0
      ? backdoorAttack.poison(train, { mode: 'all-to-one', target: 0, trigger, rate }, new Rng(1))
          .dataset
      : train;
  const model = await trainClassifier(ds, {
    model: { arch: 'cnn', filters: [8, 16], hidden: [32] },
    seed: o.seed ?? 1,
    epochs: 6,
    batchSize: 32,
    learningRate: 0.005,
  });
  return {
    model,
    train,
    pool: await mnist14('test', 100, 0),
    calib: await mnist14('test', 200, 100),
    test: await mnist14('test', 300, 300),
    trigger,
  };
}
