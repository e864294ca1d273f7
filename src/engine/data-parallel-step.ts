/**
 * The part of a data-parallel step every participant runs identically (`data-parallel.ts`):
 * wait until all participants' gradients of the step are in shared memory, sum them in
 * participant order and apply the sum with the participant's own Adam. The sums and updates are
 * the same operations on the same values everywhere, so all replicas stay equal bit for bit and
 * no weights travel between steps.
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { AntidoteError } from '../errors.js';
import { kernelMemory } from './kernels/memory.js';
import { type NativeContext, nativeKernels } from './kernels/native.js';
import { leanGradients, leanPlan } from './lean-backprop.js';
import { crossEntropySum } from './loss.js';

/** Shared views a participant needs. */
export interface ExchangeViews {
  readonly participant: number;
  readonly participants: number;
  /** `[participant][parity][total]` Float32 gradients. */
  readonly allGrads: Float32Array;
  /** Int32 per participant: last step whose gradients are written. */
  readonly ready: Int32Array;
  /** Start of each variable in a flat gradient (length vars + 1). */
  readonly offsets: readonly number[];
}

/**
 * Splits `n` records into `parts` contiguous shards, the larger ones first: their sizes and
 * starts (`starts` has `parts + 1` entries, the last being `n`).
 */
export function contiguousShards(n: number, parts: number): { sizes: number[]; starts: number[] } {
  const base = Math.floor(n / parts);
  const sizes = Array.from({ length: parts }, (_, i) => base + (i < n % parts ? 1 : 0));
  const starts = [0];
  for (const q of sizes) starts.push(starts[starts.length - 1]! + q);
  return { sizes, starts };
}

/**
 * One participant's shard of a step: gradients of its loss sum scaled by `scale` (1 / batch
 * size), the scaled loss and the hits; by the lean passes (`lean-backprop.ts`) for the models
 * they cover, else by TF.js's autodiff. An empty shard contributes zero gradients. Call inside
 * `tf.tidy`; the gradients live until the tidy ends.
 */
export function shardGradients(
  model: tfl.LayersModel,
  vars: readonly tf.Variable[],
  x: Float32Array,
  y: Int32Array,
  m: number,
  inputShape: readonly number[],
  numClasses: number,
  scale: number,
): { grads: tf.NamedTensorMap; loss: number; hits: number } {
  if (m === 0) {
    return {
      grads: Object.fromEntries(vars.map((v) => [v.name, tf.zerosLike(v)])),
      loss: 0,
      hits: 0,
    };
  }
  const size = inputShape.reduce((a, b) => a * b, 1);
  const xb = tf.tensor(x.subarray(0, m * size), [m, ...inputShape]);
  const plan = leanPlan(model);
  if (plan) {
    const r = leanGradients(plan, xb, y.subarray(0, m), scale, { weights: true, input: false });
    const grads: tf.NamedTensorMap = {};
    plan.vars.forEach((v, i) => {
      grads[v.name] = (r.grads as tf.Tensor[])[i]!;
    });
    return { grads, loss: r.loss, hits: r.hits };
  }
  const yb = tf.tensor1d(y.subarray(0, m), 'int32');
  let logits: tf.Tensor2D | undefined;
  const { value, grads } = tf.variableGrads(() => {
    logits = tf.keep(model.apply(xb, { training: true }) as tf.Tensor2D);
    return tf.mul(crossEntropySum(logits, yb, numClasses), scale) as tf.Scalar;
  }, vars as tf.Variable[]);
  const hits = tf.sum(tf.cast(tf.equal(tf.argMax(logits as tf.Tensor2D, 1), yb), 'int32'));
  const result = { grads, loss: value.dataSync()[0]!, hits: hits.dataSync()[0]! };
  logits?.dispose();
  return result;
}

/** Offset of participant `p`'s gradients for `step` in `allGrads`. */
export function gradOffset(views: ExchangeViews, p: number, step: number): number {
  const total = views.offsets[views.offsets.length - 1]!;
  return (p * 2 + (step & 1)) * total;
}

/** Publishes this participant's gradients of `step` (values of `grads`, by variable order). */
export function publishGrads(
  views: ExchangeViews,
  vars: readonly tf.Variable[],
  grads: tf.NamedTensorMap,
  step: number,
): void {
  const base = gradOffset(views, views.participant, step);
  const mem = tensorMemory();
  vars.forEach((v, i) => {
    // Straight from tensor memory (nothing is allocated while the views are in use).
    views.allGrads.set(mem.view(grads[v.name]!), base + views.offsets[i]!);
  });
  Atomics.store(views.ready, views.participant, step);
  Atomics.notify(views.ready, views.participant);
}

/**
 * Blocks until every participant has published `step`. `alive()` is asked whenever a wait times
 * out (1 s); when it returns an error message, the wait fails with it.
 */
export function awaitAll(
  views: ExchangeViews,
  step: number,
  alive: () => string | undefined,
): void {
  for (let p = 0; p < views.participants; p++) {
    for (;;) {
      const seen = Atomics.load(views.ready, p);
      if (seen < 0) throw new AntidoteError('INVALID_STATE', `training participant ${p} failed`);
      // ≥, not ===: a fast participant may already have published step + 1 (into the other
      // parity's buffers; nobody can reach step + 2 before everyone has finished this step).
      if (seen >= step) break;
      if (Atomics.wait(views.ready, p, seen, 1000) === 'timed-out') {
        const problem = alive();
        if (problem) throw new AntidoteError('INVALID_STATE', problem);
      }
    }
  }
}

/**
 * Sums every participant's gradients of `step` in participant order (this participant's own
 * from `own`, the others' straight from shared memory) and applies the sum with `adam`.
 */
export function applySummed(
  views: ExchangeViews,
  adam: FusedAdam,
  vars: readonly tf.Variable[],
  own: tf.NamedTensorMap,
  step: number,
): void {
  const mem = tensorMemory();
  adam.apply(vars, (i) => {
    const sources: Float32Array[] = [];
    for (let p = 0; p < views.participants; p++) {
      if (p === views.participant) sources.push(mem.view(own[vars[i]!.name]!));
      else {
        const at = gradOffset(views, p, step) + views.offsets[i]!;
        sources.push(views.allGrads.subarray(at, at + vars[i]!.size));
      }
    }
    return sources;
  });
}

/** Applies this participant's own gradients `grads` (a single-participant step) with `adam`. */
export function applyOwn(
  adam: FusedAdam,
  vars: readonly tf.Variable[],
  grads: tf.NamedTensorMap,
): void {
  const mem = tensorMemory();
  adam.apply(vars, (i) => [mem.view(grads[vars[i]!.name]!)]);
}

/** Views of the active backend's tensor memory (see `kernels/memory.ts`). */
function tensorMemory() {
  return kernelMemory(tf.getBackend(), tf.backend());
}

/**
 * Adam (the same update as `tf.train.adam`, default β₁ 0.9, β₂ 0.999, ε 1e-7) as one pass per
 * variable instead of about a dozen kernels: on the wasm backend Antidote's SIMD kernel `adam`
 * (float32, the moments in the backend's heap), elsewhere a JavaScript loop (float64 arithmetic,
 * float32 moments). Every variable gets a freshly allocated value (`assign`), so clones of earlier
 * weights are never changed in place. The gradient of a variable may come in several parts
 * (data-parallel shards), summed in float32 in the order given. Deterministic: the same gradients
 * give the same weights, bit for bit, on the same backend.
 */
export class FusedAdam {
  private readonly m: Float32Array[] = [];
  private readonly v: Float32Array[] = [];
  private readonly scratch: Float32Array[] = [];
  /** Native state: per variable, heap offsets of m, v and a gradient buffer (float32 each). */
  private native: { ctx: NativeContext; at: number[] } | undefined;
  private beta1Power = 1;
  private beta2Power = 1;

  /** Adam with learning rate `learningRate`. */
  constructor(
    private readonly learningRate: number,
    private readonly beta1 = 0.9,
    private readonly beta2 = 0.999,
    private readonly epsilon = 1e-7,
  ) {}

  /**
   * One update of `vars`: `gradient(i)` returns the parts of variable `i`'s gradient (each of
   * `vars[i].size` values), summed in order. Views into tensor memory are fine: they are read
   * before anything is allocated for that variable.
   */
  apply(vars: readonly tf.Variable[], gradient: (i: number) => readonly Float32Array[]): void {
    this.beta1Power *= this.beta1;
    this.beta2Power *= this.beta2;
    const c1 = 1 / (1 - this.beta1Power);
    const c2 = 1 / (1 - this.beta2Power);
    const ctx = nativeKernels(tf.getBackend(), tf.backend());
    if (ctx && (!this.native || this.native.ctx === ctx))
      this.applyNative(ctx, vars, gradient, c1, c2);
    else this.applyJs(vars, gradient, c1, c2);
  }

  private applyNative(
    ctx: NativeContext,
    vars: readonly tf.Variable[],
    gradient: (i: number) => readonly Float32Array[],
    c1: number,
    c2: number,
  ): void {
    if (!this.native) {
      // m, v and a gradient buffer per variable, zeroed.
      const at = vars.map((v) => ctx.malloc(v.size * 12));
      at.forEach((p, i) => {
        ctx.heap().fill(0, p >>> 2, (p >>> 2) + vars[i]!.size * 3);
      });
      this.native = { ctx, at };
    }
    const { at } = this.native;
    vars.forEach((variable, i) => {
      const n = variable.size;
      const m = at[i]!;
      const v = m + n * 4;
      const g = v + n * 4;
      const out = ctx.output([...variable.shape]);
      const parts = gradient(i);
      const heap = ctx.heap();
      const first = parts[0]!;
      // A single part already in the heap (the trainer's own gradient tensor) is read in place.
      const inPlace = parts.length === 1 && first.buffer === heap.buffer;
      if (!inPlace) heap.set(first, g >>> 2);
      for (let p = 1; p < parts.length; p++) {
        // The part goes to the output buffer first (overwritten by the update below).
        ctx.heap().set(parts[p]!, ctx.ptr(out) >>> 2);
        ctx.k.add_into(g, ctx.ptr(out), n);
      }
      const { beta1, beta2, epsilon, learningRate } = this;
      ctx.k.adam(
        inPlace ? first.byteOffset : g,
        ctx.ptr(variable),
        m,
        v,
        ctx.ptr(out),
        n,
        beta1,
        beta2,
        c1,
        c2,
        learningRate,
        epsilon,
      );
      const next = tf.engine().makeTensorFromTensorInfo(out);
      variable.assign(next);
      next.dispose();
    });
  }

  private applyJs(
    vars: readonly tf.Variable[],
    gradient: (i: number) => readonly Float32Array[],
    c1: number,
    c2: number,
  ): void {
    const { beta1, beta2, epsilon } = this;
    const b1c = 1 - beta1;
    const b2c = 1 - beta2;
    const lr = this.learningRate;
    const mem = tensorMemory();
    vars.forEach((variable, i) => {
      const n = variable.size;
      if (!this.m[i]) {
        this.m[i] = new Float32Array(n);
        this.v[i] = new Float32Array(n);
        this.scratch[i] = new Float32Array(n);
      }
      const m = this.m[i];
      const v = this.v[i]!;
      const out = this.scratch[i]!;
      const parts = gradient(i);
      const w = mem.view(variable);
      const g0 = parts[0]!;
      for (let j = 0; j < n; j++) {
        // Float32 sums in part order, as the tensors' adds would give.
        let g = g0[j]!;
        for (let p = 1; p < parts.length; p++) g = Math.fround(g + parts[p]![j]!);
        const mj = beta1 * m[j]! + b1c * g;
        const vj = beta2 * v[j]! + b2c * g * g;
        m[j] = mj;
        v[j] = vj;
        out[j] = w[j]! - (lr * mj * c1) / (Math.sqrt(vj * c2) + epsilon);
      }
      const next = tf.tensor(out, variable.shape, 'float32');
      variable.assign(next);
      next.dispose();
    });
  }

  /** Frees the optimizer's state (call once training is over). */
  dispose(): void {
    if (this.native) for (const p of this.native.at) this.native.ctx.free(p);
    this.native = undefined;
    this.m.length = 0;
    this.v.length = 0;
    this.scratch.length = 0;
  }
}
