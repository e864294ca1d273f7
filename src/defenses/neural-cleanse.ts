/**
 * Neural Cleanse (Wang, Yao, Shan, Li, Viswanath, Zheng & Zhao 2019, "Neural Cleanse: Identifying
 * and Mitigating Backdoor Attacks in Neural Networks", IEEE S&P). For every class t, reverse
 * engineer the smallest trigger that sends clean inputs to t: a mask m ∈ [0,1]^{H×W} and a pattern
 * p ∈ [0,1]^{H×W×C}, stamped as x' = (1 − m)·x + m·p, minimising
 * CE(f(x'), t) + λ·‖m‖₁ with Adam, where the cost λ follows the paper's schedule (raised ×1.5 after
 * `patience` epochs at or above the attack-success threshold, lowered ÷1.5^1.5 after `patience`
 * epochs below it). A backdoored class needs a far smaller mask than the others: the anomaly index
 * of the mask L1 norms, |x − median| / (1.4826 · MAD), flags a class below the median with index > 2
 * (../shared/DESIGN.md §3). The index is computed on log norms by default (see
 * {@link NeuralCleanseOptions.anomalyScale}); the paper's linear index is always reported too.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { DifferentiableModel } from '../engine/differentiable.js';
import { AntidoteError } from '../errors.js';
import { Rng } from '../util/rng.js';
import type { DetectionProgress } from './detector.js';

/**
 * What Neural Cleanse need of a model: a differentiable TF.js model that outputs logits (a zoo
 * `TfClassifier`, or an imported ONNX graph: `OnnxModel.differentiable`).
 */
export type { DifferentiableModel } from '../engine/differentiable.js';

/** Clean records, `n` of the model's input shape, row-major. */
export interface CleanRecords {
  readonly x: Float32Array;
  readonly n: number;
}

/** Options of {@link reverseTrigger} and {@link neuralCleanse}. */
export interface NeuralCleanseOptions {
  /** Seeds the initial mask/pattern and the mini-batch order. */
  readonly seed: number;
  /** Optimisation epochs per class; default 10. */
  readonly epochs?: number;
  /** Mini-batches per epoch; default 20. */
  readonly stepsPerEpoch?: number;
  /** Records per mini-batch; default 32. */
  readonly batchSize?: number;
  /** Adam learning rate on the unconstrained mask/pattern parameters; default 0.1. */
  readonly learningRate?: number;
  /** Initial cost λ of the mask L1 norm; default 1e-3 (the paper's). */
  readonly initCost?: number;
  /** Attack success rate at which a reversed trigger counts as working; default 0.99. */
  readonly attackSuccessThreshold?: number;
  /** Epochs before the cost is raised or lowered; default 2. */
  readonly patience?: number;
  /** Only these classes (default: all). The anomaly index needs at least 3. */
  readonly classes?: readonly number[];
  /**
   * Mean of the initial mask in (0, 1); default 0.5 (Wang et al. draw it uniformly from [0, 1]).
   * A small start (e.g. 0.05) reaches small masks in fewer steps.
   */
  readonly initialMask?: number;
  /** Anomaly index above which a below-median class is flagged; default 2. */
  readonly anomalyThreshold?: number;
  /**
   * Scale of the mask norms the anomaly index is computed on: `log` (default) or `linear` (the
   * paper's rule verbatim). Norms are positive and spread multiplicatively: on MNIST the clean
   * classes' minimal masks range over 3× (L1 ≈ 25–120) while a BadNets target needs ≈ 4, and the
   * linear MAD of that spread hides the target (index 1.1–1.8 in 5 of 5 seeds; bench
   * model-defenses). On log norms the same target scores ≥ 3 and clean classes stay below 2.
   */
  readonly anomalyScale?: 'log' | 'linear';
  /** Progress per class and epoch. */
  readonly onProgress?: (p: DetectionProgress) => void;
}

/** A reversed trigger for one class. */
export interface ReversedTrigger {
  readonly classIndex: number;
  /** The mask, `[H, W]` in [0, 1]. */
  readonly mask: Float32Array;
  /** The pattern, `[H, W, C]` in [0, 1]. */
  readonly pattern: Float32Array;
  /** L1 norm of the mask (the quantity compared across classes). */
  readonly maskL1: number;
  /** Share of the optimisation batch sent to the class by this trigger at the end. */
  readonly attackSuccessRate: number;
  /** False when no mask reached the attack-success threshold (the last one is reported). */
  readonly reachedThreshold: boolean;
  /** Final cost λ. */
  readonly cost: number;
  /** Wall-clock seconds spent on this class. */
  readonly seconds: number;
}

/** Median, MAD and the anomaly index per value (../shared/DESIGN.md §3). */
export interface AnomalyIndices {
  readonly median: number;
  /** Median absolute deviation (unscaled). */
  readonly mad: number;
  /** |x − median| / (1.4826 · MAD) per value (0 / ∞ when MAD = 0). */
  readonly index: number[];
}

function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * The MAD anomaly index of Wang et al. 2019: |x − median| / (1.4826 · MAD), with
 * MAD = median |x − median|. With MAD = 0, values at the median get 0 and others ∞.
 */
export function anomalyIndices(values: readonly number[]): AnomalyIndices {
  if (values.length === 0 || values.some((v) => !Number.isFinite(v))) {
    throw new AntidoteError('INVALID_ARGUMENT', 'anomaly indices need at least one finite value');
  }
  const med = median(values);
  const mad = median(values.map((v) => Math.abs(v - med)));
  const index = values.map((v) => {
    const d = Math.abs(v - med);
    if (mad === 0) return d === 0 ? 0 : Number.POSITIVE_INFINITY;
    return d / (1.4826 * mad);
  });
  return { median: med, mad, index };
}

function resolve(o: NeuralCleanseOptions) {
  const r = {
    epochs: o.epochs ?? 10,
    stepsPerEpoch: o.stepsPerEpoch ?? 20,
    batchSize: o.batchSize ?? 32,
    learningRate: o.learningRate ?? 0.1,
    initCost: o.initCost ?? 1e-3,
    attackSuccessThreshold: o.attackSuccessThreshold ?? 0.99,
    patience: o.patience ?? 2,
    anomalyThreshold: o.anomalyThreshold ?? 2,
    initialMask: o.initialMask ?? 0.5,
    anomalyScale: o.anomalyScale ?? 'log',
  };
  const check = (ok: boolean, field: string, what: string) => {
    if (!ok) {
      throw new AntidoteError(
        'INVALID_ARGUMENT',
        `Neural Cleanse ${field} must be ${what}, got ${(r as Record<string, unknown>)[field] ?? (o as unknown as Record<string, unknown>)[field]}`,
        { field },
      );
    }
  };
  check(Number.isSafeInteger(o.seed), 'seed', 'an integer');
  for (const f of ['epochs', 'stepsPerEpoch', 'batchSize', 'patience'] as const) {
    check(Number.isInteger(r[f]) && r[f] >= 1 && r[f] <= 1e6, f, 'a positive integer');
  }
  check(r.learningRate > 0 && Number.isFinite(r.learningRate), 'learningRate', 'positive');
  check(r.initCost >= 0 && Number.isFinite(r.initCost), 'initCost', 'a finite number ≥ 0');
  check(
    r.attackSuccessThreshold > 0 && r.attackSuccessThreshold <= 1,
    'attackSuccessThreshold',
    'in (0, 1]',
  );
  check(r.initialMask > 0 && r.initialMask < 1, 'initialMask', 'in (0, 1)');
  check(r.anomalyScale === 'log' || r.anomalyScale === 'linear', 'anomalyScale', 'log or linear');
  check(
    r.anomalyThreshold > 0 && Number.isFinite(r.anomalyThreshold),
    'anomalyThreshold',
    'positive',
  );
  return r;
}

function imageShape(model: DifferentiableModel): [number, number, number] {
  const s = model.inputShape;
  if (s.length === 3) return [s[0]!, s[1]!, s[2]!];
  if (s.length === 2) return [s[0]!, s[1]!, 1];
  throw new AntidoteError(
    'SHAPE_MISMATCH',
    `Neural Cleanse needs image inputs [H, W] or [H, W, C], the model takes [${s.join(', ')}]`,
  );
}

function checkClean(model: DifferentiableModel, clean: CleanRecords): number {
  const size = model.inputShape.reduce((a, b) => a * b, 1);
  if (!Number.isInteger(clean.n) || clean.n < 1 || clean.x.length !== clean.n * size) {
    throw new AntidoteError(
      'SHAPE_MISMATCH',
      `Neural Cleanse needs ≥ 1 clean record of ${size} values; got ${clean.x.length} values for n = ${clean.n}`,
    );
  }
  return size;
}

/**
 * Stamps a reversed trigger on `n` records: x' = (1 − m)·x + m·p (mask broadcast over channels).
 * Returns a new array.
 */
export function stampReversedTrigger(
  x: Float32Array,
  n: number,
  trigger: Pick<ReversedTrigger, 'mask' | 'pattern'>,
): Float32Array {
  const hw = trigger.mask.length;
  const size = trigger.pattern.length;
  const c = size / hw;
  if (!Number.isInteger(c) || x.length !== n * size) {
    throw new AntidoteError(
      'SHAPE_MISMATCH',
      `a reversed trigger of ${hw} mask values and ${size} pattern values does not fit ${n} records of ${x.length / Math.max(n, 1)} values`,
    );
  }
  const out = new Float32Array(x.length);
  for (let i = 0; i < n; i++) {
    const base = i * size;
    for (let p = 0; p < hw; p++) {
      const m = trigger.mask[p]!;
      for (let ch = 0; ch < c; ch++) {
        const d = p * c + ch;
        out[base + d] = (1 - m) * x[base + d]! + m * trigger.pattern[d]!;
      }
    }
  }
  return out;
}

/**
 * Reverse-engineers the smallest trigger sending `clean` inputs to `target` (Wang et al. 2019,
 * Eq. 2–3), with the paper's tanh parameterisation and cost schedule. Keeps the smallest mask that
 * reached the attack-success threshold. Leaves no tensors behind and never changes the model.
 */
export async function reverseTrigger(
  model: DifferentiableModel,
  clean: CleanRecords,
  target: number,
  options: NeuralCleanseOptions,
): Promise<ReversedTrigger> {
  const o = resolve(options);
  const [h, w, c] = imageShape(model);
  const size = checkClean(model, clean);
  if (!Number.isInteger(target) || target < 0 || target >= model.numClasses) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `target class must be in [0, ${model.numClasses}), got ${target}`,
      { field: 'target' },
    );
  }
  const started = performance.now();
  const rng = new Rng(options.seed).fork(`neural-cleanse-${target}`);
  // Raw parameters: mask = tanh(raw)/2 + 0.5, so raw = atanh(2m − 1) gives a mask around m.
  const centre = Math.atanh(2 * o.initialMask - 1);
  const init = (len: number, c0: number) =>
    Float32Array.from({ length: len }, () => c0 + rng.uniform(-0.5, 0.5));
  const [maskRaw, patternRaw, costVar] = tf.tidy(() => [
    tf.variable(tf.tensor(init(h * w, centre), [h, w, 1])),
    tf.variable(tf.tensor(init(h * w * c, 0), [h, w, c])),
    tf.variable(tf.scalar(o.initCost)),
  ]);
  const optimizer = tf.train.adam(o.learningRate, 0.5, 0.9);
  const batch = Math.min(o.batchSize, clean.n);
  const xBuf = new Float32Array(batch * size);
  const targetOneHot = tf.tidy(() =>
    tf.oneHot(tf.fill([batch], target, 'int32'), model.numClasses),
  );
  let cost = o.initCost;
  let best: { mask: Float32Array; pattern: Float32Array; l1: number; asr: number } | undefined;
  let last: { mask: Float32Array; pattern: Float32Array; l1: number; asr: number } | undefined;
  let upCount = 0;
  let downCount = 0;
  let costSet = o.initCost > 0;
  const order = rng.permutation(clean.n);
  let cursor = 0;
  try {
    for (let epoch = 0; epoch < o.epochs; epoch++) {
      let hits = 0;
      let seen = 0;
      for (let step = 0; step < o.stepsPerEpoch; step++) {
        for (let i = 0; i < batch; i++) {
          if (cursor >= clean.n) {
            rng.shuffle(order);
            cursor = 0;
          }
          const r = order[cursor++]!;
          xBuf.set(clean.x.subarray(r * size, (r + 1) * size), i * size);
        }
        const correct = tf.tidy(() => {
          const xb = tf.tensor(xBuf, [batch, h, w, c]);
          let logitsKept: tf.Tensor | undefined;
          optimizer.minimize(
            () => {
              const m = tf.add(tf.div(tf.tanh(maskRaw), 2), 0.5);
              const p = tf.add(tf.div(tf.tanh(patternRaw), 2), 0.5);
              const stamped = tf.add(tf.mul(tf.sub(1, m), xb), tf.mul(m, p));
              const logits = model.model.apply(tf.reshape(stamped, [batch, ...model.inputShape]), {
                training: false,
              }) as tf.Tensor2D;
              logitsKept = tf.keep(logits);
              const ce = tf.losses.softmaxCrossEntropy(targetOneHot, logits);
              return tf.add(ce, tf.mul(costVar, tf.sum(m))) as tf.Scalar;
            },
            false,
            [maskRaw, patternRaw],
          );
          const k = tf.sum(tf.cast(tf.equal(tf.argMax(logitsKept!, 1), target), 'int32'));
          logitsKept!.dispose();
          return k;
        });
        hits += (await correct.data())[0]!;
        correct.dispose();
        seen += batch;
      }
      const asr = hits / seen;
      const [mask, pattern] = tf.tidy(() => [
        tf.add(tf.div(tf.tanh(maskRaw), 2), 0.5),
        tf.add(tf.div(tf.tanh(patternRaw), 2), 0.5),
      ]);
      const maskData = (await mask.data()) as Float32Array;
      const patternData = (await pattern.data()) as Float32Array;
      mask.dispose();
      pattern.dispose();
      const l1 = maskData.reduce((a, b) => a + b, 0);
      last = { mask: maskData, pattern: patternData, l1, asr };
      if (asr >= o.attackSuccessThreshold && (!best || l1 < best.l1)) best = last;
      // The cost schedule of Wang et al.: find a working cost first, then trade ASR for size.
      if (!costSet) {
        if (asr >= o.attackSuccessThreshold) {
          cost = 1e-3;
          costSet = true;
        }
      } else if (asr >= o.attackSuccessThreshold) {
        upCount++;
        downCount = 0;
        if (upCount >= o.patience) {
          cost *= 1.5;
          upCount = 0;
        }
      } else {
        downCount++;
        upCount = 0;
        if (downCount >= o.patience) {
          cost /= 1.5 ** 1.5;
          downCount = 0;
        }
      }
      tf.tidy(() => costVar.assign(tf.scalar(cost)));
      options.onProgress?.({ stage: `class ${target}`, done: epoch + 1, total: o.epochs });
      await new Promise((resolve) => setImmediate(resolve));
    }
  } finally {
    maskRaw.dispose();
    patternRaw.dispose();
    costVar.dispose();
    targetOneHot.dispose();
    optimizer.dispose();
  }
  const chosen = best ?? last!;
  return {
    classIndex: target,
    mask: chosen.mask,
    pattern: chosen.pattern,
    maskL1: chosen.l1,
    attackSuccessRate: chosen.asr,
    reachedThreshold: best !== undefined,
    cost,
    seconds: (performance.now() - started) / 1000,
  };
}

/** The decision part of a {@link NeuralCleanseReport}. */
export type NeuralCleanseDecision = Pick<
  NeuralCleanseReport,
  | 'anomalyIndex'
  | 'anomalyScale'
  | 'linearAnomalyIndex'
  | 'median'
  | 'mad'
  | 'flagged'
  | 'suspectedTarget'
>;

/**
 * Flags likely backdoor targets from the reversed masks' L1 norms (`maskL1[i]` of `classes[i]`):
 * a class whose norm is below the median and whose MAD anomaly index (on `anomalyScale`, default
 * log) exceeds `anomalyThreshold` (default 2). The suspected target is the flagged class with the
 * largest index.
 */
export function neuralCleanseDecision(
  maskL1: readonly number[],
  classes: readonly number[],
  options: Pick<NeuralCleanseOptions, 'anomalyScale' | 'anomalyThreshold'> = {},
): NeuralCleanseDecision {
  const scale = options.anomalyScale ?? 'log';
  const threshold = options.anomalyThreshold ?? 2;
  if (maskL1.length !== classes.length || maskL1.some((v) => !(v >= 0))) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `Neural Cleanse needs one non-negative mask norm per class (${maskL1.length} norms, ${classes.length} classes)`,
    );
  }
  const linear = anomalyIndices(maskL1);
  const scaled =
    scale === 'log' ? anomalyIndices(maskL1.map((v) => Math.log(Math.max(v, 1e-12)))) : linear;
  // Below the median is the same set on either scale (log is monotone).
  const flagged = classes.filter(
    (_, i) => maskL1[i]! < linear.median && scaled.index[i]! > threshold,
  );
  let suspectedTarget: number | null = null;
  let bestIndex = -1;
  for (const c of flagged) {
    const i = classes.indexOf(c);
    if (scaled.index[i]! > bestIndex) {
      bestIndex = scaled.index[i]!;
      suspectedTarget = c;
    }
  }
  return {
    anomalyIndex: scaled.index,
    anomalyScale: scale,
    linearAnomalyIndex: linear.index,
    median: scaled.median,
    mad: scaled.mad,
    flagged,
    suspectedTarget,
  };
}

/** Findings of {@link neuralCleanse}. */
export interface NeuralCleanseReport {
  /** One reversed trigger per examined class, in the order examined. */
  readonly triggers: readonly ReversedTrigger[];
  /** Mask L1 norm per examined class. */
  readonly maskL1: readonly number[];
  /** Anomaly index per examined class, on the scale of {@link anomalyScale}. */
  readonly anomalyIndex: readonly number[];
  /** Scale the index was computed on (`log`: of the natural log of the norms). */
  readonly anomalyScale: 'log' | 'linear';
  /** The paper's index on the raw norms, reported whatever the scale (for comparison). */
  readonly linearAnomalyIndex: readonly number[];
  /** Median and (unscaled) MAD of the norms on {@link anomalyScale}. */
  readonly median: number;
  readonly mad: number;
  /** Classes flagged as backdoor targets (norm below the median, index > threshold). */
  readonly flagged: readonly number[];
  /** The flagged class with the largest anomaly index, or null. */
  readonly suspectedTarget: number | null;
  /** Mean optimisation seconds per class. */
  readonly secondsPerClass: number;
  /** The effective options. */
  readonly params: Readonly<Record<string, number | number[] | string>>;
}

/**
 * Runs Neural Cleanse over every class (or `options.classes`) of `model` with the `clean` records
 * and flags likely backdoor targets by the MAD anomaly index of the mask L1 norms.
 */
export async function neuralCleanse(
  model: DifferentiableModel,
  clean: CleanRecords,
  options: NeuralCleanseOptions,
): Promise<NeuralCleanseReport> {
  const o = resolve(options);
  const classes = options.classes
    ? [...options.classes]
    : Array.from({ length: model.numClasses }, (_, c) => c);
  if (classes.length < 3 || new Set(classes).size !== classes.length) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `Neural Cleanse needs at least 3 distinct classes to compare, got [${classes.join(', ')}]`,
      { field: 'classes' },
    );
  }
  const triggers: ReversedTrigger[] = [];
  for (const t of classes) triggers.push(await reverseTrigger(model, clean, t, options));
  const maskL1 = triggers.map((t) => t.maskL1);
  const decision = neuralCleanseDecision(maskL1, classes, o);
  return {
    triggers,
    maskL1,
    ...decision,
    secondsPerClass: triggers.reduce((a, t) => a + t.seconds, 0) / triggers.length,
    params: { ...o, seed: options.seed, classes },
  };
}
