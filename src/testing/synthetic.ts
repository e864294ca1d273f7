import type { Dataset } from '../data/dataset.js';
import type { Classifier } from '../engine/classifier.js';
import { Rng } from '../util/rng.js';

/**
 * Synthetic "representations" for detector tests: each class is an anisotropic Gaussian (variances
 * decaying along random axes), and poison is a small, shifted Gaussian hidden in the target class.
 */
export interface SyntheticOptions {
  readonly classes?: number;
  readonly perClass?: number;
  readonly dim?: number;
  /** Poisoned records added to `target` (0 = clean data). */
  readonly poison?: number;
  readonly target?: number;
  /** Shift of the poison cluster from the target class mean, in units of the largest SD. */
  readonly shift?: number;
  /**
   * `cluster`: poison = target mean + shift along a random direction (a trigger feature);
   * `source`: poison = records of other classes plus a small trigger offset (raw-feature style).
   */
  readonly mode?: 'cluster' | 'source';
  readonly seed?: number;
}

/** Output of {@link syntheticReps}. */
export interface SyntheticData {
  readonly data: Float32Array;
  readonly dim: number;
  readonly y: Int32Array;
  readonly poisoned: Uint8Array;
  readonly classes: string[];
  readonly means: Float64Array;
  readonly source: Int32Array;
}

/** Builds Gaussian-cluster data; see {@link SyntheticOptions}. */
export function syntheticReps(o: SyntheticOptions = {}): SyntheticData {
  const k = o.classes ?? 5;
  const per = o.perClass ?? 200;
  const dim = o.dim ?? 16;
  const poison = o.poison ?? 0;
  const target = o.target ?? 0;
  const shift = o.shift ?? 8;
  const rng = new Rng(o.seed ?? 1);
  const sd = Float64Array.from({ length: dim }, (_, j) => 1 / Math.sqrt(1 + j));
  const means = new Float64Array(k * dim);
  for (let i = 0; i < means.length; i++) means[i] = rng.normal(0, 6);
  const n = k * per + poison;
  const data = new Float32Array(n * dim);
  const y = new Int32Array(n);
  const poisoned = new Uint8Array(n);
  const source = new Int32Array(n);
  const dir = Float64Array.from({ length: dim }, () => rng.normal());
  const norm = Math.hypot(...dir);
  for (let j = 0; j < dim; j++) dir[j]! /= norm;
  const trigger = Float64Array.from({ length: dim }, (_, j) => (j >= dim - 2 ? 3 : 0));
  let r = 0;
  for (let c = 0; c < k; c++) {
    for (let t = 0; t < per; t++, r++) {
      for (let j = 0; j < dim; j++) data[r * dim + j] = means[c * dim + j]! + rng.normal() * sd[j]!;
      y[r] = c;
      source[r] = c;
    }
  }
  for (let t = 0; t < poison; t++, r++) {
    let from = target;
    if (o.mode === 'source') {
      from = (target + 1 + (t % (k - 1))) % k;
      for (let j = 0; j < dim; j++) {
        data[r * dim + j] = means[from * dim + j]! + rng.normal() * sd[j]! + trigger[j]!;
      }
    } else {
      for (let j = 0; j < dim; j++) {
        data[r * dim + j] = means[target * dim + j]! + shift * dir[j]! + rng.normal() * sd[j]!;
      }
    }
    y[r] = target;
    poisoned[r] = 1;
    source[r] = from;
  }
  return {
    data,
    dim,
    y,
    poisoned,
    classes: Array.from({ length: k }, (_, c) => `c${c}`),
    means,
    source,
  };
}

/** The synthetic data as a tabular {@link Dataset} (features = the representations). */
export function syntheticDataset(s: SyntheticData): Dataset {
  const n = s.y.length;
  return {
    x: s.data,
    shape: [n, s.dim],
    y: s.y,
    classes: s.classes,
    ids: Array.from({ length: n }, (_, i) => `r${i}`),
  };
}

/**
 * A fake classifier on tabular data: nearest class mean (means estimated from `train`), softmax
 * over negative squared distances with the given temperature; activations are the input itself
 * (layer `features`) or the logits (layer `logits`).
 */
export function nearestMeanClassifier(train: Dataset, temperature = 1): Classifier {
  const dim = train.shape[1]!;
  const k = train.classes.length;
  const means = new Float64Array(k * dim);
  const counts = new Float64Array(k);
  for (let i = 0; i < train.y.length; i++) {
    counts[train.y[i]!]!++;
    for (let j = 0; j < dim; j++) means[train.y[i]! * dim + j]! += train.x[i * dim + j]!;
  }
  for (let c = 0; c < k; c++) for (let j = 0; j < dim; j++) means[c * dim + j]! /= counts[c] || 1;
  const logits = (x: Float32Array, n: number): Float32Array => {
    const out = new Float32Array(n * k);
    for (let i = 0; i < n; i++) {
      for (let c = 0; c < k; c++) {
        let d = 0;
        for (let j = 0; j < dim; j++) d += (x[i * dim + j]! - means[c * dim + j]!) ** 2;
        out[i * k + c] = -d / temperature;
      }
    }
    return out;
  };
  const proba = (x: Float32Array, n: number): Float32Array => {
    const l = logits(x, n);
    for (let i = 0; i < n; i++) {
      let m = Number.NEGATIVE_INFINITY;
      for (let c = 0; c < k; c++) m = Math.max(m, l[i * k + c]!);
      let s = 0;
      for (let c = 0; c < k; c++) s += l[i * k + c] = Math.exp(l[i * k + c]! - m);
      for (let c = 0; c < k; c++) l[i * k + c]! /= s;
    }
    return l;
  };
  return {
    inputShape: [dim],
    numClasses: k,
    layerNames: ['features', 'logits'],
    predictProba: async (x, n) => proba(x, n),
    predict: async (x, n) => {
      const p = proba(x, n);
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) {
        let b = 0;
        for (let c = 1; c < k; c++) if (p[i * k + c]! > p[i * k + b]!) b = c;
        out[i] = b;
      }
      return out;
    },
    activations: async (x, n, layer) =>
      layer === 'logits' ? { data: logits(x, n), dim: k } : { data: x.slice(0, n * dim), dim },
  };
}
