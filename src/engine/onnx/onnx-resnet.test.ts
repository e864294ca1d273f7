import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Dataset } from '../../data/dataset.js';
import {
  argmaxRows,
  expectClose,
  imageRecords,
  type OnnxExpectations,
  readOnnxExpectations,
} from '../../testing/onnx-expect.js';
import { ONNX_FIXTURES } from '../../testing/onnx-fixtures.js';
import { rejects } from '../../testing/rejects.js';
import { loadModel } from '../model.js';
import { OnnxModel } from './onnx-model.js';

let expected: OnnxExpectations;
const DIGITS = Array.from({ length: 10 }, (_, k) => String(k));

beforeAll(async () => {
  expected = await readOnnxExpectations();
});

function resnetRecords(): Dataset {
  return imageRecords(expected.resnet, [32, 32, 3], DIGITS);
}

describe('the ResNet-style fixture (residual blocks, 3×32×32 NCHW)', () => {
  it('predicts as PyTorch does, with per-channel normalisation from the sidecar', async () => {
    const m = (await loadModel(join(ONNX_FIXTURES, 'resnet.onnx'))) as OnnxModel;
    expect(m).toBeInstanceOf(OnnxModel);
    expect(m.layout).toBe('nchw');
    expect(m.input).toEqual({ kind: 'tensor', shape: [32, 32, 3] });
    expect(m.classifier.inputShape).toEqual([3, 32, 32]);
    expect(m.normalization?.mean).toHaveLength(3);
    expect(m.preprocessing).toEqual({
      layout: 'nchw',
      layoutSource: 'model',
      normalization: m.normalization,
      normalizationSource: 'sidecar',
    });
    const ops = new Set(m.graph.nodes.map((n) => n.opType));
    for (const op of ['Conv', 'BatchNormalization', 'Relu', 'Add', 'GlobalAveragePool', 'Gemm']) {
      expect(ops.has(op), op).toBe(true);
    }
    const ds = resnetRecords();
    const n = ds.y.length;
    expectClose(await m.predictProba(ds), expected.resnet.probabilities, 1e-5);
    expect(Array.from(await m.predict(ds))).toEqual(
      argmaxRows(expected.resnet.probabilities, n, 10),
    );
    // The penultimate layer: the pooled features, input of the last Gemm (16 wide).
    const f = m.featurize(ds);
    expect(f.shape).toEqual([n, 3, 32, 32]);
    const acts = await m.classifier.activations(f.x, n);
    expect(acts.dim).toBe(16);
    expectClose(acts.data, expected.resnet.lastGemmInput, 1e-4, true);
    m.dispose();
  });

  it('names expected and given shapes for MNIST-shaped records', async () => {
    const m = await loadModel(join(ONNX_FIXTURES, 'resnet.onnx'));
    const mnist: Dataset = {
      x: new Float32Array(2 * 784),
      shape: [2, 28, 28, 1],
      y: Int32Array.of(0, 1),
      classes: DIGITS,
      ids: ['a', 'b'],
    };
    await rejects(
      m.predict(mnist),
      'SHAPE_MISMATCH',
      /reads records of shape \[32, 32, 3\] \(HWC; the model's NCHW input is \[N, 3, 32, 32\]\), the data has \[28, 28, 1\]/,
    );
    m.dispose();
  });
});
