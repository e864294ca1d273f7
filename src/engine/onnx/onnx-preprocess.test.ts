import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Dataset } from '../../data/dataset.js';
import { ONNX_FIXTURES } from '../../testing/onnx-fixtures.js';
import { rejects } from '../../testing/rejects.js';
import { loadModel } from '../model.js';
import type { OnnxModel } from './onnx-model.js';
import { hasOnnxOptions, resolveLayout, resolveNormalization } from './onnx-preprocess.js';

/** One 2×2 RGB record, HWC, value (h, w, c) = (10·h + 5·w + c + 1) / 100. */
function rgbRecord(): Dataset {
  const x = Float32Array.from({ length: 12 }, (_, j) => {
    const pixel = Math.floor(j / 3);
    return (10 * Math.floor(pixel / 2) + 5 * (pixel % 2) + (j % 3) + 1) / 100;
  });
  return { x, shape: [1, 2, 2, 3], y: Int32Array.of(0), classes: ['a'], ids: ['r'] };
}

describe('resolveNormalization', () => {
  const sidecar = { scale: 255, mean: [10, 20, 30], std: [2, 4, 8] };

  it('takes the sidecar, replaces the fields the options set, and says where they came from', () => {
    expect(resolveNormalization(undefined, undefined, 3, 'm')).toEqual({
      normalization: null,
      source: 'none',
    });
    expect(resolveNormalization(sidecar, {}, 3, 'm')).toEqual({
      normalization: sidecar,
      source: 'sidecar',
    });
    expect(resolveNormalization(sidecar, { std: [1] }, 3, 'm')).toEqual({
      normalization: { scale: 255, mean: [10, 20, 30], std: [1] },
      source: 'sidecar+options',
    });
    expect(resolveNormalization(undefined, { mean: [0.5] }, 1, 'm')).toEqual({
      normalization: { scale: 1, mean: [0.5], std: [1] },
      source: 'options',
    });
  });

  it('refuses values that do not fit the model', () => {
    expect(() => resolveNormalization(undefined, { mean: [1, 2] }, 3, 'm.onnx')).toThrow(
      /mean has 2 values; the model has 3 channel\(s\): give 1 or 3 \(m\.onnx\)/,
    );
    expect(() => resolveNormalization(undefined, { std: [0] }, 1, 'm')).toThrow(/std values/);
    expect(() => resolveNormalization(undefined, { scale: -1 }, 1, 'm')).toThrow(/scale must/);
  });
});

describe('resolveLayout', () => {
  it('keeps the detected layout unless told, and only images take one', () => {
    expect(resolveLayout([3, 32, 32], 'nchw', undefined, 'm')).toEqual({
      layout: 'nchw',
      source: 'model',
    });
    expect(resolveLayout([3, 32, 32], 'nchw', 'nhwc', 'm')).toEqual({
      layout: 'nhwc',
      source: 'options',
    });
    expect(() => resolveLayout([784], 'flat', 'nchw', 'mlp.onnx')).toThrow(
      /layout nchw needs an image input .*mlp\.onnx reads \[N, 784\]/,
    );
    expect(hasOnnxOptions({})).toBe(false);
    expect(hasOnnxOptions({ scale: 1 })).toBe(true);
  });
});

describe('loadModel with ONNX options', () => {
  it('normalises with the options over the sidecar (probe models show what they receive)', async () => {
    const m = (await loadModel(join(ONNX_FIXTURES, 'probe-nhwc.onnx'), {
      onnx: { mean: [0], std: [1, 2, 4] },
    })) as OnnxModel;
    expect(m.preprocessing).toEqual({
      layout: 'nhwc',
      layoutSource: 'model',
      normalization: { scale: 255, mean: [0], std: [1, 2, 4] },
      normalizationSource: 'sidecar+options',
    });
    const ds = rgbRecord();
    const f = m.featurize(ds);
    const want = Array.from(ds.x, (v, j) => (v * 255) / [1, 2, 4][j % 3]!);
    f.x.forEach((v, j) => {
      expect(v).toBeCloseTo(want[j]!, 4);
    });
    const seen = await m.classifier.activations(f.x, 1, 'output');
    expect(Array.from(seen.data)).toEqual(Array.from(f.x));
    m.dispose();
  });

  it('reads the input in the layout it is told, and names the shape it then expects', async () => {
    const m = (await loadModel(join(ONNX_FIXTURES, 'cnn.onnx'), {
      onnx: { layout: 'nhwc' },
    })) as OnnxModel;
    expect(m.layout).toBe('nhwc');
    expect(m.preprocessing.layoutSource).toBe('options');
    expect(m.input).toEqual({ kind: 'tensor', shape: [1, 28, 28] });
    const mnist: Dataset = {
      x: new Float32Array(784),
      shape: [1, 28, 28, 1],
      y: Int32Array.of(0),
      classes: ['0'],
      ids: ['a'],
    };
    expect(() => m.featurize(mnist)).toThrow(
      /reads records of shape \[1, 28, 28\], the data has \[28, 28, 1\]/,
    );
    m.dispose();
    await rejects(
      loadModel(join(ONNX_FIXTURES, 'mlp.onnx'), { onnx: { layout: 'nchw' } }),
      'INVALID_ARGUMENT',
      /layout nchw needs an image input/,
    );
    await rejects(
      loadModel(join(ONNX_FIXTURES, 'cnn.onnx'), { onnx: { mean: [0.1, 0.2, 0.3] } }),
      'INVALID_ARGUMENT',
      /mean has 3 values; the model has 1 channel/,
    );
    await rejects(
      loadModel('some-model-dir', { onnx: { scale: 255 } }),
      'INVALID_ARGUMENT',
      /apply to ONNX models \(\.onnx files\); some-model-dir is not one/,
    );
  });
});
