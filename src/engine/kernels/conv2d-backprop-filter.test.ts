import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { Rng } from '../../util/rng.js';
import { initEngine } from '../backend.js';
import { withOriginalKernel } from './register.js';

interface Case {
  x: [number, number, number, number];
  k: [number, number];
  co: number;
  stride: 1 | 2;
  pad: 'valid' | 'same';
}

const cases: Case[] = [];
for (const pad of ['valid', 'same'] as const) {
  for (const stride of [1, 2] as const) {
    cases.push({ x: [3, 9, 9, 2], k: [3, 3], co: 4, stride, pad });
    cases.push({ x: [2, 11, 8, 3], k: [5, 2], co: 3, stride, pad });
    cases.push({ x: [4, 28, 28, 1], k: [3, 3], co: 8, stride, pad });
    cases.push({ x: [1, 7, 6, 5], k: [4, 3], co: 2, stride, pad });
  }
}

function randomTensor(shape: number[], rng: Rng): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(
    Float32Array.from({ length: n }, () => rng.normal()),
    shape,
  );
}

/** d/dfilter of Σ conv2d(x, f) ⊙ w — exercises Conv2DBackpropFilter with dy = w. */
function filterGradient(c: Case, rng: Rng): Float32Array {
  return tf.tidy(() => {
    const x = randomTensor(c.x, rng);
    const f = randomTensor([c.k[0], c.k[1], c.x[3], c.co], rng);
    const outShape = tf.conv2d(x as tf.Tensor4D, f as tf.Tensor4D, c.stride, c.pad).shape;
    const w = randomTensor(outShape, rng);
    const g = tf.grad((ff: tf.Tensor) =>
      tf.sum(tf.mul(tf.conv2d(x as tf.Tensor4D, ff as tf.Tensor4D, c.stride, c.pad), w)),
    );
    return g(f).dataSync() as Float32Array;
  });
}

function maxRelativeError(a: Float32Array, b: Float32Array): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num = Math.max(num, Math.abs(a[i]! - b[i]!));
    den = Math.max(den, Math.abs(b[i]!));
  }
  return num / Math.max(den, 1e-12);
}

describe('Conv2DBackpropFilter kernel', () => {
  beforeAll(async () => {
    await initEngine({ backend: 'cpu' });
  });

  for (const [i, c] of cases.entries()) {
    const name = `x=[${c.x}] k=${c.k.join('x')} co=${c.co} stride=${c.stride} ${c.pad}`;
    it(`matches the cpu reference on both backends: ${name}`, async () => {
      await tf.setBackend('cpu');
      const reference = await withOriginalKernel('Conv2DBackpropFilter', 'cpu', () =>
        filterGradient(c, new Rng(i)),
      );
      const onCpu = filterGradient(c, new Rng(i));
      await tf.setBackend('wasm');
      const onWasm = filterGradient(c, new Rng(i));
      await tf.setBackend('cpu');
      expect(onCpu.length).toBe(c.k[0] * c.k[1] * c.x[3] * c.co);
      expect(maxRelativeError(onCpu, reference)).toBeLessThan(1e-4);
      expect(maxRelativeError(onWasm, reference)).toBeLessThan(1e-4);
    });
  }
});
