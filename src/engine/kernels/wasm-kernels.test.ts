import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { maxRelativeError, oursAndReference, randomTensor } from '../../testing/kernel-check.js';
import { initEngine } from '../backend.js';

/** Gradient of Σ f(x) ⊙ w w.r.t. x, read out. */
function gradOf(f: (x: tf.Tensor) => tf.Tensor, x: tf.Tensor, w: tf.Tensor): Float32Array {
  const g = tf.grad((z: tf.Tensor) => tf.sum(tf.mul(f(z), w)))(x);
  const out = g.dataSync() as Float32Array;
  g.dispose();
  return out;
}

describe("Antidote's wasm kernels match TF.js's cpu kernels", () => {
  beforeAll(async () => {
    await initEngine({ backend: 'wasm' });
  });

  const convCases: Array<{
    x: [number, number, number, number];
    k: [number, number];
    co: number;
    pad: 'same' | 'valid';
  }> = [
    { x: [2, 9, 9, 3], k: [3, 3], co: 4, pad: 'same' },
    { x: [2, 9, 7, 3], k: [3, 3], co: 4, pad: 'valid' },
    { x: [3, 14, 14, 16], k: [3, 3], co: 32, pad: 'same' },
    { x: [1, 8, 11, 2], k: [5, 2], co: 3, pad: 'same' },
    { x: [1, 8, 11, 2], k: [4, 4], co: 3, pad: 'same' },
    { x: [2, 6, 6, 1], k: [2, 3], co: 2, pad: 'valid' },
    // MNIST's first convolution: the few-channel (native dot-product) input-gradient path.
    { x: [2, 28, 28, 1], k: [3, 3], co: 16, pad: 'same' },
    { x: [2, 10, 9, 4], k: [3, 2], co: 5, pad: 'valid' },
  ];
  for (const [i, c] of convCases.entries()) {
    for (const stride of [1, 2] as const) {
      it(`Conv2DBackpropInput x=[${c.x}] k=${c.k.join('x')} ${c.pad} stride ${stride}`, async () => {
        const { ours, reference } = await oursAndReference(
          'Conv2DBackpropInput',
          'wasm',
          i,
          (rng) =>
            tf.tidy(() => {
              const x = randomTensor(c.x, rng);
              const f = randomTensor([c.k[0], c.k[1], c.x[3], c.co], rng);
              const conv = (z: tf.Tensor) =>
                tf.conv2d(z as tf.Tensor4D, f as tf.Tensor4D, stride, c.pad);
              const w = randomTensor(conv(x).shape, rng);
              return gradOf(conv, x, w);
            }),
        );
        expect(ours.length).toBe(c.x.reduce((a, b) => a * b, 1));
        expect(maxRelativeError(ours, reference)).toBeLessThan(1e-4);
      });
    }
  }

  const mmCases: Array<[number[], number[], boolean, boolean]> = [
    [[7, 5], [5, 3], false, false],
    [[5, 7], [5, 3], true, false],
    [[7, 5], [3, 5], false, true],
    [[5, 7], [3, 5], true, true],
    [[2, 6, 4], [2, 6, 3], true, false],
    [[64, 1568], [64, 128], true, false],
  ];
  for (const [i, [sa, sb, ta, tb]] of mmCases.entries()) {
    it(`BatchMatMul a=[${sa}]${ta ? 'ᵀ' : ''} b=[${sb}]${tb ? 'ᵀ' : ''}`, async () => {
      const { ours, reference } = await oursAndReference('BatchMatMul', 'wasm', 100 + i, (rng) =>
        tf.tidy(() => {
          const r = tf.matMul(randomTensor(sa, rng), randomTensor(sb, rng), ta, tb);
          return r.dataSync() as Float32Array;
        }),
      );
      expect(maxRelativeError(ours, reference)).toBeLessThan(1e-5);
    });
  }

  const poolCases: Array<{
    x: [number, number, number, number];
    size: number;
    stride: number;
    pad: 'same' | 'valid';
  }> = [
    { x: [2, 8, 8, 3], size: 2, stride: 2, pad: 'valid' },
    { x: [2, 28, 28, 16], size: 2, stride: 2, pad: 'valid' },
    { x: [1, 9, 9, 2], size: 3, stride: 3, pad: 'valid' },
    { x: [1, 7, 8, 2], size: 2, stride: 2, pad: 'valid' },
    { x: [1, 8, 8, 2], size: 3, stride: 2, pad: 'same' },
    { x: [2, 8, 10, 4], size: 2, stride: 2, pad: 'same' },
    { x: [1, 9, 11, 3], size: 3, stride: 3, pad: 'valid' },
    { x: [2, 9, 9, 3], size: 3, stride: 2, pad: 'same' },
    { x: [1, 7, 7, 2], size: 2, stride: 1, pad: 'valid' },
  ];
  for (const [i, c] of poolCases.entries()) {
    it(`MaxPoolGrad x=[${c.x}] size ${c.size} stride ${c.stride} ${c.pad}`, async () => {
      const { ours, reference } = await oursAndReference('MaxPoolGrad', 'wasm', 200 + i, (rng) =>
        tf.tidy(() => {
          const x = randomTensor(c.x, rng);
          const pool = (z: tf.Tensor) => tf.maxPool(z as tf.Tensor4D, c.size, c.stride, c.pad);
          return gradOf(pool, x, randomTensor(pool(x).shape, rng));
        }),
      );
      expect(maxRelativeError(ours, reference)).toBeLessThan(1e-6);
    });
  }

  const sumCases: Array<[number[], number[], boolean]> = [
    [[64, 14, 14, 32], [0, 1, 2], false],
    [[5, 7], [0], false],
    [[5, 7], [0], true],
    [[2, 3, 4], [0, 1], true],
    [[2, 3, 4], [1, 2], false],
    [[2, 3, 4], [0, 2], false],
    [[6], [0], false],
  ];
  for (const [i, [shape, axes, keepDims]] of sumCases.entries()) {
    it(`Sum x=[${shape}] axes [${axes}]${keepDims ? ' keepDims' : ''}`, async () => {
      const { ours, reference } = await oursAndReference('Sum', 'wasm', 300 + i, (rng) =>
        tf.tidy(() => {
          const r = tf.sum(randomTensor(shape, rng), axes, keepDims);
          return r.dataSync() as Float32Array;
        }),
      );
      expect(maxRelativeError(ours, reference)).toBeLessThan(1e-5);
    });
  }

  it('MaxPoolGrad sends a tied window gradient to its first maximum, like TensorFlow', async () => {
    const { ours, reference } = await oursAndReference('MaxPoolGrad', 'wasm', 0, () =>
      tf.tidy(() => {
        const x = tf.tensor4d([0, 0, 0, 0, 1, 3, 3, 1, 2, 2, 2, 2, 0, 5, 5, 0], [1, 4, 4, 1]);
        return gradOf(
          (z) => tf.maxPool(z as tf.Tensor4D, 2, 2, 'valid'),
          x,
          tf.tensor4d([1, 2, 3, 4], [1, 2, 2, 1]),
        );
      }),
    );
    expect(Array.from(ours)).toEqual(Array.from(reference));
  });
});
