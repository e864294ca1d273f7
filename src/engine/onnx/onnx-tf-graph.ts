/**
 * An ONNX graph imported into the engine: the nodes run eagerly as TensorFlow.js ops
 * (`./onnx-tf-ops.ts`) on the active backend (wasm with Antidote's kernels by default), the
 * float initializers become `tf.Variable`s, so that input gradients (`tf.grad`) and weight
 * gradients (`tf.variableGrads`) go through the graph and fine-tuning changes its weights, which
 * {@link OnnxTfGraph.toOnnx} writes back into the same ONNX file. Batch normalization runs in
 * inference mode (running statistics, folded into the convolution before it) unless a run asks
 * for training mode ({@link BatchNormMode}): then it normalises with the batch's statistics, as
 * PyTorch's `model.train()`, and {@link OnnxTfGraph.updateRunningStatistics} moves the running
 * mean and variance towards them by the node's `momentum` (written back by `toOnnx` too).
 * Dropout is the identity. An op outside the documented set (docs/onnx.md) is refused at import
 * with an error naming the op and the node ({@link unsupportedNodes}).
 */
import * as tf from '@tensorflow/tfjs-core';
import { AntidoteError } from '../../errors.js';
import { initEngine } from '../backend.js';
import { classifierOutput, dataInputs, producers } from './onnx-graph.js';
import type { ProtoModel } from './onnx-proto.js';
import {
  decodeWeights,
  type OnnxNode,
  type OnnxTensor,
  type OnnxWeights,
  withInitializerValues,
} from './onnx-tensors.js';
import {
  batchNormMomentum,
  convBatchNorm,
  intValue,
  logical,
  ONNX_TF_OPS,
  type OpContext,
  tensorValue,
  type Value,
} from './onnx-tf-ops.js';
import { checkImportable } from './onnx-tf-opset.js';

/**
 * How `BatchNormalization` runs while fine-tuning (docs/onnx.md): `'train'` normalises each batch
 * by its own statistics and updates the running ones (PyTorch's `model.train()`); `'frozen'`
 * keeps the running statistics, never updated (inference mode: only the scale and shift train).
 */
export type BatchNormMode = 'train' | 'frozen';

/** Options of {@link OnnxTfGraph.run}. */
export interface RunOptions {
  /**
   * Records `[n, H, W, C]` for a 4-D NCHW input: records held NHWC are fed as they are, without
   * a transpose.
   */
  readonly nhwc?: boolean;
  /**
   * `'train'`: batch normalization in training mode (batch statistics, gradients through them;
   * the new running statistics wait for {@link OnnxTfGraph.updateRunningStatistics}). Default
   * `'frozen'`: inference mode.
   */
  readonly batchNorm?: BatchNormMode;
}

/** One step of a run: a node, or a `Conv` with the `BatchNormalization` fused into it. */
interface Step {
  readonly node: OnnxNode;
  readonly bn?: OnnxNode;
}

/** Inputs 3 and 4 of BatchNormalization: running statistics, never trained. */
function runningStats(nodes: readonly OnnxNode[]): Set<string> {
  const s = new Set<string>();
  for (const n of nodes) {
    if (n.opType !== 'BatchNormalization') continue;
    for (const i of [3, 4]) if (n.inputs[i]) s.add(n.inputs[i]!);
  }
  return s;
}

/** An ONNX graph run by TF.js ops (see the module comment). */
export class OnnxTfGraph {
  /** One record's shape as the ONNX input reads it (no batch dimension). */
  readonly inputShape: readonly number[];
  readonly numClasses: number;
  /** The tensor whose values are the logits (the input of a final Softmax, else the output). */
  readonly logitsName: string;
  /** The weights the optimiser changes (every float initializer but running statistics). */
  readonly trainable: readonly tf.Variable[];
  private readonly variables = new Map<string, tf.Variable>();
  private readonly ints = new Map<string, Value>();
  private readonly plans = new Map<string, Step[]>();
  /** Masks the weights are kept multiplied by ({@link setMask}), by initializer name. */
  private readonly masks = new Map<string, tf.Tensor>();
  /**
   * New running statistics from the last training-mode run, by initializer name (kept tensors,
   * assigned by {@link updateRunningStatistics}).
   */
  private readonly pendingStatistics = new Map<string, tf.Tensor>();
  private readonly ctx: OpContext;
  private disposed = false;

  private constructor(
    /** The `.onnx` file's bytes, as loaded (written back with new weights by {@link toOnnx}). */
    private readonly bytes: Uint8Array,
    readonly proto: ProtoModel,
    private readonly weights: OnnxWeights,
    private readonly inputName: string,
    /** The file, for error messages. */
    readonly where: string,
  ) {
    const input = proto.inputs.find((i) => i.name === inputName)!;
    this.inputShape = (input.shape ?? []).slice(1) as number[];
    const out = classifierOutput(proto, where);
    this.numClasses = out.numClasses;
    const last = producers(proto).get(out.name);
    this.logitsName =
      last && (last.opType === 'Softmax' || last.opType === 'LogSoftmax') && last.inputs[0]
        ? last.inputs[0]
        : out.name;
    this.ctx = { opset: proto.opsets[''] ?? proto.opsets['ai.onnx'] ?? 13, where };
    const stats = runningStats(weights.nodes);
    const trainable: tf.Variable[] = [];
    for (const [name, t] of weights.initializers) {
      if (t.data instanceof Float32Array) {
        const v = tf.variable(tf.tensor(t.data, [...t.dims]), !stats.has(name));
        this.variables.set(name, v);
        if (!stats.has(name)) trainable.push(v);
      } else {
        this.ints.set(name, intValue(t.data, t.dims));
      }
    }
    this.trainable = trainable;
  }

  /**
   * Imports the ONNX model `bytes` (decoded as `proto`): initialises the engine, checks every
   * op ({@link checkImportable}) and makes the weights variables. `INVALID_FORMAT` naming
   * `where` for an unsupported op or weight.
   */
  static async import(bytes: Uint8Array, proto: ProtoModel, where: string): Promise<OnnxTfGraph> {
    checkImportable(proto, where);
    const input = dataInputs(proto)[0];
    if (!input) {
      throw new AntidoteError('INVALID_FORMAT', `${where} has no data input`, { path: where });
    }
    const weights = decodeWeights(bytes, where);
    await initEngine();
    return new OnnxTfGraph(bytes, proto, weights, input.name, where);
  }

  /**
   * The steps that compute `fetch`, in graph order: the nodes it needs, a `Conv` whose output
   * only a `BatchNormalization` (of initializer statistics) reads being fused with it
   * (`convBatchNorm`) unless that output is `fetch` itself or `fuse` is false (training mode:
   * the batch's statistics are not known before the convolution runs).
   */
  private plan(fetch: string, fuse = true): Step[] {
    const key = fuse ? fetch : `\u0000train\u0000${fetch}`;
    let p = this.plans.get(key);
    if (p) return p;
    const nodes = this.weights.nodes;
    const needed = new Set([fetch]);
    const keep: OnnxNode[] = [];
    for (let i = nodes.length - 1; i >= 0; i--) {
      const n = nodes[i]!;
      if (!n.outputs.some((o) => needed.has(o))) continue;
      keep.push(n);
      for (const inp of n.inputs) if (inp) needed.add(inp);
    }
    keep.reverse();
    const readers = new Map<string, OnnxNode[]>();
    for (const n of nodes) for (const i of n.inputs) readers.set(i, [...(readers.get(i) ?? []), n]);
    const outputs = new Set(this.proto.outputs.map((o) => o.name));
    const fusedInto = new Map<OnnxNode, OnnxNode>();
    for (const n of keep) {
      const out = n.outputs[0];
      const only = out ? readers.get(out) : undefined;
      const bn = only?.length === 1 ? only[0]! : undefined;
      if (
        fuse &&
        n.opType === 'Conv' &&
        out &&
        out !== fetch &&
        !outputs.has(out) &&
        bn?.opType === 'BatchNormalization' &&
        bn.inputs[0] === out &&
        bn.outputs.length === 1 &&
        [1, 2, 3, 4].every((i) => this.variables.has(bn.inputs[i] ?? ''))
      ) {
        fusedInto.set(n, bn);
      }
    }
    const skip = new Set(fusedInto.values());
    p = keep
      .filter((n) => !skip.has(n))
      .map((n) => {
        const bn = fusedInto.get(n);
        return bn ? { node: n, bn } : { node: n };
      });
    this.plans.set(key, p);
    return p;
  }

  /**
   * The tensor `fetch` for the records `x` (`[n, ...inputShape]`, or `[n, H, W, C]` when
   * `options.nhwc` for a 4-D NCHW input), in its ONNX layout; batch normalization as
   * `options.batchNorm` says. Call inside `tf.tidy`: intermediate tensors are not freed here.
   */
  run(x: tf.Tensor, fetch: string, options: RunOptions = {}): tf.Tensor {
    if (this.disposed) {
      throw new AntidoteError('INVALID_STATE', `${this.where}: the imported graph was disposed`);
    }
    const training = options.batchNorm === 'train';
    const ctx: OpContext = training
      ? { ...this.ctx, batchStatistics: (node, mean, variance) => this.pend(node, mean, variance) }
      : this.ctx;
    const env = new Map<string, Value>(this.ints);
    for (const [name, v] of this.variables) env.set(name, tensorValue(v));
    env.set(this.inputName, tensorValue(x, options.nhwc ?? false));
    const inputs = (n: OnnxNode) => n.inputs.map((i) => (i ? env.get(i) : undefined));
    for (const { node, bn } of this.plan(fetch, !training)) {
      const outs = bn
        ? convBatchNorm(node, bn, inputs(node), inputs(bn), ctx)
        : ONNX_TF_OPS[node.opType]!(node, inputs(node), ctx);
      (bn ?? node).outputs.forEach((name, i) => {
        if (name && outs[i]) env.set(name, outs[i]!);
      });
    }
    const v = env.get(fetch);
    if (!v) {
      throw new AntidoteError('INVALID_ARGUMENT', `${this.where} computes no tensor ${fetch}`, {
        path: this.where,
      });
    }
    return logical(v);
  }

  /** Logits `[n, K]` of the records `x` (see {@link run}). */
  logits(x: tf.Tensor, options: RunOptions = {}): tf.Tensor2D {
    return this.run(x, this.logitsName, options) as tf.Tensor2D;
  }

  /**
   * Keeps the running statistics of the batch-norm `node` that its batch statistics `mean` and
   * `variance` (unbiased) give: `running·momentum + batch·(1 − momentum)` (ONNX's momentum, the
   * weight of the old value; `batchNormMomentum`). Running statistics that are not float
   * initializers (e.g. a `Constant`'s output) are left as they are.
   */
  private pend(node: OnnxNode, mean: tf.Tensor1D, variance: tf.Tensor1D): void {
    const momentum = batchNormMomentum(node);
    for (const [input, batch] of [
      [node.inputs[3], mean],
      [node.inputs[4], variance],
    ] as const) {
      const running = input ? this.variables.get(input) : undefined;
      if (!input || !running) continue;
      const next = tf.tidy(() => tf.add(tf.mul(running, momentum), tf.mul(batch, 1 - momentum)));
      this.pendingStatistics.get(input)?.dispose();
      this.pendingStatistics.set(input, tf.keep(next));
    }
  }

  /**
   * Assigns the running statistics computed by the last training-mode run (`batchNorm: 'train'`)
   * to their initializers, once; returns how many were updated (0 when no such run is pending).
   * Training calls it after every step, as PyTorch updates them once per forward pass.
   */
  updateRunningStatistics(): number {
    this.checkAlive();
    const n = this.pendingStatistics.size;
    for (const [name, next] of this.pendingStatistics) {
      this.variables.get(name)!.assign(next);
      next.dispose();
    }
    this.pendingStatistics.clear();
    return n;
  }

  /** The current value of every float initializer (trained weights and running statistics). */
  initializerValues(): Map<string, Float32Array> {
    const out = new Map<string, Float32Array>();
    for (const [name, v] of this.variables) out.set(name, v.dataSync() as Float32Array);
    return out;
  }

  /** The variable of the float initializer `name`, if the graph has one. */
  variable(name: string): tf.Variable | undefined {
    return this.variables.get(name);
  }

  /**
   * Keeps the float initializer `name` multiplied by `mask` (its shape, or one that broadcasts to
   * it; 0 switches a weight off) from now on: applied now and by {@link applyMasks}, which
   * training calls after every step, so that pruned weights stay zero. `undefined` removes the
   * mask (the weights stay as they are). The graph owns `mask`. `INVALID_ARGUMENT` for a name
   * that is no float initializer.
   */
  setMask(name: string, mask: tf.Tensor | undefined): void {
    this.checkAlive();
    if (!this.variables.has(name)) {
      throw new AntidoteError('INVALID_ARGUMENT', `${this.where} has no float weight ${name}`, {
        path: this.where,
      });
    }
    this.masks.get(name)?.dispose();
    if (mask) this.masks.set(name, mask);
    else this.masks.delete(name);
    this.applyMasks();
  }

  /** Multiplies every masked weight by its mask ({@link setMask}). */
  applyMasks(): void {
    for (const [name, mask] of this.masks) {
      const v = this.variables.get(name)!;
      tf.tidy(() => v.assign(tf.mul(v, mask)));
    }
  }

  /** The initial tensors of the file (values as loaded), by name. */
  get initializers(): ReadonlyMap<string, OnnxTensor> {
    return this.weights.initializers;
  }

  /**
   * The `.onnx` file with the current weights: the loaded bytes with the values of every float
   * initializer replaced (`./onnx-tensors.ts`, {@link withInitializerValues}), all else as it was.
   */
  toOnnx(): Uint8Array {
    return withInitializerValues(this.bytes, this.initializerValues(), this.where);
  }

  /** A copy with its own variables (the same weights now), e.g. to fine-tune apart. */
  clone(): OnnxTfGraph {
    this.checkAlive();
    const copy = new OnnxTfGraph(this.bytes, this.proto, this.weights, this.inputName, this.where);
    for (const [name, v] of this.variables) copy.variables.get(name)!.assign(v);
    for (const [name, m] of this.masks) copy.masks.set(name, m.clone());
    return copy;
  }

  private checkAlive(): void {
    if (this.disposed) {
      throw new AntidoteError('INVALID_STATE', `${this.where}: the imported graph was disposed`);
    }
  }

  /** Frees the variables. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const v of this.variables.values()) v.dispose();
    this.variables.clear();
    for (const m of this.masks.values()) m.dispose();
    this.masks.clear();
    for (const t of this.pendingStatistics.values()) t.dispose();
    this.pendingStatistics.clear();
  }
}
