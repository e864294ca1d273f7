/**
 * Feature-collision poisoning (Shafahi, Huang, Najibi, Suciu, Studer, Dumitras & Goldstein 2018,
 * "Poison Frogs! Targeted Clean-Label Poisoning Attacks on Neural Networks", NeurIPS). To make a
 * model misclassify one target test image t as a base class, craft images x that look like base
 * images b (so their correct label is the base class) but whose representation f(x) collides with
 * f(t):
 *
 *     minimise ‖f(x) − f(t)‖² + β‖x − b‖²
 *
 * by forward-backward splitting (Algorithm 1): a gradient step on the feature term, then the
 * proximal step of the β term, x ← (x̂ + λβ·b) / (1 + λβ), clipped to the value range; λ is halved
 * whenever the objective rises (the step is then retried). Optional watermarking blends the target
 * into the base with opacity γ first (b ← γ·t + (1 − γ)·b), as the paper does for end-to-end
 * training. Added to the training set with their correct (base) label, the poisons drag the
 * decision boundary over t when the last layer is retrained (transfer learning) or, with several
 * watermarked poisons, when the whole network is (end-to-end).
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { type Dataset, numRecords, recordShape, recordSize } from '../data/dataset.js';
import type { LayeredModel } from '../engine/differentiable.js';
import type { TfClassifier } from '../engine/tf-classifier.js';
import { AntidoteError } from '../errors.js';
import type { Rng } from '../util/rng.js';
import { type AttackRecord, checkClass, maskOf, type PoisonResult } from './attack.js';
import { type PerturbationSize, perturbationSize } from './pgd.js';

/**
 * What feature collision needs of a model: a zoo `TfClassifier` (its layers' outputs), or a
 * {@link LayeredModel} (an ONNX model's imported graph, `OnnxModel.layered`).
 */
export type FeatureModel =
  | Pick<
      TfClassifier,
      'model' | 'inputShape' | 'numClasses' | 'layerNames' | 'defaultLayer' | 'predict'
    >
  | LayeredModel;

/** The activations of `layer` as a differentiable function of a batch of records. */
function layerFunction(model: FeatureModel, layer: string): (x: tf.Tensor) => tf.Tensor {
  if ('layerOutput' in model) return (x) => model.layerOutput(x, layer);
  const feat = tfl.model({
    inputs: model.model.inputs,
    outputs: model.model.getLayer(layer).output as tfl.SymbolicTensor,
  });
  return (x) => feat.apply(x, { training: false }) as tf.Tensor;
}

/** Options of {@link craftFeatureCollision}. */
export interface FeatureCollisionOptions {
  /** Layer whose output is f; default the model's penultimate layer. */
  readonly layer?: string;
  /**
   * Weight β of ‖x − b‖². Default: the paper's β₀·(feature dim / input dim)² with β₀ = 0.25,
   * for pixels in [0, 255]; rescaled to the value range `clip` (× (255 / (hi − lo))²).
   */
  readonly beta?: number;
  /** Forward-backward iterations; default 300. */
  readonly iterations?: number;
  /** Initial step λ; default 0.01 (halved whenever the objective rises). */
  readonly learningRate?: number;
  /** Watermark opacity γ in [0, 1); default 0 (none). */
  readonly opacity?: number;
  /** Value range; default [0, 1]. */
  readonly clip?: readonly [number, number];
}

/** Crafted poisons and how close they came. */
export interface FeatureCollisionCraft {
  /** The poisons, `[m, ...inputShape]`. */
  readonly poisons: Float32Array;
  /** ‖f(x) − f(t)‖ per poison at the end. */
  readonly featureDistance: number[];
  /** ‖f(b) − f(t)‖ per base before optimisation (for scale). */
  readonly baseFeatureDistance: number[];
  /** Distance of each poison from its (unwatermarked) base. */
  readonly perturbation: PerturbationSize;
  /** Effective β. */
  readonly beta: number;
}

function resolve(model: FeatureModel, o: FeatureCollisionOptions) {
  const layer = o.layer ?? model.defaultLayer;
  if (!model.layerNames.includes(layer)) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `the model has no layer "${layer}" (layers: ${model.layerNames.join(', ')})`,
      { field: 'layer' },
    );
  }
  const iterations = o.iterations ?? 300;
  const learningRate = o.learningRate ?? 0.01;
  const opacity = o.opacity ?? 0;
  const clip = o.clip ?? [0, 1];
  const bad = (field: string, v: unknown, what: string) =>
    new AntidoteError('INVALID_ARGUMENT', `feature collision ${field} must be ${what}, got ${v}`, {
      field,
    });
  if (!Number.isInteger(iterations) || iterations < 1 || iterations > 100_000) {
    throw bad('iterations', iterations, 'an integer in [1, 100000]');
  }
  if (!(learningRate > 0 && Number.isFinite(learningRate)))
    throw bad('learningRate', learningRate, 'positive');
  if (!(opacity >= 0 && opacity < 1)) throw bad('opacity', opacity, 'in [0, 1)');
  if (o.beta !== undefined && !(o.beta >= 0 && Number.isFinite(o.beta))) {
    throw bad('beta', o.beta, 'a finite number ≥ 0');
  }
  if (clip.length !== 2 || !(clip[0] < clip[1])) throw bad('clip', clip, '[lo, hi] with lo < hi');
  return { layer, iterations, learningRate, opacity, clip: [clip[0], clip[1]] as const };
}

/**
 * Crafts one poison per base (the `m` records of `bases`) colliding with the single `target`
 * record in the representation of `options.layer`. Never changes the model; leaves no tensors.
 */
export async function craftFeatureCollision(
  model: FeatureModel,
  target: Float32Array,
  bases: Float32Array,
  m: number,
  options: FeatureCollisionOptions = {},
): Promise<FeatureCollisionCraft> {
  const o = resolve(model, options);
  const size = model.inputShape.reduce((a, b) => a * b, 1);
  if (target.length !== size || !Number.isInteger(m) || m < 1 || bases.length !== m * size) {
    throw new AntidoteError(
      'SHAPE_MISMATCH',
      `feature collision needs one target of ${size} values and ${m} bases of ${size} values; got ${target.length} and ${bases.length}`,
    );
  }
  const layer = layerFunction(model, o.layer);
  const featDim = tf.tidy(() => layer(tf.zeros([1, ...model.inputShape])).size);
  const beta = options.beta ?? 0.25 * (featDim / size) ** 2 * (255 / (o.clip[1] - o.clip[0])) ** 2;
  const shape = [m, ...model.inputShape];
  const f = (x: tf.Tensor) => tf.reshape(layer(x), [m, -1]);
  const [lo, hi] = o.clip;
  const base = tf.tidy(() => {
    const b = tf.tensor(bases, shape);
    if (o.opacity === 0) return b;
    const t = tf.tensor(target, [1, ...model.inputShape]);
    return tf.add(tf.mul(t, o.opacity), tf.mul(b, 1 - o.opacity));
  });
  const ft = tf.tidy(() => {
    const t = tf.tensor(target, [1, ...model.inputShape]);
    return f(tf.tile(t, [m, ...model.inputShape.map(() => 1)]));
  });
  // Per-poison objective ‖f(x) − f(t)‖² + β‖x − b‖², shape [m].
  const objective = (x: tf.Tensor) =>
    tf.tidy(() =>
      tf.add(
        tf.sum(tf.square(tf.sub(f(x), ft)), 1),
        tf.mul(tf.sum(tf.reshape(tf.square(tf.sub(x, base)), [m, -1]), 1), beta),
      ),
    );
  const featureLoss = (x: tf.Tensor) => tf.sum(tf.square(tf.sub(f(x), ft))) as tf.Scalar;
  const grad = tf.grad(featureLoss);
  let x = tf.clone(base);
  const lambda = new Float32Array(m).fill(o.learningRate);
  const obj0 = objective(x);
  const obj = (await obj0.array()) as number[];
  obj0.dispose();
  const baseDistance = await distances(f, x, ft);
  try {
    for (let it = 0; it < o.iterations; it++) {
      const lam = tf.tensor(lambda, [m, ...model.inputShape.map(() => 1)]);
      const candidate = tf.tidy(() => {
        const xHat = tf.sub(x, tf.mul(lam, grad(x)));
        const lb = tf.mul(lam, beta);
        return tf.clipByValue(tf.div(tf.add(xHat, tf.mul(lb, base)), tf.add(lb, 1)), lo, hi);
      });
      lam.dispose();
      const objTensor = objective(candidate);
      const newObj = (await objTensor.array()) as number[];
      objTensor.dispose();
      // Accept per poison where the objective did not rise; elsewhere halve λ and keep x.
      const accept = new Float32Array(m);
      for (let i = 0; i < m; i++) {
        if (newObj[i]! <= obj[i]!) {
          accept[i] = 1;
          obj[i] = newObj[i]!;
        } else {
          lambda[i]! *= 0.5;
        }
      }
      const next = tf.tidy(() => {
        const a = tf.tensor(accept, [m, ...model.inputShape.map(() => 1)]);
        return tf.add(tf.mul(candidate, a), tf.mul(x, tf.sub(1, a)));
      });
      candidate.dispose();
      x.dispose();
      x = next;
      if (lambda.every((l) => l < 1e-12)) break;
    }
    const poisons = (await x.data()) as Float32Array;
    const featureDistance = await distances(f, x, ft);
    return {
      poisons: Float32Array.from(poisons),
      featureDistance,
      baseFeatureDistance: baseDistance,
      perturbation: perturbationSize(bases, poisons, m),
      beta,
    };
  } finally {
    x.dispose();
    base.dispose();
    ft.dispose();
  }
}

async function distances(
  f: (x: tf.Tensor) => tf.Tensor,
  x: tf.Tensor,
  ft: tf.Tensor,
): Promise<number[]> {
  const d = tf.tidy(() => tf.sqrt(tf.sum(tf.square(tf.sub(f(x), ft)), 1)));
  const out = (await d.array()) as number[];
  d.dispose();
  return out;
}

/** Options of {@link featureCollisionAttack}. */
export interface FeatureCollisionAttackOptions extends FeatureCollisionOptions {
  /** The target test image (one record of the dataset's shape). */
  readonly target: Float32Array;
  /** The target's true class (recorded; must differ from the base class). */
  readonly targetClass: number;
  /** The class the target should be misclassified as; the poisons carry this (correct) label. */
  readonly baseClass: number;
  /** Poisons to craft (one per base image); default 5. */
  readonly poisons?: number;
}

/** A feature-collision poisoning run. */
export interface FeatureCollisionResult extends PoisonResult {
  readonly craft: FeatureCollisionCraft;
}

/**
 * Poisons a copy of `ds`: draws `poisons` base images of `baseClass` (seeded, `rng.fork('bases')`),
 * crafts a colliding poison from each with `model` (the victim's feature extractor, or a copy of
 * it), and appends them labelled `baseClass` (their correct label; labels verified unchanged).
 */
export async function featureCollisionAttack(
  ds: Dataset,
  model: FeatureModel,
  options: FeatureCollisionAttackOptions,
  rng: Rng,
): Promise<FeatureCollisionResult> {
  const shape = recordShape(ds);
  const size = recordSize(ds);
  const k = ds.classes.length;
  checkClass(options.baseClass, k, 'baseClass');
  checkClass(options.targetClass, k, 'targetClass');
  if (options.baseClass === options.targetClass) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `base and target class are both ${options.baseClass}`,
      { field: 'baseClass' },
    );
  }
  const count = options.poisons ?? 5;
  const n = numRecords(ds);
  const candidates: number[] = [];
  for (let i = 0; i < n; i++) if (ds.y[i] === options.baseClass) candidates.push(i);
  if (!Number.isInteger(count) || count < 1 || count > candidates.length) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `poisons must be an integer in [1, ${candidates.length}] (records of the base class), got ${count}`,
      { field: 'poisons' },
    );
  }
  if (options.target.length !== size) {
    throw new AntidoteError(
      'SHAPE_MISMATCH',
      `the target must be one record of ${size} values, got ${options.target.length}`,
    );
  }
  const chosen = Array.from(
    rng.fork('bases').sample(candidates.length, count),
    (j) => candidates[j]!,
  );
  const bases = new Float32Array(count * size);
  chosen.forEach((i, j) => {
    bases.set(ds.x.subarray(i * size, (i + 1) * size), j * size);
  });
  const craft = await craftFeatureCollision(model, options.target, bases, count, options);
  const x = new Float32Array((n + count) * size);
  x.set(ds.x);
  x.set(craft.poisons, n * size);
  const y = new Int32Array(n + count);
  y.set(ds.y);
  y.fill(options.baseClass, n);
  const taken = new Set(ds.ids);
  const newIds = chosen.map((i) => {
    let id = `${ds.ids[i]}#fc`;
    for (let s = 2; taken.has(id); s++) id = `${ds.ids[i]}#fc${s}`;
    taken.add(id);
    return id;
  });
  const indices = Array.from({ length: count }, (_, j) => n + j);
  const originalLabels = chosen.map((i) => ds.y[i]!);
  if (indices.some((i, j) => y[i] !== originalLabels[j])) {
    throw new AntidoteError('INVALID_STATE', 'feature collision changed a base label');
  }
  const record: AttackRecord = {
    attack: 'feature-collision',
    params: {
      targetClass: options.targetClass,
      baseClass: options.baseClass,
      poisons: count,
      beta: craft.beta,
      iterations: options.iterations ?? 300,
      opacity: options.opacity ?? 0,
      layer: options.layer ?? model.defaultLayer,
      featureDistance: craft.featureDistance,
      baseFeatureDistance: craft.baseFeatureDistance,
      perturbationMaxLinf: craft.perturbation.maxLinf,
      perturbationMeanL2: craft.perturbation.meanL2,
      labelsUnchanged: true,
    },
    seed: rng.seed,
    indices,
    ids: newIds,
    sourceIndices: chosen,
    originalLabels,
    poisonedLabels: originalLabels,
    cleanSize: n,
    poisonedSize: n + count,
  };
  return {
    dataset: {
      x,
      shape: [n + count, ...shape],
      y,
      classes: ds.classes,
      ids: [...ds.ids, ...newIds],
      ...(ds.source ? { source: [...ds.source, ...chosen.map((i) => ds.source![i]!)] } : {}),
    },
    poisoned: maskOf(n + count, indices),
    record,
    craft,
  };
}
