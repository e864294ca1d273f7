/**
 * Forward and backward passes of the zoo's sequential models written out layer by layer, without
 * TF.js's tape (issue 10): the forward pass runs fused kernels (convolution or matrix product with
 * bias and ReLU in one call), the softmax cross-entropy and its gradient are computed in
 * JavaScript from the logits, and the backward pass calls the gradient kernels directly, only for
 * what is asked (weights, input or both). For a batch of 64 this replaces about 60 small kernel
 * calls and the tape's bookkeeping with about 20 calls.
 *
 * Covers Dense, Conv2D (NHWC), MaxPooling2D, Flatten, with linear or ReLU activations; any other
 * model gets `undefined` from {@link leanPlan} and goes through TF.js's autodiff. Deterministic:
 * the same model, weights and batch give the same gradients, bit for bit.
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { maxPoolReluGrad } from './kernels/max-pool-grad.js';
import { nativeKernels } from './kernels/native.js';

type Activation = 'relu' | 'linear';

type Step =
  | {
      readonly kind: 'dense';
      readonly layer: tfl.layers.Layer;
      readonly activation: Activation;
      /** Index of the kernel and bias among the model's trainable weights (-1: none). */
      readonly kernel: number;
      readonly bias: number;
    }
  | {
      readonly kind: 'conv';
      readonly layer: tfl.layers.Layer;
      readonly activation: Activation;
      readonly kernel: number;
      readonly bias: number;
      readonly strides: [number, number];
      readonly pad: 'same' | 'valid';
    }
  | {
      readonly kind: 'pool';
      readonly size: [number, number];
      readonly strides: [number, number];
      readonly pad: 'same' | 'valid';
    }
  | { readonly kind: 'flatten' };

/** A model's layers as steps of the lean passes (see {@link leanPlan}). */
export interface LeanPlan {
  readonly steps: readonly Step[];
  /** The model's trainable weights, in `model.trainableWeights` order. */
  readonly vars: readonly tf.Variable[];
}

/** Duck-typed parts of tfjs-layers' layers read here. */
interface LayerLike {
  getClassName(): string;
  activation?: { getClassName(): string };
  kernel?: { read(): tf.Tensor };
  bias?: { read(): tf.Tensor } | null;
  useBias?: boolean;
  strides?: number[];
  padding?: string;
  dilationRate?: number | number[];
  dataFormat?: string;
  poolSize?: number[];
  rank?: number;
  trainable?: boolean;
}

const plans = new WeakMap<tfl.LayersModel, LeanPlan | null>();

/**
 * The lean plan of `model`, or undefined when a layer is not covered (the caller then uses
 * TF.js's autodiff). Cached per model.
 */
export function leanPlan(model: tfl.LayersModel): LeanPlan | undefined {
  const cached = plans.get(model);
  if (cached !== undefined) return cached ?? undefined;
  const plan = buildPlan(model);
  plans.set(model, plan ?? null);
  return plan;
}

function buildPlan(model: tfl.LayersModel): LeanPlan | undefined {
  if (model.getClassName() !== 'Sequential') return undefined;
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const indexOf = (w: { read(): tf.Tensor } | null | undefined) =>
    w ? vars.indexOf(w.read() as tf.Variable) : -1;
  const steps: Step[] = [];
  const used = new Set<number>();
  // Rank of the activations (batch axis included) as they flow through the layers.
  let rank = model.inputs[0]?.shape.length ?? 0;
  for (const layer of model.layers) {
    const l = layer as unknown as LayerLike;
    const cls = l.getClassName();
    const act = l.activation?.getClassName();
    const activation: Activation | undefined =
      act === 'relu' ? 'relu' : act === 'linear' ? 'linear' : undefined;
    if (cls === 'InputLayer') continue;
    if (cls === 'Flatten') {
      steps.push({ kind: 'flatten' });
      rank = 2;
    } else if (cls === 'Dense' || cls === 'Conv2D') {
      if (!activation || !l.kernel || l.trainable === false) return undefined;
      if (rank !== (cls === 'Dense' ? 2 : 4)) return undefined;
      const kernel = indexOf(l.kernel);
      const bias = l.useBias ? indexOf(l.bias) : -1;
      if (kernel < 0 || (l.useBias && bias < 0)) return undefined;
      used.add(kernel);
      if (bias >= 0) used.add(bias);
      if (cls === 'Dense') {
        steps.push({ kind: 'dense', layer, activation, kernel, bias });
      } else {
        const dil = Array.isArray(l.dilationRate) ? l.dilationRate : [l.dilationRate ?? 1];
        if (
          l.rank !== 2 ||
          l.dataFormat !== 'channelsLast' ||
          dil.some((d) => d !== 1) ||
          (l.padding !== 'same' && l.padding !== 'valid') ||
          l.strides?.length !== 2
        ) {
          return undefined;
        }
        steps.push({
          kind: 'conv',
          layer,
          activation,
          kernel,
          bias,
          strides: [l.strides[0]!, l.strides[1]!],
          pad: l.padding,
        });
      }
    } else if (cls === 'MaxPooling2D') {
      if (
        rank !== 4 ||
        l.dataFormat !== 'channelsLast' ||
        l.poolSize?.length !== 2 ||
        l.strides?.length !== 2 ||
        (l.padding !== 'same' && l.padding !== 'valid')
      ) {
        return undefined;
      }
      steps.push({
        kind: 'pool',
        size: [l.poolSize[0]!, l.poolSize[1]!],
        strides: [l.strides[0]!, l.strides[1]!],
        pad: l.padding,
      });
    } else {
      return undefined;
    }
  }
  // Every trainable weight must belong to a covered layer, and the model must end in logits.
  const last = steps[steps.length - 1];
  if (used.size !== vars.length || !last || last.kind !== 'dense') return undefined;
  return { steps, vars };
}

/** What {@link leanGradients} computes. */
export interface LeanResult {
  /** Σ cross-entropy over the batch, times `scale`. */
  readonly loss: number;
  /** Records whose arg-max logit is the label. */
  readonly hits: number;
  /** Gradients of the scaled loss w.r.t. the trainable weights (plan order), when asked. */
  readonly grads?: tf.Tensor[];
  /** Gradient of the scaled loss w.r.t. the input, when asked. */
  readonly dx?: tf.Tensor;
}

/**
 * Loss, hits and the asked gradients of Σ softmax-cross-entropy(model(x), y) · `scale` over the
 * batch `x` (`[m, ...inputShape]`) with integer labels `y`. Call inside `tf.tidy`: the gradients
 * live until it ends.
 */
export function leanGradients(
  plan: LeanPlan,
  x: tf.Tensor,
  y: Int32Array,
  scale: number,
  want: { weights: boolean; input: boolean },
): LeanResult {
  const { steps, vars } = plan;
  // Forward: each step's input (and for ReLU layers their output) is kept for the backward pass.
  const inputs: tf.Tensor[] = [];
  let a = x;
  for (const s of steps) {
    inputs.push(a);
    a = forward(s, a, vars);
  }
  const logits = a as tf.Tensor2D;
  const [m, k] = logits.shape;
  const z = logits.dataSync() as Float32Array;
  // Softmax cross-entropy and its gradient, in float64.
  const dz = new Float32Array(m * k);
  let loss = 0;
  let hits = 0;
  for (let r = 0; r < m; r++) {
    const row = r * k;
    let max = z[row]!;
    let arg = 0;
    for (let c = 1; c < k; c++) {
      if (z[row + c]! > max) {
        max = z[row + c]!;
        arg = c;
      }
    }
    let sum = 0;
    for (let c = 0; c < k; c++) sum += Math.exp(z[row + c]! - max);
    const label = y[r]!;
    if (arg === label) hits++;
    loss += (Math.log(sum) + max - z[row + label]!) * scale;
    for (let c = 0; c < k; c++) {
      dz[row + c] = (Math.exp(z[row + c]! - max) / sum - (c === label ? 1 : 0)) * scale;
    }
  }
  const grads: tf.Tensor[] = new Array(vars.length);
  let dy: tf.Tensor = tf.tensor2d(dz, [m, k]);
  let dx: tf.Tensor | undefined;
  // No layer before the first weighted one needs an input gradient unless the input's is asked.
  const firstWeighted = steps.findIndex((s) => s.kind === 'dense' || s.kind === 'conv');
  // Whether dy is already the gradient of the step's pre-activation (a pool over a ReLU layer's
  // output passed its gradient back through the ReLU: see `maxPoolReluGrad`).
  let throughRelu = false;
  for (let i = steps.length - 1; i >= 0; i--) {
    const s = steps[i]!;
    const needInput = want.input || i > firstWeighted;
    const outOf = i + 1 < steps.length ? inputs[i + 1]! : logits;
    const prev = steps[i - 1];
    if (s.kind === 'pool' && prev && prev.kind !== 'pool' && prev.kind !== 'flatten') {
      // A pool right after a ReLU layer: both gradients in one pass where the kernel allows.
      const fused =
        prev.activation === 'relu'
          ? maxPoolReluGrad(tf.getBackend(), tf.backend(), inputs[i]!, dy, {
              filterSize: s.size,
              strides: s.strides,
              pad: s.pad,
            })
          : undefined;
      if (fused) {
        dy = tf.engine().makeTensorFromTensorInfo(fused);
        throughRelu = true;
        continue;
      }
    }
    const back = backward(s, inputs[i]!, outOf, dy, vars, want.weights, needInput, throughRelu);
    throughRelu = false;
    if (want.weights && (s.kind === 'dense' || s.kind === 'conv')) {
      grads[s.kernel] = back.dKernel as tf.Tensor;
      if (s.bias >= 0) grads[s.bias] = back.dBias as tf.Tensor;
    }
    if (!needInput) break;
    dy = back.dx as tf.Tensor;
    if (i === 0) dx = dy;
  }
  return { loss, hits, ...(want.weights ? { grads } : {}), ...(dx ? { dx } : {}) };
}

function forward(s: Step, a: tf.Tensor, vars: readonly tf.Variable[]): tf.Tensor {
  switch (s.kind) {
    case 'flatten':
      return tf.reshape(a, [a.shape[0], -1]);
    case 'pool':
      return tf.maxPool(a as tf.Tensor4D, s.size, s.strides, s.pad);
    case 'dense':
      return tf.fused.matMul({
        a: a as tf.Tensor2D,
        b: vars[s.kernel] as tf.Tensor2D,
        ...(s.bias >= 0 ? { bias: vars[s.bias] } : {}),
        activation: s.activation,
      });
    case 'conv':
      return tf.fused.conv2d({
        x: a as tf.Tensor4D,
        filter: vars[s.kernel] as tf.Tensor4D,
        strides: s.strides,
        pad: s.pad,
        ...(s.bias >= 0 ? { bias: vars[s.bias] } : {}),
        activation: s.activation,
      });
  }
}

function backward(
  s: Step,
  input: tf.Tensor,
  output: tf.Tensor,
  dy: tf.Tensor,
  vars: readonly tf.Variable[],
  weights: boolean,
  needInput: boolean,
  throughRelu: boolean,
): { dx?: tf.Tensor; dKernel?: tf.Tensor; dBias?: tf.Tensor } {
  switch (s.kind) {
    case 'flatten':
      return { dx: tf.reshape(dy, input.shape) };
    case 'pool':
      return {
        dx: tf
          .engine()
          .runKernel(
            'MaxPoolGrad',
            { dy, input, output },
            { filterSize: s.size, strides: s.strides, pad: s.pad },
          ) as tf.Tensor,
      };
    case 'dense': {
      const dz = s.activation === 'relu' && !throughRelu ? reluGrad(output, dy) : dy;
      return {
        ...(weights
          ? {
              dKernel: tf.matMul(input as tf.Tensor2D, dz as tf.Tensor2D, true, false),
              ...(s.bias >= 0 ? { dBias: tf.sum(dz, 0) } : {}),
            }
          : {}),
        ...(needInput
          ? { dx: tf.matMul(dz as tf.Tensor2D, vars[s.kernel] as tf.Tensor2D, false, true) }
          : {}),
      };
    }
    case 'conv': {
      const dz = s.activation === 'relu' && !throughRelu ? reluGrad(output, dy) : dy;
      const filter = vars[s.kernel]!;
      const attrs = { strides: s.strides, pad: s.pad, dataFormat: 'NHWC' };
      return {
        ...(weights
          ? {
              dKernel: tf
                .engine()
                .runKernel(
                  'Conv2DBackpropFilter',
                  { x: input, dy: dz },
                  { ...attrs, filterShape: filter.shape },
                ) as tf.Tensor,
              ...(s.bias >= 0 ? { dBias: tf.sum(dz, [0, 1, 2]) } : {}),
            }
          : {}),
        ...(needInput
          ? {
              dx: tf
                .engine()
                .runKernel(
                  'Conv2DBackpropInput',
                  { dy: dz, filter },
                  { ...attrs, inputShape: input.shape },
                ) as tf.Tensor,
            }
          : {}),
      };
    }
  }
}

/** dy where the ReLU's output `h` is positive, else 0. */
function reluGrad(h: tf.Tensor, dy: tf.Tensor): tf.Tensor {
  const native = nativeKernels(tf.getBackend(), tf.backend());
  if (!native) return tf.mul(dy, tf.step(h));
  const out = native.output([...dy.shape]);
  native.k.relu_grad(native.ptr(h), native.ptr(dy), native.ptr(out), dy.size);
  return tf.engine().makeTensorFromTensorInfo(out);
}
