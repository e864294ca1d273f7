import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { buildOnnx, type OnnxModelSpec } from '../../testing/onnx-build.js';
import { Rng } from '../../util/rng.js';
import { decodeOnnx } from './onnx-proto.js';
import { OnnxTfGraph } from './onnx-tf-graph.js';

const rng = new Rng(29);

function normals(n: number, mean = 0, sd = 1): number[] {
  return Array.from({ length: n }, () => rng.normal(mean, sd));
}

async function importSpec(spec: OnnxModelSpec): Promise<OnnxTfGraph> {
  const bytes = buildOnnx(spec);
  return OnnxTfGraph.import(bytes, decodeOnnx(bytes, 'bn.onnx'), 'bn.onnx');
}

/** `[N, 3]` records through one BatchNormalization (momentum 0.7, epsilon 1e-3), as logits. */
function flatBatchNorm(): OnnxModelSpec {
  return {
    input: { name: 'input', shape: ['n', 3] },
    outputs: [{ name: 'output', shape: ['n', 3] }],
    nodes: [
      {
        op: 'BatchNormalization',
        name: 'bn',
        inputs: ['input', 'gamma', 'beta', 'mean', 'var'],
        outputs: ['output'],
        attrs: { momentum: { float: 0.7 }, epsilon: { float: 1e-3 } },
      },
    ],
    initializers: [
      { name: 'gamma', dims: [3], values: [1.5, 0.5, 2] },
      { name: 'beta', dims: [3], values: [0.1, -0.2, 0.3] },
      { name: 'mean', dims: [3], values: [1, -1, 0.5] },
      { name: 'var', dims: [3], values: [4, 0.25, 1] },
    ],
  };
}

/** Per-column mean and (biased or unbiased) variance of an `[n, c]` row-major matrix. */
function columnStats(x: readonly number[], c: number, unbiased: boolean) {
  const n = x.length / c;
  const mean = Array.from({ length: c }, (_, j) => {
    let s = 0;
    for (let i = 0; i < n; i++) s += x[i * c + j]!;
    return s / n;
  });
  const variance = mean.map((m, j) => {
    let s = 0;
    for (let i = 0; i < n; i++) s += (x[i * c + j]! - m) ** 2;
    return s / (unbiased ? n - 1 : n);
  });
  return { mean, variance };
}

function expectClose(got: ArrayLike<number>, want: readonly number[], tol: number): void {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    expect(Math.abs(got[i]! - want[i]!), `index ${i}: ${got[i]} vs ${want[i]}`).toBeLessThan(tol);
  }
}

describe('BatchNormalization in training mode', () => {
  it('normalises by the batch statistics and moves the running ones by the ONNX momentum', async () => {
    const g = await importSpec(flatBatchNorm());
    const x = normals(6 * 3, 2, 3);
    const { mean, variance } = columnStats(x, 3, false);
    const unbiased = columnStats(x, 3, true).variance;
    const gamma = [1.5, 0.5, 2];
    const beta = [0.1, -0.2, 0.3];
    const want = x.map((v, i) => {
      const j = i % 3;
      return ((v - mean[j]!) / Math.sqrt(variance[j]! + 1e-3)) * gamma[j]! + beta[j]!;
    });
    const y = tf.tidy(() =>
      g.run(tf.tensor(x, [6, 3]), 'output', { batchNorm: 'train' }).dataSync(),
    );
    expectClose(y, want, 1e-5);
    // Nothing changes until the update, which applies once.
    expect(Array.from(g.variable('mean')!.dataSync())).toEqual([1, -1, 0.5]);
    expect(g.updateRunningStatistics()).toBe(2);
    expect(g.updateRunningStatistics()).toBe(0);
    // ONNX: running · momentum + batch · (1 − momentum); the unbiased variance goes in.
    expectClose(
      g.variable('mean')!.dataSync(),
      [1, -1, 0.5].map((r, j) => r * 0.7 + mean[j]! * 0.3),
      1e-5,
    );
    expectClose(
      g.variable('var')!.dataSync(),
      [4, 0.25, 1].map((r, j) => r * 0.7 + unbiased[j]! * 0.3),
      1e-5,
    );
    // The running statistics are not trained: only the scale and shift are.
    expect(g.trainable.map((v) => v.size)).toEqual([3, 3]);
    g.dispose();
  });

  it('sends gradients through the batch statistics', async () => {
    const g = await importSpec(flatBatchNorm());
    const x = tf.tensor(normals(5 * 3), [5, 3]);
    // The batch-normalised columns always sum to N·β: their sum does not depend on x at all.
    const sum = (mode: 'train' | 'frozen') =>
      tf.tidy(() =>
        tf
          .grad((v: tf.Tensor) => tf.sum(g.run(v, 'output', { batchNorm: mode })))(x)
          .dataSync(),
      );
    expectClose(sum('train'), new Array(15).fill(0), 1e-5);
    // Frozen: the running statistics, a fixed affine map γ/√(σ² + ε) per column.
    const slope = [1.5 / Math.sqrt(4.001), 0.5 / Math.sqrt(0.251), 2 / Math.sqrt(1.001)];
    expectClose(
      sum('frozen'),
      Array.from({ length: 15 }, (_, i) => slope[i % 3]!),
      1e-5,
    );
    expect(g.updateRunningStatistics()).toBe(2);
    x.dispose();
    g.dispose();
  });

  it('has the gradients of autodiff through the batch statistics (x, scale and shift)', async () => {
    const g = await importSpec(flatBatchNorm());
    const x = tf.tensor(normals(7 * 3, 1, 2), [7, 3]);
    const w = tf.tensor(normals(7 * 3), [7, 3]);
    const gamma = g.variable('gamma')!;
    const beta = g.variable('beta')!;
    const loss = (y: tf.Tensor) => tf.sum(tf.mul(tf.square(y), w)) as tf.Scalar;
    const got = tf.tidy(() => {
      const dx = tf.grad((v: tf.Tensor) => loss(g.run(v, 'output', { batchNorm: 'train' })))(x);
      const { grads } = tf.variableGrads(
        () => loss(g.run(x, 'output', { batchNorm: 'train' })),
        [gamma, beta],
      );
      return [dx, grads[gamma.name]!, grads[beta.name]!].map((t) => Array.from(t.dataSync()));
    });
    // The same function written with TF.js ops, differentiated by TF.js.
    const want = tf.tidy(() =>
      tf
        .grads((v: tf.Tensor, s: tf.Tensor, b: tf.Tensor) => {
          const { mean, variance } = tf.moments(v, [0]);
          return loss(
            tf.add(tf.mul(tf.div(tf.sub(v, mean), tf.sqrt(tf.add(variance, 1e-3))), s), b),
          );
        })([x, gamma, beta])
        .map((t) => Array.from(t.dataSync())),
    );
    for (let i = 0; i < 3; i++) {
      const scale = Math.max(...want[i]!.map(Math.abs));
      expect(scale).toBeGreaterThan(1e-2);
      expectClose(got[i]!, want[i]!, 1e-5 * scale);
    }
    g.updateRunningStatistics();
    tf.dispose([x, w]);
    g.dispose();
  });

  it('normalises a single record by the running statistics and records nothing', async () => {
    const g = await importSpec(flatBatchNorm());
    const x = tf.tensor([[3, 0, -1]]);
    const train = tf.tidy(() => g.run(x, 'output', { batchNorm: 'train' }).dataSync());
    const frozen = tf.tidy(() => g.run(x, 'output').dataSync());
    expect(Array.from(train)).toEqual(Array.from(frozen));
    expect(g.updateRunningStatistics()).toBe(0);
    x.dispose();
    g.dispose();
  });

  it('does not fold a convolution into the batch norm after it; inference stays folded and unchanged', async () => {
    const spec: OnnxModelSpec = {
      input: { name: 'input', shape: ['n', 2, 5, 5] },
      outputs: [{ name: 'output', shape: ['n', 3 * 25] }],
      nodes: [
        { op: 'Conv', inputs: ['input', 'w', 'b'], outputs: ['c'], attrs: { pads: [1, 1, 1, 1] } },
        {
          op: 'BatchNormalization',
          name: 'bn',
          inputs: ['c', 'gamma', 'beta', 'mean', 'var'],
          outputs: ['z'],
        },
        { op: 'Flatten', inputs: ['z'], outputs: ['output'], attrs: { axis: 1 } },
      ],
      initializers: [
        { name: 'w', dims: [3, 2, 3, 3], values: normals(54, 0, 0.5) },
        { name: 'b', dims: [3], values: [0.5, -0.5, 1] },
        { name: 'gamma', dims: [3], values: [1, 2, 0.5] },
        { name: 'beta', dims: [3], values: [0, 1, -1] },
        { name: 'mean', dims: [3], values: [0.2, 0.1, -0.3] },
        { name: 'var', dims: [3], values: [1.5, 0.8, 2] },
      ],
    };
    const g = await importSpec(spec);
    const x = tf.tensor(normals(4 * 2 * 25), [4, 2, 5, 5]);
    const before = tf.tidy(() => g.run(x, 'output').dataSync());
    // Per channel over N·H·W: the output's mean is β and its (biased) variance γ²·σ²/(σ² + ε).
    const y = tf.tidy(() => g.run(x, 'output', { batchNorm: 'train' }).dataSync());
    const conv = tf.tidy(() => g.run(x, 'c').dataSync());
    for (let ch = 0; ch < 3; ch++) {
      const pick = (t: ArrayLike<number>) =>
        Array.from({ length: 100 }, (_, i) => t[Math.floor(i / 25) * 75 + ch * 25 + (i % 25)]!);
      const s = columnStats(pick(y), 1, false);
      const c = columnStats(pick(conv), 1, false).variance[0]!;
      const gamma = [1, 2, 0.5][ch]!;
      expect(Math.abs(s.mean[0]! - [0, 1, -1][ch]!)).toBeLessThan(1e-5);
      expect(Math.abs(s.variance[0]! - (gamma ** 2 * c) / (c + 1e-5))).toBeLessThan(1e-4);
    }
    // Inference: bit for bit what it was before the training-mode run (nothing applied yet).
    expect(Array.from(tf.tidy(() => g.run(x, 'output').dataSync()))).toEqual(Array.from(before));
    expect(g.updateRunningStatistics()).toBe(2);
    const after = tf.tidy(() => g.run(x, 'output').dataSync());
    expect(Array.from(after)).not.toEqual(Array.from(before));
    x.dispose();
    g.dispose();
  });
});
