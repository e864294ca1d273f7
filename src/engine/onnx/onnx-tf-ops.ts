/**
 * ONNX operators as TensorFlow.js ops (differentiable: `tf.grad` and `tf.variableGrads` go
 * through them), for the op set of docs/onnx.md. Layout: ONNX image tensors are NCHW, TF.js
 * convolutions and pools NHWC. A 4-D value produced by a convolution, pool or batch norm is kept
 * NHWC (`nhwc: true`: its physical layout is NHWC, its ONNX meaning NCHW) and flows so through
 * element-wise ops, activations, channel concatenation and pooling; an op that reads axes
 * (Flatten, Reshape, Transpose, Softmax, Gemm, …) gets the NCHW tensor back
 * ({@link logical}), so a flatten keeps PyTorch's C·H·W order. A `Transpose` with perm
 * `[0, 3, 1, 2]` of an NHWC input (a model reading NHWC records) costs nothing: its output is the
 * input, marked NHWC. Shape arithmetic (`Shape`, `Gather`, `Concat`, `Unsqueeze` of integers, as
 * exporters write `flatten`) is computed in JavaScript ({@link IntValue}).
 */
import * as tf from '@tensorflow/tfjs-core';
import { AntidoteError } from '../../errors.js';
import type { OnnxAttribute, OnnxNode } from './onnx-tensors.js';

/** A float tensor; `nhwc` when a 4-D tensor is held NHWC (its ONNX meaning is NCHW). */
export interface TensorValue {
  readonly kind: 'tensor';
  readonly t: tf.Tensor;
  readonly nhwc: boolean;
}

/** An integer tensor computed in JavaScript (shapes, axes, indices). */
export interface IntValue {
  readonly kind: 'ints';
  readonly data: readonly number[];
  readonly dims: readonly number[];
}

/** What flows along a graph edge. */
export type Value = TensorValue | IntValue;

/** What an op needs besides its inputs. */
export interface OpContext {
  /** The opset version of the default domain. */
  readonly opset: number;
  /** For error messages (the file path). */
  readonly where: string;
  /**
   * Given, `BatchNormalization` runs in training mode ({@link batchNormTraining}): it normalises
   * with the batch's statistics and reports them here (see {@link BatchStatistics}).
   */
  readonly batchStatistics?: BatchStatistics;
}

/**
 * Receives, for a `BatchNormalization` node run in training mode, the batch's per-channel mean
 * and unbiased variance (`count / (count − 1)` times the biased one that normalised the batch,
 * as PyTorch's `model.train()` feeds its running variance), over `count` values per channel.
 * The tensors belong to the current scope (`tf.keep` what must outlive it).
 */
export type BatchStatistics = (
  node: OnnxNode,
  mean: tf.Tensor1D,
  unbiasedVariance: tf.Tensor1D,
  count: number,
) => void;

/** An operator: input values (`undefined` for an omitted optional input) to output values. */
export type Op = (
  node: OnnxNode,
  inputs: ReadonlyArray<Value | undefined>,
  ctx: OpContext,
) => Value[];

const NCHW_TO_NHWC = [0, 2, 3, 1];
const NHWC_TO_NCHW = [0, 3, 1, 2];

/** A float tensor value. */
export function tensorValue(t: tf.Tensor, nhwc = false): TensorValue {
  return { kind: 'tensor', t, nhwc };
}

/** An integer value. */
export function intValue(data: readonly number[], dims: readonly number[]): IntValue {
  return { kind: 'ints', data, dims };
}

function fail(node: OnnxNode, ctx: OpContext, why: string): AntidoteError {
  return new AntidoteError(
    'INVALID_FORMAT',
    `${ctx.where}: node ${node.name || node.outputs[0] || '?'} (${node.opType}) ${why}`,
    { path: ctx.where, node: node.name, op: node.opType },
  );
}

/** The tensor in its ONNX layout (NCHW for 4-D images). */
export function logical(v: Value): tf.Tensor {
  if (v.kind === 'ints') return tf.tensor(Array.from(v.data), [...v.dims], 'float32');
  return v.nhwc ? tf.transpose(v.t, NHWC_TO_NCHW) : v.t;
}

/** A 4-D image tensor, NHWC. */
function nhwc(v: Value, node: OnnxNode, ctx: OpContext): tf.Tensor4D {
  if (v.kind === 'tensor' && v.nhwc) return v.t as tf.Tensor4D;
  const t = logical(v);
  if (t.rank !== 4) {
    throw fail(
      node,
      ctx,
      `reads a ${t.rank}-D tensor; Antidote imports 2-D images (N, C, H, W) only`,
    );
  }
  return tf.transpose(t, NCHW_TO_NHWC) as tf.Tensor4D;
}

function need(v: Value | undefined, node: OnnxNode, ctx: OpContext, what: string): Value {
  if (!v) throw fail(node, ctx, `has no ${what}`);
  return v;
}

/** Integer values of an input (shapes, axes); tensors are read back. */
function ints(v: Value | undefined, node: OnnxNode, ctx: OpContext, what: string): number[] {
  const x = need(v, node, ctx, what);
  if (x.kind === 'ints') return [...x.data];
  return Array.from(x.t.dataSync(), (d) => Math.round(d));
}

/** A scalar read from an input (a clip bound, a pad value). */
function scalar(v: Value | undefined, fallback: number): number {
  if (!v) return fallback;
  if (v.kind === 'ints') return v.data[0] ?? fallback;
  return v.t.dataSync()[0] ?? fallback;
}

function attr(node: OnnxNode, name: string): OnnxAttribute | undefined {
  return node.attributes.get(name);
}

function intAttr(node: OnnxNode, name: string, fallback: number): number {
  const a = attr(node, name);
  return a && (a.kind === 'int' || a.kind === 'float') ? a.value : fallback;
}

function floatAttr(node: OnnxNode, name: string, fallback: number): number {
  return intAttr(node, name, fallback);
}

function intsAttr(node: OnnxNode, name: string): number[] | undefined {
  const a = attr(node, name);
  return a && a.kind === 'ints' ? [...a.value] : undefined;
}

function stringAttr(node: OnnxNode, name: string, fallback: string): string {
  const a = attr(node, name);
  return a && a.kind === 'string' ? a.value : fallback;
}

function normAxis(axis: number, rank: number): number {
  return axis < 0 ? axis + rank : axis;
}

/** Spatial padding `[[top, bottom], [left, right]]` of a conv or pool (auto_pad resolved). */
function spatialPads(
  node: OnnxNode,
  ctx: OpContext,
  inHW: readonly [number, number],
  kernel: readonly [number, number],
  strides: readonly [number, number],
  dilations: readonly [number, number],
): [[number, number], [number, number]] {
  const auto = stringAttr(node, 'auto_pad', 'NOTSET');
  if (auto === 'NOTSET') {
    const p = intsAttr(node, 'pads') ?? [0, 0, 0, 0];
    if (p.length !== 4) throw fail(node, ctx, `has pads [${p}]; Antidote imports 2-D ops only`);
    return [
      [p[0]!, p[2]!],
      [p[1]!, p[3]!],
    ];
  }
  if (auto === 'VALID') {
    return [
      [0, 0],
      [0, 0],
    ];
  }
  const pad = (i: 0 | 1): [number, number] => {
    const out = Math.ceil(inHW[i] / strides[i]);
    const total = Math.max(
      0,
      (out - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1 - inHW[i],
    );
    const small = Math.floor(total / 2);
    return auto === 'SAME_LOWER' ? [total - small, small] : [small, total - small];
  };
  if (auto !== 'SAME_UPPER' && auto !== 'SAME_LOWER') {
    throw fail(node, ctx, `has auto_pad ${auto}`);
  }
  return [pad(0), pad(1)];
}

function pair(v: number[] | undefined, fallback: number): [number, number] {
  return [v?.[0] ?? fallback, v?.[1] ?? fallback];
}

function padHW(x: tf.Tensor4D, pads: [[number, number], [number, number]], value = 0): tf.Tensor4D {
  if (pads.every(([a, b]) => a === 0 && b === 0)) return x;
  return tf.pad(x, [[0, 0], pads[0], pads[1], [0, 0]], value);
}

function conv(node: OnnxNode, inputs: ReadonlyArray<Value | undefined>, ctx: OpContext): Value[] {
  const x = nhwc(need(inputs[0], node, ctx, 'input'), node, ctx);
  const w = logical(need(inputs[1], node, ctx, 'weight')) as tf.Tensor4D; // [O, I/g, kh, kw]
  if (w.rank !== 4) throw fail(node, ctx, 'is not a 2-D convolution');
  const [outC, inPerGroup, kh, kw] = w.shape;
  const group = intAttr(node, 'group', 1);
  const strides = pair(intsAttr(node, 'strides'), 1);
  const dilations = pair(intsAttr(node, 'dilations'), 1);
  const pads = spatialPads(node, ctx, [x.shape[1], x.shape[2]], [kh, kw], strides, dilations);
  // TF's 'same' (stride 1) pads (k − 1)·d split with the smaller half first, as PyTorch's
  // padding = k // 2 for odd kernels: no separate pad op (nor its gradient) then.
  const same = [0, 1].every((i) => {
    const k = (i === 0 ? kh : kw) - 1;
    const d = dilations[i as 0 | 1];
    const total = k * d;
    const [lo, hi] = pads[i as 0 | 1];
    return strides[i as 0 | 1] === 1 && lo === Math.floor(total / 2) && hi === total - lo;
  });
  const padded = same ? x : padHW(x, pads);
  const mode = same ? 'same' : 'valid';
  const inC = x.shape[3];
  const b = inputs[2];
  if (group === 1) {
    // One fused kernel with its bias (and the bias's gradient a reduction, no broadcast add).
    const filter = tf.transpose(w, [2, 3, 1, 0]) as tf.Tensor4D; // [kh, kw, I, O]
    const y = tf.fused.conv2d({
      x: padded,
      filter,
      strides,
      pad: mode,
      dataFormat: 'NHWC',
      dilations,
      ...(b ? { bias: logical(b) } : {}),
    });
    return [tensorValue(y, true)];
  }
  let y: tf.Tensor4D;
  if (group === inC && inPerGroup === 1) {
    // Depthwise: [C·m, 1, kh, kw] → [kh, kw, C, m].
    const m = outC / inC;
    const filter = tf.transpose(tf.reshape(w, [inC, m, kh, kw]), [2, 3, 0, 1]) as tf.Tensor4D;
    y = tf.depthwiseConv2d(padded, filter, strides, mode, 'NHWC', dilations);
  } else {
    const xs = tf.split(padded, group, 3);
    const ws = tf.split(w, group, 0);
    y = tf.concat(
      xs.map((xi, g) =>
        tf.conv2d(
          xi as tf.Tensor4D,
          tf.transpose(ws[g]!, [2, 3, 1, 0]) as tf.Tensor4D,
          strides,
          mode,
          'NHWC',
          dilations,
        ),
      ),
      3,
    );
  }
  return [tensorValue(b ? tf.add(y, logical(b)) : y, true)];
}

function convTranspose(
  node: OnnxNode,
  inputs: ReadonlyArray<Value | undefined>,
  ctx: OpContext,
): Value[] {
  const x = nhwc(need(inputs[0], node, ctx, 'input'), node, ctx);
  const w = logical(need(inputs[1], node, ctx, 'weight')) as tf.Tensor4D; // [I, O/g, kh, kw]
  if (w.rank !== 4) throw fail(node, ctx, 'is not a 2-D transposed convolution');
  const [, outC, kh, kw] = w.shape;
  const dilations = pair(intsAttr(node, 'dilations'), 1);
  if (intAttr(node, 'group', 1) !== 1 || dilations[0] !== 1 || dilations[1] !== 1) {
    throw fail(node, ctx, 'has groups or dilations, which Antidote does not import');
  }
  if (intsAttr(node, 'output_shape')) throw fail(node, ctx, 'sets output_shape; give pads instead');
  const strides = pair(intsAttr(node, 'strides'), 1);
  const extra = pair(intsAttr(node, 'output_padding'), 0);
  const [n, h, wd] = x.shape;
  const full: [number, number, number, number] = [
    n,
    strides[0] * (h - 1) + kh + extra[0],
    strides[1] * (wd - 1) + kw + extra[1],
    outC,
  ];
  const auto = stringAttr(node, 'auto_pad', 'NOTSET');
  let pads: [[number, number], [number, number]];
  if (auto === 'NOTSET' || auto === 'VALID') {
    const p = intsAttr(node, 'pads') ?? [0, 0, 0, 0];
    pads = [
      [p[0] ?? 0, p[2] ?? 0],
      [p[1] ?? 0, p[3] ?? 0],
    ];
  } else {
    // SAME: output = input · stride; the surplus is cut evenly (more at the end for SAME_UPPER).
    const cut = (i: 1 | 2, s: number): [number, number] => {
      const total = full[i] - x.shape[i] * s;
      const small = Math.floor(total / 2);
      return auto === 'SAME_LOWER' ? [total - small, small] : [small, total - small];
    };
    pads = [cut(1, strides[0]), cut(2, strides[1])];
  }
  const filter = tf.transpose(w, [2, 3, 1, 0]) as tf.Tensor4D; // [kh, kw, O, I]
  let y = tf.conv2dTranspose(x, filter, full, strides, 'valid');
  y = tf.slice(
    y,
    [0, pads[0][0], pads[1][0], 0],
    [n, full[1] - pads[0][0] - pads[0][1], full[2] - pads[1][0] - pads[1][1], outC],
  );
  const b = inputs[2];
  return [tensorValue(b ? tf.add(y, logical(b)) : y, true)];
}

/**
 * Inference-mode batch normalization as one affine map per channel, `y = x·a + b`: its gradient
 * is a product and a sum, far cheaper than `tf.batchNorm`'s, which tiles the statistics over the
 * batch.
 */
function affine(
  scale: tf.Tensor,
  bias: tf.Tensor,
  mean: tf.Tensor,
  variance: tf.Tensor,
  eps: number,
): [tf.Tensor, tf.Tensor] {
  const a = tf.mul(scale, tf.rsqrt(tf.add(variance, eps)));
  return [a, tf.sub(bias, tf.mul(mean, a))];
}

/**
 * A `Conv` followed by the `BatchNormalization` that alone reads its output, as one convolution
 * whose weights and bias carry the normalization (`w·a`, `bias·a + b`; gradients reach the
 * original weights through the fold). Returns the normalized output.
 */
export function convBatchNorm(
  convNode: OnnxNode,
  bn: OnnxNode,
  convInputs: ReadonlyArray<Value | undefined>,
  bnInputs: ReadonlyArray<Value | undefined>,
  ctx: OpContext,
): Value[] {
  const [scale, bias, mean, variance] = [1, 2, 3, 4].map((i) =>
    logical(need(bnInputs[i], bn, ctx, `input ${i}`)),
  ) as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
  const [a, b] = affine(scale, bias, mean, variance, floatAttr(bn, 'epsilon', 1e-5));
  const w = logical(need(convInputs[1], convNode, ctx, 'weight'));
  const folded = tf.mul(w, tf.reshape(a, [-1, 1, 1, 1]));
  const cb = convInputs[2];
  const shift = cb ? tf.add(tf.mul(logical(cb), a), b) : b;
  return conv(convNode, [convInputs[0], tensorValue(folded), tensorValue(shift)], ctx);
}

/**
 * `f` applied to the input of a batch norm with its channels last (`[N, ..., C]`: a 4-D image as
 * held NHWC, a `[N, C]` matrix as it is, any other `[N, C, ...]` transposed and back).
 */
function channelsLast(
  x: Value,
  node: OnnxNode,
  ctx: OpContext,
  f: (t: tf.Tensor) => tf.Tensor,
): Value {
  if (x.kind === 'tensor' && (x.nhwc || x.t.rank === 4)) {
    return tensorValue(f(nhwc(x, node, ctx)), true);
  }
  const t = logical(x);
  if (t.rank === 2) return tensorValue(f(t));
  // [N, C, ...]: channels last for the op, then back.
  const perm = [0, ...Array.from({ length: t.rank - 2 }, (_, i) => i + 2), 1];
  const back = perm.map((_, i) => perm.indexOf(i));
  return tensorValue(tf.transpose(f(tf.transpose(t, perm)), back));
}

/**
 * Batch normalization in training mode (`model.train()` in PyTorch; ONNX's `training_mode`):
 * each channel normalised by the batch's mean and biased variance, `y = (x − μ)/√(σ² + ε)·γ + β`,
 * gradients flowing through μ and σ² too; the statistics go to `record` (the caller updates the
 * running ones). A channel with a single value in the batch (a `[1, C]` batch) has no variance:
 * it is normalised by the running statistics, as in inference mode, and nothing is recorded.
 */
function batchNormTraining(
  node: OnnxNode,
  x: Value,
  params: readonly [tf.Tensor1D, tf.Tensor1D, tf.Tensor1D, tf.Tensor1D],
  eps: number,
  ctx: OpContext,
  record: BatchStatistics,
): Value {
  const [scale, bias, running, runningVariance] = params;
  return channelsLast(x, node, ctx, (t) => {
    const channels = t.shape[t.rank - 1]!;
    const count = t.size / Math.max(channels, 1);
    if (count < 2) {
      const [a, b] = affine(scale, bias, running, runningVariance, eps);
      return tf.add(tf.mul(t, a), b);
    }
    return batchNormTrainingOp(t, scale, bias, eps, (mean, variance) =>
      record(node, mean, tf.mul(variance, count / (count - 1)) as tf.Tensor1D, count),
    );
  });
}

/**
 * Training-mode batch normalization of `t` (channels last) with its gradient written out
 * (Ioffe & Szegedy 2015, section 3): with x̂ = (x − μ)/√(σ² + ε) and n values per channel,
 * `∂β = Σ dy`, `∂γ = Σ dy·x̂`, `∂x = γ/√(σ² + ε)·(dy − ∂β/n − x̂·∂γ/n)`. Autodiff through
 * `tf.moments` gives the same values with about twice the full-size ops. The forward pass is not
 * on the gradient tape, so `stats` (called with the batch's mean and biased variance) may use
 * them freely; they are freed afterwards.
 */
function batchNormTrainingOp(
  t: tf.Tensor,
  scale: tf.Tensor1D,
  bias: tf.Tensor1D,
  eps: number,
  stats: (mean: tf.Tensor1D, variance: tf.Tensor1D) => void,
): tf.Tensor {
  const axes = Array.from({ length: t.rank - 1 }, (_, i) => i);
  const n = t.size / t.shape[t.rank - 1]!;
  const op = tf.customGrad((...args: unknown[]) => {
    const [input, gamma, beta, save] = args as [
      tf.Tensor,
      tf.Tensor1D,
      tf.Tensor1D,
      tf.GradSaveFunc,
    ];
    // Sums over the leading axes (Antidote's Sum kernel: no transpose, unlike tf.moments's Mean).
    const mean = tf.div(tf.sum(input, axes), n) as tf.Tensor1D;
    const centred = tf.sub(input, mean);
    const variance = tf.div(tf.sum(tf.square(centred), axes), n) as tf.Tensor1D;
    stats(mean, variance);
    const inv = tf.rsqrt(tf.add(variance, eps));
    const a = tf.mul(gamma, inv);
    save([centred, inv, a]);
    return {
      value: tf.add(tf.mul(centred, a), beta),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xc, invStd, slope] = saved as [tf.Tensor, tf.Tensor, tf.Tensor];
        const dBeta = tf.sum(dy, axes);
        const dGamma = tf.mul(tf.sum(tf.mul(dy, xc), axes), invStd);
        // ∂x = dy·a − x̂·(a·∂γ/n) − a·∂β/n, with x̂ = (x − μ)·inv.
        const k = tf.mul(slope, tf.mul(invStd, tf.div(dGamma, n)));
        const c = tf.mul(slope, tf.div(dBeta, n));
        const dx = tf.sub(tf.sub(tf.mul(dy, slope), tf.mul(xc, k)), c);
        return [dx, dGamma, dBeta];
      },
    };
  });
  return op(t, scale, bias);
}

function batchNorm(
  node: OnnxNode,
  inputs: ReadonlyArray<Value | undefined>,
  ctx: OpContext,
): Value[] {
  const x = need(inputs[0], node, ctx, 'input');
  const params = [1, 2, 3, 4].map((i) => logical(need(inputs[i], node, ctx, `input ${i}`))) as [
    tf.Tensor1D,
    tf.Tensor1D,
    tf.Tensor1D,
    tf.Tensor1D,
  ];
  const eps = floatAttr(node, 'epsilon', 1e-5);
  if (ctx.batchStatistics) {
    return [batchNormTraining(node, x, params, eps, ctx, ctx.batchStatistics)];
  }
  const [a, b] = affine(...params, eps);
  return [channelsLast(x, node, ctx, (t) => tf.add(tf.mul(t, a), b))];
}

/**
 * The `momentum` of a `BatchNormalization` node (default 0.9): the weight of the OLD running
 * statistic in ONNX, `running = running·momentum + batch·(1 − momentum)`; PyTorch's momentum
 * `m` (the weight of the new value, 0.1 by default) is exported as `1 − m`.
 */
export function batchNormMomentum(node: OnnxNode): number {
  return floatAttr(node, 'momentum', 0.9);
}

function unary(f: (t: tf.Tensor, node: OnnxNode) => tf.Tensor): Op {
  return (node, inputs, ctx) => {
    const x = need(inputs[0], node, ctx, 'input');
    if (x.kind === 'ints') return [tensorValue(f(logical(x), node))];
    return [tensorValue(f(x.t, node), x.nhwc)];
  };
}

function gelu(t: tf.Tensor, node: OnnxNode): tf.Tensor {
  if (stringAttr(node, 'approximate', 'none') === 'tanh') {
    const inner = tf.mul(Math.sqrt(2 / Math.PI), tf.add(t, tf.mul(0.044715, tf.pow(t, 3))));
    return tf.mul(tf.mul(0.5, t), tf.add(1, tf.tanh(inner)));
  }
  return tf.mul(tf.mul(0.5, t), tf.add(1, tf.erf(tf.div(t, Math.SQRT2))));
}

function intBinary(a: IntValue, b: IntValue, f: (x: number, y: number) => number): IntValue {
  const n = Math.max(a.data.length, b.data.length);
  const at = (v: IntValue, i: number) => (v.data.length === 1 ? v.data[0]! : v.data[i]!);
  const data = Array.from({ length: n }, (_, i) => f(at(a, i), at(b, i)));
  return intValue(data, a.data.length >= b.data.length ? a.dims : b.dims);
}

function binary(
  f: (a: tf.Tensor, b: tf.Tensor) => tf.Tensor,
  g: (x: number, y: number) => number,
): Op {
  return (node, inputs, ctx) => {
    const a = need(inputs[0], node, ctx, 'input A');
    const b = need(inputs[1], node, ctx, 'input B');
    if (a.kind === 'ints' && b.kind === 'ints') return [intBinary(a, b, g)];
    const single = (v: Value) => (v.kind === 'ints' ? v.data.length : v.t.size) === 1;
    const kept = (v: Value) => v.kind === 'tensor' && v.nhwc;
    // NHWC operands stay NHWC when every other operand is NHWC too, or a single value.
    if ((kept(a) || kept(b)) && [a, b].every((v) => kept(v) || single(v))) {
      const raw = (v: Value) => (v.kind === 'tensor' ? v.t : logical(v));
      return [tensorValue(f(raw(a), raw(b)), true)];
    }
    return [tensorValue(f(logical(a), logical(b)))];
  };
}

function pool(kind: 'max' | 'avg'): Op {
  return (node, inputs, ctx) => {
    const x = nhwc(need(inputs[0], node, ctx, 'input'), node, ctx);
    const kernel = pair(intsAttr(node, 'kernel_shape'), 1);
    const strides = pair(intsAttr(node, 'strides'), 1);
    const dilations = pair(intsAttr(node, 'dilations'), 1);
    if (dilations[0] !== 1 || dilations[1] !== 1) throw fail(node, ctx, 'has dilations');
    const pads = spatialPads(node, ctx, [x.shape[1], x.shape[2]], kernel, strides, dilations);
    // ceil_mode: pad the end so that the last, partial window is kept (it reads no padding).
    const ceilExtra = (i: 0 | 1) => {
      if (intAttr(node, 'ceil_mode', 0) !== 1) return 0;
      const len = x.shape[i + 1]! + pads[i][0] + pads[i][1];
      const out = Math.ceil((len - kernel[i]) / strides[i]) + 1;
      // A window must start inside the input or its left padding (ONNX, PyTorch).
      const kept = (out - 1) * strides[i] >= x.shape[i + 1]! + pads[i][0] ? out - 1 : out;
      return Math.max(0, (kept - 1) * strides[i] + kernel[i] - len);
    };
    const extra: [[number, number], [number, number]] = [
      [pads[0][0], pads[0][1] + ceilExtra(0)],
      [pads[1][0], pads[1][1] + ceilExtra(1)],
    ];
    if (kind === 'max') {
      const y = tf.maxPool(padHW(x, extra, -3.4e38), kernel, strides, 'valid');
      return [tensorValue(y, true)];
    }
    const plain = extra.every(([a, b]) => a === 0 && b === 0);
    if (plain) return [tensorValue(tf.avgPool(x, kernel, strides, 'valid'), true)];
    // Sum over the window, divided by the cells counted: the input, and the explicit pads
    // when count_include_pad (never the ceil_mode extension).
    const area = kernel[0] * kernel[1];
    const sum = tf.mul(tf.avgPool(padHW(x, extra), kernel, strides, 'valid'), area);
    const include = intAttr(node, 'count_include_pad', 0) === 1;
    const ones = tf.ones([1, x.shape[1], x.shape[2], 1]) as tf.Tensor4D;
    const counted = include ? padHW(ones, pads, 1) : ones;
    const rest: [[number, number], [number, number]] = include
      ? [
          [0, extra[0][1] - pads[0][1]],
          [0, extra[1][1] - pads[1][1]],
        ]
      : extra;
    const count = tf.mul(tf.avgPool(padHW(counted, rest), kernel, strides, 'valid'), area);
    return [tensorValue(tf.div(sum, count), true)];
  };
}

function globalPool(kind: 'max' | 'avg'): Op {
  return (node, inputs, ctx) => {
    const x = need(inputs[0], node, ctx, 'input');
    const reduce = kind === 'avg' ? tf.mean : tf.max;
    if (x.kind === 'tensor' && (x.nhwc || x.t.rank === 4)) {
      return [tensorValue(reduce(nhwc(x, node, ctx), [1, 2], true), true)];
    }
    const t = logical(x);
    const axes = Array.from({ length: t.rank - 2 }, (_, i) => i + 2);
    return [tensorValue(reduce(t, axes, true))];
  };
}

function gemm(node: OnnxNode, inputs: ReadonlyArray<Value | undefined>, ctx: OpContext): Value[] {
  const a = logical(need(inputs[0], node, ctx, 'input A')) as tf.Tensor2D;
  const b = logical(need(inputs[1], node, ctx, 'input B')) as tf.Tensor2D;
  const alpha = floatAttr(node, 'alpha', 1);
  const beta = floatAttr(node, 'beta', 1);
  let y = tf.matMul(a, b, intAttr(node, 'transA', 0) === 1, intAttr(node, 'transB', 0) === 1);
  if (alpha !== 1) y = tf.mul(y, alpha);
  const c = inputs[2];
  if (c) y = tf.add(y, beta === 1 ? logical(c) : tf.mul(logical(c), beta));
  return [tensorValue(y)];
}

function matMul(node: OnnxNode, inputs: ReadonlyArray<Value | undefined>, ctx: OpContext): Value[] {
  let a = logical(need(inputs[0], node, ctx, 'input A'));
  let b = logical(need(inputs[1], node, ctx, 'input B'));
  const vecA = a.rank === 1;
  const vecB = b.rank === 1;
  if (vecA) a = tf.expandDims(a, 0);
  if (vecB) b = tf.expandDims(b, 1);
  if (a.rank > 2 && b.rank === 2) {
    // [.., n, k] · [k, m]: one 2-D product over the flattened leading dimensions.
    const lead = a.shape.slice(0, -1);
    const y = tf.matMul(tf.reshape(a, [-1, a.shape[a.rank - 1]!]) as tf.Tensor2D, b as tf.Tensor2D);
    return [tensorValue(tf.reshape(y, [...lead, b.shape[1]!]))];
  }
  let y = tf.matMul(a, b);
  if (vecA) y = tf.squeeze(y, [y.rank - 2]);
  if (vecB) y = tf.squeeze(y, [y.rank - 1]);
  return [tensorValue(y)];
}

function flatten(
  node: OnnxNode,
  inputs: ReadonlyArray<Value | undefined>,
  ctx: OpContext,
): Value[] {
  const t = logical(need(inputs[0], node, ctx, 'input'));
  const axis = normAxis(intAttr(node, 'axis', 1), t.rank);
  const lead = t.shape.slice(0, axis).reduce((p, d) => p * d, 1);
  return [tensorValue(tf.reshape(t, [lead, t.size / Math.max(lead, 1)]))];
}

/** A reshape target: 0 copies the input's dimension (unless allowzero), -1 is inferred. */
function targetShape(
  node: OnnxNode,
  shape: readonly number[],
  wanted: readonly number[],
): number[] {
  const allowZero = intAttr(node, 'allowzero', 0) === 1;
  return wanted.map((d, i) => (d === 0 && !allowZero ? shape[i]! : d));
}

function reshape(
  node: OnnxNode,
  inputs: ReadonlyArray<Value | undefined>,
  ctx: OpContext,
): Value[] {
  const x = need(inputs[0], node, ctx, 'data');
  const wanted = ints(inputs[1], node, ctx, 'shape');
  if (x.kind === 'ints') {
    const shape = targetShape(node, x.dims, wanted);
    const known = shape.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
    return [
      intValue(
        x.data,
        shape.map((d) => (d === -1 ? x.data.length / known : d)),
      ),
    ];
  }
  const t = logical(x);
  return [tensorValue(tf.reshape(t, targetShape(node, t.shape, wanted)))];
}

function transpose(
  node: OnnxNode,
  inputs: ReadonlyArray<Value | undefined>,
  ctx: OpContext,
): Value[] {
  const x = need(inputs[0], node, ctx, 'input');
  const perm = intsAttr(node, 'perm');
  if (x.kind === 'tensor' && !x.nhwc && x.t.rank === 4 && perm?.join() === NHWC_TO_NCHW.join()) {
    return [tensorValue(x.t, true)];
  }
  const t = logical(x);
  return [
    tensorValue(tf.transpose(t, perm ?? Array.from({ length: t.rank }, (_, i) => t.rank - 1 - i))),
  ];
}

function concat(
  node: OnnxNode,
  inputs: ReadonlyArray<Value | undefined>,
  _ctx: OpContext,
): Value[] {
  const xs = inputs.filter((v): v is Value => v !== undefined);
  const axis = intAttr(node, 'axis', 0);
  if (xs.every((v) => v.kind === 'ints')) {
    const list = xs as IntValue[];
    if (list.every((v) => v.dims.length <= 1)) {
      const data = list.flatMap((v) => [...v.data]);
      return [intValue(data, [data.length])];
    }
  }
  if (xs.every((v) => v.kind === 'tensor' && v.nhwc) && normAxis(axis, 4) === 1) {
    return [
      tensorValue(
        tf.concat(
          xs.map((v) => (v as TensorValue).t),
          3,
        ),
        true,
      ),
    ];
  }
  const ts = xs.map(logical);
  return [tensorValue(tf.concat(ts, normAxis(axis, ts[0]?.rank ?? 1)))];
}

function softmax(log: boolean): Op {
  return (node, inputs, ctx) => {
    const t = logical(need(inputs[0], node, ctx, 'input'));
    const f = (v: tf.Tensor) => (log ? tf.logSoftmax(v) : tf.softmax(v));
    const axis = normAxis(intAttr(node, 'axis', ctx.opset >= 13 ? -1 : 1), t.rank);
    if (ctx.opset < 13) {
      // Before opset 13: the input is flattened to 2-D at `axis`.
      const lead = t.shape.slice(0, axis).reduce((a, b) => a * b, 1);
      return [tensorValue(tf.reshape(f(tf.reshape(t, [lead, -1])), t.shape))];
    }
    if (axis === t.rank - 1) return [tensorValue(f(t))];
    const perm = Array.from({ length: t.rank }, (_, i) => i);
    perm[axis] = t.rank - 1;
    perm[t.rank - 1] = axis;
    return [tensorValue(tf.transpose(f(tf.transpose(t, perm)), perm))];
  };
}

function clip(node: OnnxNode, inputs: ReadonlyArray<Value | undefined>, ctx: OpContext): Value[] {
  const x = need(inputs[0], node, ctx, 'input');
  const lo =
    ctx.opset < 11 ? floatAttr(node, 'min', -3.4e38) : scalar(inputs[1], Number.NEGATIVE_INFINITY);
  const hi =
    ctx.opset < 11 ? floatAttr(node, 'max', 3.4e38) : scalar(inputs[2], Number.POSITIVE_INFINITY);
  // clipByValue needs finite bounds.
  const bound = (v: number) => Math.max(-3.4e38, Math.min(3.4e38, v));
  const t = x.kind === 'tensor' ? x.t : logical(x);
  return [tensorValue(tf.clipByValue(t, bound(lo), bound(hi)), x.kind === 'tensor' && x.nhwc)];
}

function pad(node: OnnxNode, inputs: ReadonlyArray<Value | undefined>, ctx: OpContext): Value[] {
  const x = need(inputs[0], node, ctx, 'data');
  const p = ctx.opset < 11 ? (intsAttr(node, 'pads') ?? []) : ints(inputs[1], node, ctx, 'pads');
  const value = ctx.opset < 11 ? floatAttr(node, 'value', 0) : scalar(inputs[2], 0);
  const mode = stringAttr(node, 'mode', 'constant');
  if (ctx.opset >= 18 && inputs[3]) throw fail(node, ctx, 'pads only some axes (axes input)');
  const held = x.kind === 'tensor' && x.nhwc;
  const t = held ? (x as TensorValue).t : logical(x);
  const rank = t.rank;
  if (p.length !== 2 * rank) throw fail(node, ctx, `has ${p.length} pads for a ${rank}-D input`);
  // ONNX: [x1_begin, x2_begin, …, x1_end, …], in ONNX axis order.
  let pairs = Array.from({ length: rank }, (_, i): [number, number] => [p[i]!, p[i + rank]!]);
  if (held) pairs = NCHW_TO_NHWC.map((i) => pairs[i]!);
  if (pairs.some(([a, b]) => a < 0 || b < 0)) throw fail(node, ctx, 'has negative pads');
  let y: tf.Tensor;
  if (mode === 'constant') y = tf.pad(t, pairs, value);
  else if (mode === 'reflect') y = tf.mirrorPad(t, pairs, 'reflect');
  else throw fail(node, ctx, `has mode ${mode}; Antidote imports constant and reflect padding`);
  return [tensorValue(y, held)];
}

function axesOf(node: OnnxNode, inputs: ReadonlyArray<Value | undefined>, ctx: OpContext) {
  return ctx.opset >= 13
    ? inputs[1]
      ? ints(inputs[1], node, ctx, 'axes')
      : undefined
    : intsAttr(node, 'axes');
}

function squeeze(
  node: OnnxNode,
  inputs: ReadonlyArray<Value | undefined>,
  ctx: OpContext,
): Value[] {
  const x = need(inputs[0], node, ctx, 'input');
  const shape = x.kind === 'ints' ? x.dims : logical(x).shape;
  const given = axesOf(node, inputs, ctx)?.map((a) => normAxis(a, shape.length));
  const axes = given ?? shape.flatMap((d, i) => (d === 1 ? [i] : []));
  const dims = shape.filter((_, i) => !axes.includes(i));
  if (x.kind === 'ints') return [intValue(x.data, dims)];
  return [tensorValue(tf.reshape(logical(x), dims))];
}

function unsqueeze(
  node: OnnxNode,
  inputs: ReadonlyArray<Value | undefined>,
  ctx: OpContext,
): Value[] {
  const x = need(inputs[0], node, ctx, 'input');
  const shape = x.kind === 'ints' ? [...x.dims] : logical(x).shape;
  const axes = axesOf(node, inputs, ctx) ?? [];
  const rank = shape.length + axes.length;
  const sorted = axes.map((a) => normAxis(a, rank)).sort((a, b) => a - b);
  const dims = [...shape];
  for (const a of sorted) dims.splice(a, 0, 1);
  if (x.kind === 'ints') return [intValue(x.data, dims)];
  return [tensorValue(tf.reshape(logical(x), dims))];
}

function constant(
  node: OnnxNode,
  _inputs: ReadonlyArray<Value | undefined>,
  ctx: OpContext,
): Value[] {
  const a =
    attr(node, 'value') ??
    attr(node, 'value_float') ??
    attr(node, 'value_floats') ??
    attr(node, 'value_int') ??
    attr(node, 'value_ints');
  if (!a)
    throw fail(node, ctx, 'has no value Antidote reads (value, value_float(s), value_int(s))');
  switch (a.kind) {
    case 'tensor': {
      const t = a.value;
      if (t.data instanceof Float32Array) return [tensorValue(tf.tensor(t.data, [...t.dims]))];
      return [intValue(t.data, t.dims)];
    }
    case 'float':
      return [tensorValue(tf.scalar(a.value))];
    case 'floats':
      return [tensorValue(tf.tensor1d([...a.value]))];
    case 'int':
      return [intValue([a.value], [])];
    case 'ints':
      return [intValue(a.value, [a.value.length])];
    default:
      throw fail(node, ctx, `has a ${a.kind} value`);
  }
}

function shape(node: OnnxNode, inputs: ReadonlyArray<Value | undefined>, ctx: OpContext): Value[] {
  const x = need(inputs[0], node, ctx, 'input');
  const dims =
    x.kind === 'ints' ? [...x.dims] : x.nhwc ? NHWC_TO_NCHW.map((i) => x.t.shape[i]!) : x.t.shape;
  const start = normAxis(intAttr(node, 'start', 0), dims.length);
  const end = attr(node, 'end')
    ? normAxis(intAttr(node, 'end', dims.length), dims.length)
    : dims.length;
  const data = dims.slice(start, end);
  return [intValue(data, [data.length])];
}

function gather(node: OnnxNode, inputs: ReadonlyArray<Value | undefined>, ctx: OpContext): Value[] {
  const x = need(inputs[0], node, ctx, 'data');
  const idx = need(inputs[1], node, ctx, 'indices');
  const index = ints(idx, node, ctx, 'indices');
  const idxDims = idx.kind === 'ints' ? idx.dims : idx.t.shape;
  if (x.kind === 'ints') {
    if (x.dims.length > 1) throw fail(node, ctx, 'gathers from a multi-dimensional integer tensor');
    const n = x.data.length;
    return [
      intValue(
        index.map((i) => x.data[i < 0 ? i + n : i]!),
        idxDims,
      ),
    ];
  }
  const t = logical(x);
  const axis = normAxis(intAttr(node, 'axis', 0), t.rank);
  const n = t.shape[axis]!;
  const flat = tf.tensor1d(
    index.map((i) => (i < 0 ? i + n : i)),
    'int32',
  );
  const y = tf.gather(t, flat, axis);
  const dims = [...t.shape.slice(0, axis), ...idxDims, ...t.shape.slice(axis + 1)];
  return [tensorValue(tf.reshape(y, dims))];
}

function cast(node: OnnxNode, inputs: ReadonlyArray<Value | undefined>, ctx: OpContext): Value[] {
  const x = need(inputs[0], node, ctx, 'input');
  const to = intAttr(node, 'to', 1);
  const toFloat = to === 1 || to === 11 || to === 10;
  if (x.kind === 'ints') return [toFloat ? tensorValue(logical(x)) : x];
  if (toFloat) return [x];
  throw fail(node, ctx, `casts a float tensor to ONNX type ${to}`);
}

function identity(
  node: OnnxNode,
  inputs: ReadonlyArray<Value | undefined>,
  ctx: OpContext,
): Value[] {
  return [need(inputs[0], node, ctx, 'input')];
}

function reduce(f: (t: tf.Tensor, axes: number[], keep: boolean) => tf.Tensor): Op {
  return (node, inputs, ctx) => {
    const t = logical(need(inputs[0], node, ctx, 'input'));
    const given =
      ctx.opset >= 18 || (node.opType === 'ReduceSum' && ctx.opset >= 13)
        ? inputs[1]
          ? ints(inputs[1], node, ctx, 'axes')
          : undefined
        : intsAttr(node, 'axes');
    const axes = (given ?? Array.from({ length: t.rank }, (_, i) => i)).map((a) =>
      normAxis(a, t.rank),
    );
    return [tensorValue(f(t, axes, intAttr(node, 'keepdims', 1) === 1))];
  };
}

/** The importer's operators, by ONNX op type (default domain). */
export const ONNX_TF_OPS: Readonly<Record<string, Op>> = {
  Conv: conv,
  ConvTranspose: convTranspose,
  BatchNormalization: batchNorm,
  Relu: unary((t) => tf.relu(t)),
  LeakyRelu: unary((t, n) => tf.leakyRelu(t, floatAttr(n, 'alpha', 0.01))),
  Sigmoid: unary((t) => tf.sigmoid(t)),
  Tanh: unary((t) => tf.tanh(t)),
  Gelu: unary(gelu),
  Erf: unary((t) => tf.erf(t)),
  Sqrt: unary((t) => tf.sqrt(t)),
  Exp: unary((t) => tf.exp(t)),
  Log: unary((t) => tf.log(t)),
  Neg: unary((t) => tf.neg(t)),
  Abs: unary((t) => tf.abs(t)),
  Reciprocal: unary((t) => tf.reciprocal(t)),
  Softplus: unary((t) => tf.softplus(t)),
  Elu: unary((t, n) => {
    const alpha = floatAttr(n, 'alpha', 1);
    return alpha === 1
      ? tf.elu(t)
      : tf.where(tf.greater(t, 0), t, tf.mul(alpha, tf.sub(tf.exp(t), 1)));
  }),
  HardSigmoid: unary((t, n) =>
    tf.clipByValue(tf.add(tf.mul(floatAttr(n, 'alpha', 0.2), t), floatAttr(n, 'beta', 0.5)), 0, 1),
  ),
  Add: binary(tf.add, (x, y) => x + y),
  Sub: binary(tf.sub, (x, y) => x - y),
  Mul: binary(tf.mul, (x, y) => x * y),
  Div: binary(tf.div, (x, y) => Math.trunc(x / y)),
  Pow: binary(tf.pow, (x, y) => x ** y),
  Max: binary(tf.maximum, Math.max),
  Min: binary(tf.minimum, Math.min),
  MaxPool: pool('max'),
  AveragePool: pool('avg'),
  GlobalAveragePool: globalPool('avg'),
  GlobalMaxPool: globalPool('max'),
  Gemm: gemm,
  MatMul: matMul,
  Flatten: flatten,
  Reshape: reshape,
  Transpose: transpose,
  Concat: concat,
  Softmax: softmax(false),
  LogSoftmax: softmax(true),
  Dropout: identity,
  Identity: identity,
  Clip: clip,
  Pad: pad,
  Squeeze: squeeze,
  Unsqueeze: unsqueeze,
  Constant: constant,
  Shape: shape,
  Gather: gather,
  Cast: cast,
  ReduceMean: reduce((t, a, k) => tf.mean(t, a, k)),
  ReduceSum: reduce((t, a, k) => tf.sum(t, a, k)),
};
