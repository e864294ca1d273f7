import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Dataset } from '../../data/dataset.js';
import { withheldRecords } from '../../data/withheld-records.js';
import {
  argmaxRows as argmax,
  expectClose,
  type ImageExpectations,
} from '../../testing/onnx-expect.js';
import { rejects } from '../../testing/rejects.js';
import { Rng } from '../../util/rng.js';
import { loadModel } from '../model.js';
import { OnnxModel } from './onnx-model.js';

const FIXTURES = join(import.meta.dirname, 'fixtures');

/** What scripts/make-onnx-fixtures.py recorded with PyTorch for one model. */
type Expected = ImageExpectations;

let expected: { mlp: Expected; cnn: Expected };
let root: string;

beforeAll(async () => {
  expected = JSON.parse(await readFile(join(FIXTURES, 'expectations.json'), 'utf8'));
  root = await mkdtemp(join(tmpdir(), 'antidote-onnx-'));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** The recorded MNIST test images as an Antidote dataset (HWC, [0, 1]). */
function records(e: Expected, shape: readonly number[] = [28, 28, 1]): Dataset {
  const n = e.pixels.length;
  const x = new Float32Array(n * 784);
  e.pixels.forEach((row, i) => {
    row.forEach((v, j) => {
      x[i * 784 + j] = v / 255;
    });
  });
  return {
    x,
    shape: [n, ...shape],
    y: Int32Array.from(e.labels),
    classes: Array.from({ length: 10 }, (_, k) => String(k)),
    ids: e.pixels.map((_, i) => `t${i}`),
  };
}

describe('OnnxModel on the PyTorch fixtures', () => {
  it('predicts the MLP (final Softmax, flat input) as PyTorch does', async () => {
    const model = await loadModel(join(FIXTURES, 'mlp.onnx'));
    expect(model).toBeInstanceOf(OnnxModel);
    const m = model as OnnxModel;
    expect(m.layout).toBe('flat');
    expect(m.input).toEqual({ kind: 'tensor', shape: [784] });
    // Every op of the MLP imports into the engine: gradients and fine-tuning (onnx-tf-graph.ts).
    expect(m.capabilities).toEqual({
      threads: true,
      training: true,
      gradients: true,
      pixels: false,
    });
    expect(m.classes).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
    expect(m.files).toEqual([join(FIXTURES, 'mlp.onnx')]);
    const ds = records(expected.mlp);
    const p = await m.predictProba(ds);
    expectClose(p, expected.mlp.probabilities, 1e-5);
    expect(Array.from(await m.predict(ds))).toEqual(argmax(expected.mlp.probabilities, 8, 10));
    // The same records given already flattened.
    expectClose(
      await m.predictProba(records(expected.mlp, [784])),
      expected.mlp.probabilities,
      1e-5,
    );
    const f = m.featurize(ds);
    const acts = await m.classifier.activations(f.x, 8);
    expect(acts.dim).toBe(64);
    expectClose(acts.data, expected.mlp.lastGemmInput, 1e-5, true);
    m.dispose();
  });

  it('predicts the NCHW CNN (logits, BatchNorm, sidecar normalisation) as PyTorch does', async () => {
    const m = (await loadModel(join(FIXTURES, 'cnn.onnx'))) as OnnxModel;
    expect(m.layout).toBe('nchw');
    expect(m.input).toEqual({ kind: 'tensor', shape: [28, 28, 1] });
    expect(m.classifier.inputShape).toEqual([1, 28, 28]);
    expect(m.capabilities.pixels).toBe(true);
    expect(m.normalization).toEqual({ scale: 1, mean: [0.1307], std: [0.3081] });
    expect(m.files).toEqual([join(FIXTURES, 'cnn.onnx'), join(FIXTURES, 'cnn.onnx.json')]);
    expect(m.graph.nodes.filter((n) => n.opType === 'BatchNormalization')).toHaveLength(2);
    const ds = records(expected.cnn);
    expectClose(await m.predictProba(ds), expected.cnn.probabilities, 1e-5);
    expect(Array.from(await m.predict(ds))).toEqual(argmax(expected.cnn.probabilities, 8, 10));
    const f = m.featurize(ds);
    expect(f.shape).toEqual([8, 1, 28, 28]);
    expect(f.y).toBe(ds.y);
    // Its featurizer scales the values: given records it does not hold (a distributed scan's
    // coordinator reading an outline), it says so, and `scan --queue` reads the data instead.
    expect(() => m.featurize({ ...ds, x: withheldRecords('d') })).toThrow(
      expect.objectContaining({ code: 'INVALID_STATE', details: { withheld: 'd' } }),
    );
    // Any named tensor, e.g. the input of the last Gemm (32 wide), as PyTorch computes it.
    const acts = await m.classifier.activations(f.x, 8, '/Relu_2_output_0');
    expect(acts.dim).toBe(32);
    expectClose(acts.data, expected.cnn.lastGemmInput, 1e-5, true);
    // The default: the input of the classifier head, the flattened convolution features (16·7·7).
    expect(m.classifier.defaultLayer).toBe('/Flatten_output_0');
    expect(m.classifier.layerNames).toContain('/Flatten_output_0');
    const flat = await m.classifier.activations(f.x, 8);
    expect(flat.dim).toBe(784);
    expect(Array.from((await m.classifier.activations(f.x, 8, '/Flatten_output_0')).data)).toEqual(
      Array.from(flat.data),
    );
    // The logits themselves, through the base session.
    const logits = await m.classifier.activations(f.x, 8, 'output');
    expectClose(logits.data, expected.cnn.logits, 1e-5, true);
    await rejects(
      m.classifier.activations(f.x, 8, 'nope'),
      'INVALID_ARGUMENT',
      /has no tensor nope; layers: .*\/Flatten_output_0/,
    );
    // One run for both (what a scan's representations and the arbitrary-label test share): the
    // same activations and probabilities as the two separate calls, for a hidden layer, the
    // default layer and the output itself.
    const probs = await m.classifier.predictProba(f.x, 8);
    for (const layer of ['/Relu_2_output_0', undefined, 'output']) {
      const both = await m.classifier.activationsAndProba!(f.x, 8, layer);
      const alone = await m.classifier.activations(f.x, 8, layer);
      expect(both.dim).toBe(alone.dim);
      expect(Array.from(both.data)).toEqual(Array.from(alone.data));
      expect(Array.from(both.probabilities)).toEqual(Array.from(probs));
    }
    await rejects(
      m.classifier.activationsAndProba!(f.x, 8, 'nope'),
      'INVALID_ARGUMENT',
      /has no tensor nope/,
    );
    m.dispose();
  });

  it('reads an NHWC model (same CNN behind a Transpose) without transposing the records', async () => {
    const m = (await loadModel(join(FIXTURES, 'cnn-nhwc.onnx'))) as OnnxModel;
    expect(m.layout).toBe('nhwc');
    expect(m.input).toEqual({ kind: 'tensor', shape: [28, 28, 1] });
    expect(m.classifier.inputShape).toEqual([28, 28, 1]);
    const ds = records(expected.cnn);
    const f = m.featurize(ds);
    expect(f.shape).toEqual([8, 28, 28, 1]);
    expect(f.x[0]).toBeCloseTo((0 - 0.1307) / 0.3081, 6);
    expectClose(await m.predictProba(ds), expected.cnn.probabilities, 1e-5);
    const acts = await m.classifier.activations(f.x, 8, '/inner/Relu_2_output_0');
    expectClose(acts.data, expected.cnn.lastGemmInput, 1e-5, true);
    expect(m.classifier.defaultLayer).toBe('/inner/Flatten_output_0');
    m.dispose();
  });

  it('transposes HWC records for NCHW models and normalises each channel', async () => {
    // One 2×2 RGB record, value (h, w, c) = (10·h + 5·w + c + 1) / 100, HWC.
    const hwc = Float32Array.from({ length: 12 }, (_, j) => {
      const c = j % 3;
      const pixel = Math.floor(j / 3);
      return (10 * Math.floor(pixel / 2) + 5 * (pixel % 2) + c + 1) / 100;
    });
    const ds: Dataset = {
      x: hwc,
      shape: [1, 2, 2, 3],
      y: Int32Array.of(0),
      classes: ['a'],
      ids: ['r'],
    };
    // The sidecar: scale 255, mean [10, 20, 30], std [2, 4, 8].
    const norm = (v: number, c: number) => (v * 255 - [10, 20, 30][c]!) / [2, 4, 8][c]!;
    const chw = Array.from({ length: 12 }, (_, j) =>
      norm(hwc[(j % 4) * 3 + Math.floor(j / 4)]!, Math.floor(j / 4)),
    );
    const interleaved = Array.from(hwc, (v, j) => norm(v, j % 3));
    for (const [name, layout, want] of [
      ['probe-nchw', 'nchw', chw],
      ['probe-nhwc', 'nhwc', interleaved],
    ] as const) {
      const m = (await loadModel(join(FIXTURES, `${name}.onnx`))) as OnnxModel;
      expect(m.layout).toBe(layout);
      expect(m.input).toEqual({ kind: 'tensor', shape: [2, 2, 3] });
      const f = m.featurize(ds);
      expectClose(f.x, want, 1e-5, true);
      // The model flattens what it receives: the output is the featurized record itself.
      const seen = await m.classifier.activations(f.x, 1, 'output');
      expectClose(seen.data, want, 1e-5, true);
      m.dispose();
    }
  });

  it('featurizes many records exactly as a transpose followed by the normalisation', async () => {
    // Five random 2×2 RGB records: each record's own offset, each channel's own mean and std.
    const rng = new Rng(7);
    const n = 5;
    const hwc = Float32Array.from({ length: n * 12 }, () => rng.uniform());
    const ds: Dataset = {
      x: hwc,
      shape: [n, 2, 2, 3],
      y: new Int32Array(n),
      classes: ['a'],
      ids: Array.from({ length: n }, (_, i) => `r${i}`),
    };
    const norm = (v: number, c: number) => (v * 255 - [10, 20, 30][c]!) / [2, 4, 8][c]!;
    // Value (record i, pixel p, channel c) sits at i·12 + p·3 + c in HWC, i·12 + c·4 + p in CHW.
    const chw = new Float32Array(n * 12);
    const interleaved = new Float32Array(n * 12);
    for (let i = 0; i < n; i++) {
      for (let p = 0; p < 4; p++) {
        for (let c = 0; c < 3; c++) {
          const v = norm(hwc[i * 12 + p * 3 + c]!, c);
          chw[i * 12 + c * 4 + p] = v;
          interleaved[i * 12 + p * 3 + c] = v;
        }
      }
    }
    for (const [name, want] of [
      ['probe-nchw', chw],
      ['probe-nhwc', interleaved],
    ] as const) {
      const m = (await loadModel(join(FIXTURES, `${name}.onnx`))) as OnnxModel;
      const f = m.featurize(ds);
      expect(f.shape).toEqual(name === 'probe-nchw' ? [n, 3, 2, 2] : [n, 2, 2, 3]);
      expect(f.x).toEqual(want);
      expect(f.x).not.toBe(hwc);
      m.dispose();
    }
  });

  it('useThreads sets the intra-op threads of ONNX Runtime; predictions and activations unchanged', async () => {
    const m = (await loadModel(join(FIXTURES, 'cnn.onnx'))) as OnnxModel;
    const ds = records(expected.cnn);
    const f = m.featurize(ds);
    const layer = m.classifier.defaultLayer;
    const before = await m.classifier.activations(f.x, 8, layer);
    expect(m.classifier.threads).toBeUndefined();
    for (const threads of [1, 2]) {
      expect(m.useThreads(threads)).toBe(m);
      expect(m.classifier.threads).toBe(threads);
      expectClose(await m.predictProba(ds), expected.cnn.probabilities, 1e-5);
      expectClose(
        (await m.classifier.activations(f.x, 8, layer)).data,
        Array.from(before.data),
        1e-6,
        true,
      );
    }
    expect(() => m.useThreads(0)).toThrow(/inference threads/);
    expect(m.classifier.threads).toBe(2);
    m.dispose();
  });

  it('refuses records of another shape, naming both shapes', async () => {
    const m = (await loadModel(join(FIXTURES, 'cnn.onnx'))) as OnnxModel;
    const e = expected.cnn;
    const wrong: Dataset = { ...records(e), shape: [8, 14, 56, 1] };
    expect(() => m.featurize(wrong)).toThrow(
      /reads records of shape \[28, 28, 1\] \(HWC; the model's NCHW input is \[N, 1, 28, 28\]\), the data has \[14, 56, 1\]/,
    );
    await rejects(m.predictProba(wrong), 'SHAPE_MISMATCH', /the data has \[14, 56, 1\]/);
    const mlp = (await loadModel(join(FIXTURES, 'mlp.onnx'))) as OnnxModel;
    const short: Dataset = { ...records(e), x: new Float32Array(8 * 700), shape: [8, 700] };
    await rejects(mlp.predict(short), 'SHAPE_MISMATCH', /reads records of shape \[784\]/);
    await rejects(
      mlp.trainLike({ ...short, y: Int32Array.from(short.y) }, { seed: 1, epochs: 1 }),
      'SHAPE_MISMATCH',
      /700/,
    );
    m.dispose();
    mlp.dispose();
  });
});

describe('OnnxModel errors', () => {
  it('refuses a corrupted or truncated file and a missing one', async () => {
    const junk = join(root, 'junk.onnx');
    await writeFile(junk, Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0x01, 0x02]));
    await rejects(loadModel(junk), 'INVALID_FORMAT', /junk\.onnx is not an ONNX model/);
    const bytes = await readFile(join(FIXTURES, 'cnn.onnx'));
    const cut = join(root, 'cut.onnx');
    await writeFile(cut, bytes.subarray(0, bytes.length >> 1));
    await rejects(loadModel(cut), 'INVALID_FORMAT', /cut\.onnx is not an ONNX model/);
    await rejects(loadModel(join(root, 'missing.onnx')), 'NOT_FOUND', /missing\.onnx/);
  });

  it('reads class names from the sidecar and refuses one that does not fit', async () => {
    const path = join(root, 'named.onnx');
    await copyFile(join(FIXTURES, 'mlp.onnx'), path);
    const names = Array.from({ length: 10 }, (_, k) => `digit-${k}`);
    await writeFile(join(root, 'named.onnx.json'), JSON.stringify({ classes: names }));
    const m = await loadModel(path);
    expect(m.classes).toEqual(names);
    expect(m.files).toEqual([path, join(root, 'named.onnx.json')]);
    m.dispose();
    await writeFile(join(root, 'named.onnx.json'), JSON.stringify({ classes: ['a', 'b'] }));
    await rejects(loadModel(path), 'INVALID_FORMAT', /names 2 classes but .*outputs 10/);
    await writeFile(join(root, 'named.onnx.json'), JSON.stringify({ classes: names, extra: 1 }));
    await rejects(loadModel(path), 'INVALID_FORMAT', /named\.onnx\.json/);
    await writeFile(
      join(root, 'named.onnx.json'),
      JSON.stringify({ normalization: { mean: [0.1, 0.2, 0.3] } }),
    );
    await rejects(loadModel(path), 'INVALID_FORMAT', /normalization\.mean has 3 values/);
  });
});
