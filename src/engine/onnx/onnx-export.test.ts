import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Dataset } from '../../data/dataset.js';
import { Rng } from '../../util/rng.js';
import { initEngine } from '../backend.js';
import { loadModel } from '../model.js';
import { TfClassifier } from '../tf-classifier.js';
import type { ModelSpec } from '../zoo.js';
import { EXPORT_INPUT, exportLayersModel, exportUnsupported } from './onnx-export.js';

function records(n: number, shape: readonly number[], seed: number): Float32Array {
  const rng = new Rng(seed);
  const size = shape.reduce((a, b) => a * b, 1);
  return Float32Array.from({ length: n * size }, () => rng.next());
}

/** Largest difference, relative to max(1, |expected|). */
function worst(actual: Float32Array, expected: Float32Array): number {
  expect(actual.length).toBe(expected.length);
  let w = 0;
  for (let i = 0; i < actual.length; i++) {
    w = Math.max(w, Math.abs(actual[i]! - expected[i]!) / Math.max(1, Math.abs(expected[i]!)));
  }
  return w;
}

/** A classifier of `spec` on `shape` with seeded random weights (biases too, not just zeros). */
async function randomClassifier(
  spec: ModelSpec,
  shape: readonly number[],
  classes: number,
  seed: number,
): Promise<TfClassifier> {
  const names = Array.from({ length: classes }, (_, i) => `c${i}`);
  const c = await TfClassifier.create(spec, shape, names, seed);
  const rng = new Rng(seed + 100);
  for (const layer of c.model.layers) {
    const ws = layer.getWeights();
    if (ws.length === 2) {
      const bias = ws[1]!;
      const values = Float32Array.from({ length: bias.size }, () => rng.next() - 0.5);
      layer.setWeights([ws[0]!, tf.tensor(values, bias.shape)]);
    }
  }
  return c;
}

const CASES: ReadonlyArray<[string, ModelSpec, readonly number[]]> = [
  ['logistic on flat rows', { arch: 'logistic' }, [57]],
  ['logistic on images', { arch: 'logistic' }, [8, 8, 1]],
  ['mlp on flat rows, two hidden layers', { arch: 'mlp', hidden: [32, 16] }, [20]],
  ['mlp on 28×28×1', { arch: 'mlp' }, [28, 28, 1]],
  ['cnn on 28×28×1', { arch: 'cnn' }, [28, 28, 1]],
  ['cnn on 8×8×1 (one pool)', { arch: 'cnn' }, [8, 8, 1]],
  ['cnn on 32×32×3', { arch: 'cnn', filters: [8, 12], hidden: [24] }, [32, 32, 3]],
  ['cnn on odd 17×13×2', { arch: 'cnn', filters: [4, 6], hidden: [10] }, [17, 13, 2]],
];

describe('exportLayersModel: zoo models in ONNX Runtime', () => {
  beforeAll(async () => {
    await initEngine();
  });

  it.each(CASES)(
    '%s: every layer, probabilities and labels equal TF.js',
    async (_, spec, shape) => {
      const c = await randomClassifier(spec, shape, 4, 3);
      expect(exportUnsupported(c.model)).toBeUndefined();
      const n = 37;
      const x = records(n, shape, 5);
      for (const layer of c.layerNames) {
        const tfjs = await c.useInference('tfjs').activations(x, n, layer);
        const onnx = await c.useInference('onnx').activations(x, n, layer);
        expect(onnx.dim).toBe(tfjs.dim);
        expect(worst(onnx.data, tfjs.data), layer).toBeLessThan(1e-5);
      }
      const p = await c.useInference('tfjs').predictProba(x, n);
      const labels = await c.predict(x, n);
      expect(worst(await c.useInference('onnx').predictProba(x, n), p)).toBeLessThan(1e-5);
      expect([...(await c.predict(x, n))]).toEqual([...labels]);
      expect(await c.inferenceRuntime()).toBe('onnx');
      c.dispose();
    },
  );

  it('auto uses ONNX Runtime for the zoo, and follows the weights when the model trains', async () => {
    const shape = [8, 8, 1];
    const c = await randomClassifier({ arch: 'cnn' }, shape, 2, 9);
    expect(c.inference).toBe('auto');
    expect(await c.inferenceRuntime()).toBe('onnx');
    const n = 24;
    const x = records(n, shape, 1);
    const before = await c.activations(x, n);
    const ds: Dataset = {
      x,
      shape: [n, ...shape],
      y: Int32Array.from({ length: n }, (_, i) => i % 2),
      classes: ['a', 'b'],
      ids: Array.from({ length: n }, (_, i) => `r${i}`),
    };
    await c.fit(ds, { seed: 1, epochs: 2, batchSize: 8, learningRate: 0.05 });
    const after = await c.activations(x, n);
    expect(worst(after.data, before.data)).toBeGreaterThan(1e-3);
    const tfjs = await c.useInference('tfjs').activations(x, n);
    expect(worst(after.data, tfjs.data)).toBeLessThan(1e-5);
    c.dispose();
  });

  it('a layer the export does not write: auto falls back to TF.js, onnx refuses naming it', async () => {
    const model = tfl.sequential();
    model.add(tfl.layers.dense({ units: 6, inputShape: [5], name: 'hidden' }));
    model.add(tfl.layers.batchNormalization({ name: 'bn' }));
    model.add(tfl.layers.dense({ units: 3, name: 'logits' }));
    expect(exportUnsupported(model)).toMatch(/bn is a BatchNormalization/);
    expect(() => exportLayersModel(model)).toThrow(/BatchNormalization/);
    const dir = mkdtempSync(join(tmpdir(), 'antidote-export-'));
    try {
      const { saveLayersModel } = await import('../model-io.js');
      await saveLayersModel(model, join(dir, 'm'), {
        format: 'antidote-model',
        version: 1,
        spec: { arch: 'mlp' },
        inputShape: [5],
        classes: ['a', 'b', 'c'],
        training: [],
      });
      const c = await TfClassifier.load(join(dir, 'm'));
      const x = records(4, [5], 2);
      expect(await c.inferenceRuntime()).toBe('tfjs');
      expect((await c.predictProba(x, 4)).length).toBe(12);
      c.useInference('onnx');
      await expect(c.predictProba(x, 4)).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
        message: expect.stringMatching(/layer bn is a BatchNormalization/),
      });
      expect(() => c.useInference('gpu' as 'onnx')).toThrow(/unknown inference engine/);
      c.dispose();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the written file runs in a plain ONNX Runtime session and loads as an ONNX model', async () => {
    const shape = [28, 28, 1];
    const c = await randomClassifier({ arch: 'cnn' }, shape, 3, 4);
    const graph = exportLayersModel(c.model);
    expect(graph.output).toBe('logits');
    expect(graph.outputShape).toEqual([3]);
    const n = 5;
    const x = records(n, shape, 8);
    const session = await InferenceSession.create(graph.bytes);
    const result = await session.run({ [EXPORT_INPUT]: new Tensor('float32', x, [n, ...shape]) });
    const logits = await c.useInference('tfjs').activations(x, n, 'logits');
    expect(worst(result.logits!.data as Float32Array, logits.data)).toBeLessThan(1e-5);
    await session.release();
    // Through Antidote's ONNX adapter (issue 17): an NHWC input, every named layer readable.
    const dir = mkdtempSync(join(tmpdir(), 'antidote-export-'));
    try {
      const file = join(dir, 'model.onnx');
      writeFileSync(file, graph.bytes);
      const m = await loadModel(file);
      const proba = await c.predictProba(x, n);
      expect(worst(await m.classifier.predictProba(x, n), proba)).toBeLessThan(1e-5);
      const feats = await c.activations(x, n, 'features');
      const onnxFeats = await m.classifier.activations(x, n, 'features');
      expect(worst(onnxFeats.data, feats.data)).toBeLessThan(1e-5);
      // The ONNX default representation is the classifier head's input (onnx-representation.ts):
      // for the zoo cnn, its flattened convolution features.
      const flat = await c.activations(x, n, 'flatten');
      const onnxDefault = await m.classifier.activations(x, n);
      expect(worst(onnxDefault.data, flat.data)).toBeLessThan(1e-5);
      m.dispose();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    c.dispose();
  });

  it('strides, dilation, same pools on odd sizes, average pools and activation layers equal TF.js', async () => {
    const model = tfl.sequential();
    const shape = [11, 9, 2];
    const init = (seed: number) => tfl.initializers.glorotUniform({ seed });
    model.add(
      tfl.layers.conv2d({
        filters: 5,
        kernelSize: [3, 2],
        strides: 2,
        padding: 'same',
        activation: 'tanh',
        inputShape: shape,
        kernelInitializer: init(1),
        biasInitializer: 'ones',
        name: 'c1',
      }),
    );
    model.add(tfl.layers.maxPooling2d({ poolSize: 3, strides: 2, padding: 'same', name: 'p1' }));
    model.add(
      tfl.layers.conv2d({
        filters: 3,
        kernelSize: 2,
        dilationRate: 2,
        padding: 'same',
        useBias: false,
        kernelInitializer: init(2),
        name: 'c2',
      }),
    );
    model.add(tfl.layers.activation({ activation: 'elu', name: 'a1' }));
    model.add(tfl.layers.averagePooling2d({ poolSize: 2, padding: 'same', name: 'p2' }));
    model.add(tfl.layers.flatten({ name: 'f' }));
    model.add(tfl.layers.dropout({ rate: 0.5, name: 'd' }));
    model.add(
      tfl.layers.dense({ units: 4, activation: 'sigmoid', kernelInitializer: init(3), name: 'h' }),
    );
    model.add(
      tfl.layers.dense({
        units: 3,
        activation: 'softmax',
        kernelInitializer: init(4),
        name: 'out',
      }),
    );
    expect(exportUnsupported(model)).toBeUndefined();
    const n = 6;
    const x = records(n, shape, 3);
    for (const layer of model.layers) {
      const sub = tfl.model({ inputs: model.inputs, outputs: layer.output as tfl.SymbolicTensor });
      const expected = tf.tidy(() => sub.predict(tf.tensor(x, [n, ...shape])) as tf.Tensor);
      const want = expected.dataSync() as Float32Array;
      expected.dispose();
      const graph = exportLayersModel(model, { output: layer.name });
      expect(graph.outputShape).toEqual((layer.output as tfl.SymbolicTensor).shape.slice(1));
      const session = await InferenceSession.create(graph.bytes);
      const got = await session.run({ [EXPORT_INPUT]: new Tensor('float32', x, [n, ...shape]) });
      expect(worst(got[graph.output]!.data as Float32Array, want), layer.name).toBeLessThan(1e-5);
      await session.release();
    }
  });

  it('an intermediate layer as the output is in TF.js layout (HWC rows), named after the layer', async () => {
    const c = await randomClassifier({ arch: 'cnn' }, [8, 8, 2], 2, 6);
    const graph = exportLayersModel(c.model, { output: 'conv2' });
    expect(graph.output).toBe('conv2');
    expect(graph.outputShape).toEqual([4, 4, 32]);
    expect(() => exportLayersModel(c.model, { output: 'nope' })).toThrow(/no layer "nope"/);
    c.dispose();
  });

  it('alsoOutput: a flat layer as a second graph output beside the probabilities; not a convolution', async () => {
    const c = await randomClassifier({ arch: 'cnn' }, [8, 8, 2], 2, 7);
    const both = exportLayersModel(c.model, { softmax: true, alsoOutput: 'features' });
    const session = await InferenceSession.create(both.bytes);
    expect(session.outputNames).toEqual(['probabilities', 'features']);
    await session.release();
    expect(() => exportLayersModel(c.model, { softmax: true, alsoOutput: 'conv2' })).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
    expect(() => exportLayersModel(c.model, { alsoOutput: 'logits' })).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
    c.dispose();
  });
});
