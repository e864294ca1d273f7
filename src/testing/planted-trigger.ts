/**
 * A planted low-variance backdoor cluster and a natural tight sub-style, with a model that reads
 * the trigger (issue 16's trigger transfer, `defenses/trigger-transfer.ts`): shared by its tests
 * and the distributed scan's (`jobs/scan-jobs.test.ts`).
 */
import type { Dataset } from '../data/dataset.js';
import type { Classifier } from '../engine/classifier.js';
import { Rng } from '../util/rng.js';

/**
 * Six classes of 16-value records: the class is read from value 0 (uniform in its sixth), values
 * 1–15 are quiet noise (SD 0.02). Class 0 holds 40 poisoned records: records of the other classes
 * with value 15 set to 1, which the model sends to class 0 (a backdoor). Class 3 holds a natural
 * tight sub-style: 30 of its records with value 14 at 0.4, which the model ignores. The model's
 * features are its prediction (one-hot, ×3) and values 1–15, so both clusters sit along a
 * direction where their class varies little.
 */
export function plantedTriggerCase(): {
  ds: Dataset;
  model: Classifier;
  poisoned: Set<number>;
  natural: Set<number>;
} {
  const k = 6;
  const per = 400;
  const size = 16;
  const rng = new Rng(5);
  const rows: { x: number[]; y: number; tag: 'clean' | 'poison' | 'natural' }[] = [];
  for (let c = 0; c < k; c++) {
    for (let r = 0; r < per; r++) {
      const x = [(c + rng.uniform(0.02, 0.98)) / k];
      for (let j = 1; j < size; j++) x.push(rng.normal(0, 0.02));
      const natural = c === 3 && r < 30;
      if (natural) x[14] = 0.4 + rng.normal(0, 0.02);
      rows.push({ x, y: c, tag: natural ? 'natural' : 'clean' });
    }
  }
  for (let p = 0; p < 40; p++) {
    const source = 1 + (p % (k - 1));
    const x = [(source + rng.uniform(0.02, 0.98)) / k];
    for (let j = 1; j < size; j++) x.push(rng.normal(0, 0.02));
    x[15] = 1;
    rows.push({ x, y: 0, tag: 'poison' });
  }
  const n = rows.length;
  const ds: Dataset = {
    x: Float32Array.from(rows.flatMap((r) => r.x)),
    shape: [n, 4, 4, 1],
    y: Int32Array.from(rows, (r) => r.y),
    classes: Array.from({ length: k }, (_, c) => `c${c}`),
    ids: rows.map((_, i) => `r${i}`),
  };
  const predictOne = (x: Float32Array, o: number): number =>
    x[o + 15]! >= 0.5 ? 0 : Math.min(k - 1, Math.max(0, Math.floor(x[o]! * k)));
  const model = readingClassifier(k, size, predictOne);
  const poisoned = new Set<number>();
  const natural = new Set<number>();
  rows.forEach((r, i) => {
    if (r.tag === 'poison') poisoned.add(i);
    if (r.tag === 'natural') natural.add(i);
  });
  return { ds, model, poisoned, natural };
}

/**
 * A classifier of `k` classes over `size`-value records (of `shape`, default 4 × 4 × 1) that
 * assigns record `x[o..o+size)` the class `predictOne(x, o)` (probability 0.9, 0.02 elsewhere);
 * its features are that prediction (one-hot, ×3) and values 1 to `size − 1` of the record.
 */
export function readingClassifier(
  k: number,
  size: number,
  predictOne: (x: Float32Array, o: number) => number,
  shape: readonly number[] = [4, 4, 1],
): Classifier {
  return {
    inputShape: [...shape],
    numClasses: k,
    layerNames: ['features', 'logits'],
    async predict(x, m) {
      return Int32Array.from({ length: m }, (_, i) => predictOne(x, i * size));
    },
    async predictProba(x, m) {
      const p = new Float32Array(m * k).fill(0.02);
      for (let i = 0; i < m; i++) p[i * k + predictOne(x, i * size)] = 0.9;
      return p;
    },
    async activations(x, m) {
      const dim = k + size - 1;
      const data = new Float32Array(m * dim);
      for (let i = 0; i < m; i++) {
        data[i * dim + predictOne(x, i * size)] = 3;
        for (let j = 1; j < size; j++) data[i * dim + k + j - 1] = x[i * size + j]!;
      }
      return { data, dim };
    },
  };
}

/**
 * A poison of 0.5% of its class along a direction of little variance: four classes of 1,500
 * records of 64 values (8 × 8 × 1), the class read from value 0; values 1–40 are broad noise
 * (SD 0.1), values 41–63 quiet noise (SD 0.01). Class 0 also holds 8 poisoned records (0.53% of
 * it): records of the other classes with value 63 at 0.5, which the model sends to class 0. The
 * poison adds a variance of about 0.0013 along value 63, less than each broad value's 0.01, so
 * its direction is not among the class's 32 largest (as on an mlp's layer with 30 poisoned
 * records of 5,953: MNIST, image insert, blend and pattern at 0.5% of the target class).
 */
export function sparsePoisonCase(): { ds: Dataset; model: Classifier; poisoned: Set<number> } {
  const k = 4;
  const per = 1500;
  const size = 64;
  const rng = new Rng(17);
  const record = (c: number): number[] => {
    const x = [(c + rng.uniform(0.02, 0.98)) / k];
    for (let j = 1; j < size; j++) x.push(rng.normal(0, j <= 40 ? 0.1 : 0.01));
    return x;
  };
  const rows: { x: number[]; y: number; poison: boolean }[] = [];
  for (let c = 0; c < k; c++)
    for (let r = 0; r < per; r++) rows.push({ x: record(c), y: c, poison: false });
  for (let p = 0; p < 8; p++) {
    const x = record(1 + (p % (k - 1)));
    x[size - 1] = 0.5;
    rows.push({ x, y: 0, poison: true });
  }
  const n = rows.length;
  const ds: Dataset = {
    x: Float32Array.from(rows.flatMap((r) => r.x)),
    shape: [n, 8, 8, 1],
    y: Int32Array.from(rows, (r) => r.y),
    classes: Array.from({ length: k }, (_, c) => `c${c}`),
    ids: rows.map((_, i) => `r${i}`),
  };
  const model = readingClassifier(
    k,
    size,
    (x, o) => (x[o + size - 1]! >= 0.25 ? 0 : Math.min(k - 1, Math.max(0, Math.floor(x[o]! * k)))),
    [8, 8, 1],
  );
  const poisoned = new Set<number>();
  rows.forEach((r, i) => {
    if (r.poison) poisoned.add(i);
  });
  return { ds, model, poisoned };
}
