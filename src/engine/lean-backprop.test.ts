import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { maxRelativeError, randomTensor } from '../testing/kernel-check.js';
import { Rng } from '../util/rng.js';
import { initEngine } from './backend.js';
import { leanGradients, leanPlan } from './lean-backprop.js';
import { crossEntropySum } from './loss.js';
import { buildModel, type ModelSpec } from './zoo.js';

const cases: Array<{ spec: ModelSpec; shape: number[] }> = [
  { spec: { arch: 'mlp', hidden: [32, 16] }, shape: [28, 28, 1] },
  { spec: { arch: 'mlp', hidden: [24] }, shape: [20] },
  { spec: { arch: 'logistic' }, shape: [6, 5, 2] },
  { spec: { arch: 'cnn', filters: [4, 8], hidden: [16] }, shape: [28, 28, 1] },
  { spec: { arch: 'cnn', filters: [3, 5], hidden: [7] }, shape: [8, 8, 1] },
  { spec: { arch: 'cnn', filters: [8, 4], hidden: [12] }, shape: [16, 12, 3] },
];

describe('lean forward/backward passes match TF.js autodiff', () => {
  beforeAll(async () => {
    await initEngine({ backend: 'wasm' });
  });

  for (const backend of ['wasm', 'cpu']) {
    for (const [i, { spec, shape }] of cases.entries()) {
      it(`${backend}: ${JSON.stringify(spec)} on [${shape}]`, async () => {
        await tf.setBackend(backend);
        const classes = 5;
        const model = buildModel(spec, shape, classes, 3 + i);
        const plan = leanPlan(model);
        expect(plan).toBeDefined();
        const rng = new Rng(10 + i);
        const m = 7;
        const y = Int32Array.from({ length: m }, () => rng.int(classes));
        const scale = 1 / m;
        tf.tidy(() => {
          // Large enough inputs that the ReLUs are partly active.
          const x = tf.mul(randomTensor([m, ...shape], rng), 3);
          const yb = tf.tensor1d(y, 'int32');
          const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
          const loss = (input: tf.Tensor) =>
            tf.mul(
              crossEntropySum(model.apply(input, { training: true }) as tf.Tensor2D, yb, classes),
              scale,
            ) as tf.Scalar;
          const ref = tf.variableGrads(() => loss(x), vars);
          const refDx = tf.grad(loss)(x);
          const ours = leanGradients(plan!, x, y, scale, { weights: true, input: true });
          expect(Math.abs(ours.loss - ref.value.dataSync()[0]!)).toBeLessThan(1e-5);
          vars.forEach((v, k) => {
            const err = maxRelativeError(
              ours.grads![k]!.dataSync() as Float32Array,
              ref.grads[v.name]!.dataSync() as Float32Array,
            );
            expect(err, v.name).toBeLessThan(1e-4);
          });
          expect(
            maxRelativeError(ours.dx!.dataSync() as Float32Array, refDx.dataSync() as Float32Array),
          ).toBeLessThan(1e-4);
        });
        model.dispose();
        await tf.setBackend('wasm');
      });
    }
  }
});
