/**
 * Projected gradient descent in an L∞ ball (Madry, Makelov, Schmidt, Tsipras & Vladu 2018,
 * "Towards Deep Learning Models Resistant to Adversarial Attacks", ICLR): from an optional uniform
 * random start in the ε-ball, take `steps` signed-gradient steps of size `stepSize` on the
 * cross-entropy loss, projecting back into the ε-ball around the input and into the value range
 * after every step. Untargeted (raise the loss of the true label) or targeted (lower the loss of a
 * chosen label). Used by the clean-label backdoor (Turner et al. 2019) and adversarial training.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { DifferentiableModel, LogitsModel } from '../engine/differentiable.js';
import { AntidoteError } from '../errors.js';
import type { Rng } from '../util/rng.js';

/**
 * What gradient-based attacks need of a model: a differentiable TF.js model that outputs logits (a zoo
 * `TfClassifier`, or an imported ONNX graph: `OnnxModel.differentiable`).
 */
export type { DifferentiableModel } from '../engine/differentiable.js';

/** Options of {@link pgdPerturb}. */
export interface PgdOptions {
  /** L∞ radius ε of the perturbation (in input units, e.g. 0.3 for MNIST in [0, 1]). */
  readonly epsilon: number;
  /** Gradient steps; default 10. */
  readonly steps?: number;
  /** Step size; default 2.5·ε / steps (Madry et al.). */
  readonly stepSize?: number;
  /** Start from a uniform random point of the ε-ball; default true. */
  readonly randomStart?: boolean;
  /** Value range the result is clipped to; default [0, 1]. */
  readonly clip?: readonly [number, number];
  /** Records per gradient batch; default 256. */
  readonly batchSize?: number;
}

/** Options with defaults filled in (see {@link resolvePgdOptions}). */
export type ResolvedPgdOptions = Required<PgdOptions>;

/** Validates PGD options and fills in defaults; throws INVALID_ARGUMENT. */
export function resolvePgdOptions(o: PgdOptions): ResolvedPgdOptions {
  const steps = o.steps ?? 10;
  const bad = (field: string, v: unknown, what: string) =>
    new AntidoteError('INVALID_ARGUMENT', `PGD ${field} must be ${what}, got ${v}`, { field });
  if (typeof o.epsilon !== 'number' || !(o.epsilon >= 0 && Number.isFinite(o.epsilon))) {
    throw bad('epsilon', o.epsilon, 'a finite number ≥ 0');
  }
  if (!Number.isInteger(steps) || steps < 1 || steps > 10_000) {
    throw bad('steps', steps, 'an integer in [1, 10000]');
  }
  const stepSize = o.stepSize ?? (2.5 * o.epsilon) / steps;
  if (!(stepSize >= 0 && Number.isFinite(stepSize))) throw bad('stepSize', stepSize, '≥ 0');
  const clip = o.clip ?? [0, 1];
  if (clip.length !== 2 || !(clip[0] < clip[1])) throw bad('clip', clip, '[lo, hi] with lo < hi');
  const batchSize = o.batchSize ?? 256;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw bad('batchSize', batchSize, '≥ 1');
  return {
    epsilon: o.epsilon,
    steps,
    stepSize,
    randomStart: o.randomStart ?? true,
    clip: [clip[0], clip[1]],
    batchSize,
  };
}

/**
 * PGD on one batch of tensors (no batching, no validation): `x` `[m, ...inputShape]`, `labels`
 * int32 `[m]`, `start` an optional random start offset (same shape as `x`, inside the ε-ball).
 * `direction` +1 raises the loss of `labels` (untargeted), −1 lowers it (targeted). The caller owns
 * the returned tensor; nothing else is left behind.
 */
export function pgdTensor(
  model: LogitsModel,
  x: tf.Tensor,
  labels: tf.Tensor1D,
  numClasses: number,
  o: ResolvedPgdOptions,
  start: tf.Tensor | undefined,
  direction: 1 | -1,
): tf.Tensor {
  return tf.tidy(() => {
    const oneHot = tf.oneHot(labels, numClasses);
    const lossOf = (input: tf.Tensor) =>
      tf.losses.softmaxCrossEntropy(
        oneHot,
        model.apply(input, { training: false }) as tf.Tensor2D,
        undefined,
        undefined,
        tf.Reduction.SUM,
      ) as tf.Scalar;
    const grad = tf.grad(lossOf);
    const lo = tf.sub(x, o.epsilon);
    const hi = tf.add(x, o.epsilon);
    const project = (v: tf.Tensor) =>
      tf.clipByValue(tf.minimum(tf.maximum(v, lo), hi), o.clip[0], o.clip[1]);
    let adv = start ? project(tf.add(x, start)) : x;
    for (let s = 0; s < o.steps; s++) {
      const next = tf.tidy(() =>
        project(tf.add(adv, tf.mul(tf.sign(grad(adv)), direction * o.stepSize))),
      );
      if (adv !== x) adv.dispose();
      adv = next;
    }
    return adv === x ? tf.clone(x) : adv;
  });
}

/**
 * PGD adversarial examples for `n` records: untargeted against labels `y` (raise their loss),
 * or, with `targets`, targeted (lower the loss of `targets`). Random starts come from `rng`.
 * Returns new records laid out like `x`, each within ε (L∞) of its input and within `clip`.
 */
export async function pgdPerturb(
  model: DifferentiableModel,
  x: Float32Array,
  y: Int32Array,
  options: PgdOptions,
  rng: Rng,
  targets?: Int32Array,
): Promise<Float32Array> {
  const o = resolvePgdOptions(options);
  const n = y.length;
  const size = model.inputShape.reduce((a, b) => a * b, 1);
  if (x.length !== n * size || (targets && targets.length !== n)) {
    throw new AntidoteError(
      'SHAPE_MISMATCH',
      `PGD: expected ${n} records of ${size} values (and ${n} targets), got ${x.length} values`,
    );
  }
  const labels = targets ?? y;
  for (let i = 0; i < n; i++) {
    if (!Number.isInteger(labels[i]) || labels[i]! < 0 || labels[i]! >= model.numClasses) {
      throw new AntidoteError(
        'LABEL_OUT_OF_RANGE',
        `PGD: record ${i} has label ${labels[i]}, outside [0, ${model.numClasses})`,
      );
    }
  }
  const out = new Float32Array(x.length);
  for (let from = 0; from < n; from += o.batchSize) {
    const m = Math.min(o.batchSize, n - from);
    let noise: Float32Array | undefined;
    if (o.randomStart && o.epsilon > 0) {
      noise = new Float32Array(m * size);
      for (let i = 0; i < noise.length; i++) noise[i] = rng.uniform(-o.epsilon, o.epsilon);
    }
    const adv = tf.tidy(() => {
      const xb = tf.tensor(x.subarray(from * size, (from + m) * size), [m, ...model.inputShape]);
      const lb = tf.tensor1d(labels.subarray(from, from + m), 'int32');
      const start = noise ? tf.tensor(noise, [m, ...model.inputShape]) : undefined;
      return pgdTensor(model.model, xb, lb, model.numClasses, o, start, targets ? -1 : 1);
    });
    out.set((await adv.data()) as Float32Array, from * size);
    adv.dispose();
  }
  return out;
}

/** L2 and L∞ sizes of the perturbations `adv − x`, per record and summarised. */
export interface PerturbationSize {
  readonly l2: number[];
  readonly linf: number[];
  readonly meanL2: number;
  readonly maxL2: number;
  readonly meanLinf: number;
  readonly maxLinf: number;
}

/** Measures `adv − x` record by record (`n` records). */
export function perturbationSize(x: Float32Array, adv: Float32Array, n: number): PerturbationSize {
  if (x.length !== adv.length || (n > 0 && x.length % n !== 0)) {
    throw new AntidoteError(
      'SHAPE_MISMATCH',
      `perturbation: ${x.length} and ${adv.length} values for ${n} records`,
    );
  }
  const size = n > 0 ? x.length / n : 0;
  const l2: number[] = [];
  const linf: number[] = [];
  for (let i = 0; i < n; i++) {
    let s = 0;
    let m = 0;
    for (let d = i * size; d < (i + 1) * size; d++) {
      const v = Math.abs(adv[d]! - x[d]!);
      s += v * v;
      if (v > m) m = v;
    }
    l2.push(Math.sqrt(s));
    linf.push(m);
  }
  const mean = (a: number[]) => (a.length === 0 ? 0 : a.reduce((p, q) => p + q, 0) / a.length);
  return {
    l2,
    linf,
    meanL2: mean(l2),
    maxL2: Math.max(0, ...l2),
    meanLinf: mean(linf),
    maxLinf: Math.max(0, ...linf),
  };
}
