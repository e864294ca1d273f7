import { copyFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Dataset } from '../../data/dataset.js';
import {
  argmaxRows,
  expectClose,
  imageRecords,
  type OnnxExpectations,
  readOnnxExpectations,
} from '../../testing/onnx-expect.js';
import { ONNX_FIXTURES } from '../../testing/onnx-fixtures.js';
import { Rng } from '../../util/rng.js';
import { loadModel } from '../model.js';
import { affineOf, takesRawInput, withRawInput } from './onnx-input-graph.js';
import type { OnnxModel } from './onnx-model.js';
import { decodeOnnx, withGraphOutputs } from './onnx-proto.js';

let expected: OnnxExpectations;
let dir: string;
const DIGITS = Array.from({ length: 10 }, (_, k) => String(k));

beforeAll(async () => {
  expected = await readOnnxExpectations();
  dir = await mkdtemp(join(tmpdir(), 'antidote-onnx-input-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** `n` random 2×2 RGB records (HWC, values in [0, 1)). */
function rgb(n: number, seed: number): Dataset {
  const rng = new Rng(seed);
  return {
    x: Float32Array.from({ length: n * 12 }, () => rng.uniform()),
    shape: [n, 2, 2, 3],
    y: new Int32Array(n),
    classes: ['a'],
    ids: Array.from({ length: n }, (_, i) => `r${i}`),
  };
}

/** The fixture `name`, loaded from a copy without its sidecar (no normalisation). */
async function withoutSidecar(name: string): Promise<OnnxModel> {
  const path = join(dir, `${name}.onnx`);
  await copyFile(join(ONNX_FIXTURES, `${name}.onnx`), path);
  return (await loadModel(path)) as OnnxModel;
}

describe('the derived graph that preprocesses raw records', () => {
  it('replaces the data input by a raw HWC input, nodes first, the rest of the graph as it was', async () => {
    const bytes = await readFile(join(ONNX_FIXTURES, 'resnet.onnx'));
    const model = decodeOnnx(bytes, 'resnet.onnx');
    expect(takesRawInput(model)).toBe(true);
    const norm = { scale: 1, mean: [0.2, 0.3, 0.4], std: [0.5, 0.25, 0.125] };
    const derived = withRawInput(bytes, model, {
      inputName: 'input',
      layout: 'nchw',
      rawShape: [32, 32, 3],
      normalization: norm,
    });
    expect(derived.inputName).toBe('input_raw');
    const d = decodeOnnx(derived.bytes, 'derived');
    expect(d.inputs.filter((i) => !d.initializers.has(i.name))).toEqual([
      { name: 'input_raw', elemType: 1, shape: ['batch', 32, 32, 3] },
    ]);
    expect(d.nodes.slice(0, 2).map((n) => n.opType)).toEqual(['Transpose', 'BatchNormalization']);
    expect(d.nodes[0]!.attributes.perm).toEqual([0, 3, 1, 2]);
    expect(d.nodes[1]!.outputs).toEqual(['input']);
    // epsilon 0: protobuf leaves the default value out.
    expect(d.nodes[1]!.attributes.epsilon ?? 0).toBe(0);
    expect(d.nodes.slice(2)).toEqual(model.nodes);
    expect(d.outputs).toEqual(model.outputs);
    expect(d.initializers.size).toBe(model.initializers.size + 4);
    expect(d.opsets).toEqual(model.opsets);
    // The constants: scale / std and −mean / std.
    const { scale, shift } = affineOf(norm, 3);
    expect(Array.from(scale)).toEqual([2, 4, 8]);
    expect(Array.from(shift)).toEqual([-0.4, -1.2, -3.2].map(Math.fround));
  });

  it('runs in ONNX Runtime as the transpose and normalisation followed by the model', async () => {
    // probe-nchw outputs its (flattened) input: what the derived graph feeds it.
    const bytes = await readFile(join(ONNX_FIXTURES, 'probe-nchw.onnx'));
    const model = decodeOnnx(bytes, 'probe-nchw.onnx');
    const norm = { scale: 255, mean: [10, 20, 30], std: [2, 4, 8] };
    const ds = rgb(3, 11);
    for (const [normalization, fragment, fixedBatch] of [
      [norm, false, undefined],
      [undefined, false, undefined],
      [norm, true, undefined],
      [norm, false, 3],
    ] as const) {
      // `fragment`: a model whose graph is in two fragments (an output appended).
      const source = fragment ? withGraphOutputs(bytes, ['output']) : bytes;
      const derived = withRawInput(source, model, {
        inputName: 'input',
        layout: 'nchw',
        rawShape: [2, 2, 3],
        ...(normalization ? { normalization } : {}),
        ...(fixedBatch ? { fixedBatch } : {}),
      });
      const input = decodeOnnx(derived.bytes, 'derived').inputs[0];
      expect(input?.shape).toEqual([fixedBatch ?? 'batch', 2, 2, 3]);
      const s = await InferenceSession.create(derived.bytes);
      const r = await s.run({ [derived.inputName]: new Tensor('float32', ds.x, [3, 2, 2, 3]) });
      const got = r.output!.data as Float32Array;
      const want: number[] = [];
      for (let i = 0; i < 3; i++) {
        for (let c = 0; c < 3; c++) {
          for (let p = 0; p < 4; p++) {
            const v = ds.x[i * 12 + p * 3 + c]!;
            want.push(normalization ? (v * 255 - norm.mean[c]!) / norm.std[c]! : v);
          }
        }
      }
      expectClose(got, want, 1e-5, true);
      await s.release();
    }
  });

  it('gives the plain path’s values for NCHW and NHWC models, with and without normalisation', async () => {
    const ds = rgb(300, 5);
    for (const name of ['probe-nchw', 'probe-nhwc']) {
      for (const sidecar of [true, false]) {
        const m = sidecar
          ? ((await loadModel(join(ONNX_FIXTURES, `${name}.onnx`))) as OnnxModel)
          : await withoutSidecar(name);
        expect(m.normalization === undefined).toBe(!sidecar);
        const f = m.featurize(ds);
        const plain = await m.classifier.activations(f.x, 300, 'output');
        const featurize = vi.spyOn(m, 'featurize');
        const derived = await m.activationsOf(ds, 'output');
        // The plain path serves a model that reads the records as stored (NHWC, no normalisation).
        const inGraph = name === 'probe-nchw' || sidecar;
        expect(featurize, `${name} ${sidecar}`).toHaveBeenCalledTimes(inGraph ? 0 : 1);
        expect(derived.dim).toBe(12);
        expectClose(derived.data, Array.from(plain.data), 1e-5, true);
        m.dispose();
      }
    }
  });

  it('predicts the fixtures as PyTorch recorded, with the same activations as the plain path', async () => {
    for (const [name, shape] of [
      ['resnet', [32, 32, 3]],
      ['cnn', [28, 28, 1]],
      ['cnn-nhwc', [28, 28, 1]],
    ] as const) {
      const e = name === 'resnet' ? expected.resnet : expected.cnn;
      const m = (await loadModel(join(ONNX_FIXTURES, `${name}.onnx`))) as OnnxModel;
      const ds = imageRecords(e, shape, DIGITS);
      const n = ds.y.length;
      const featurize = vi.spyOn(m, 'featurize');
      const p = await m.predictProba(ds);
      expectClose(p, e.probabilities, 1e-5);
      expect(Array.from(await m.predict(ds))).toEqual(argmaxRows(e.probabilities, n, 10));
      const acts = await m.activationsOf(ds);
      expect(featurize).not.toHaveBeenCalled();
      featurize.mockRestore();
      // PyTorch recorded the input of the last Gemm, the last candidate layer.
      const gemmInput = await m.activationsOf(ds, m.classifier.layerNames.at(-1));
      expectClose(gemmInput.data, e.lastGemmInput, 1e-4, true);
      const f = m.featurize(ds);
      const plainP = await m.classifier.predictProba(f.x, n);
      expectClose(p, Array.from(plainP), 1e-5);
      const plain = await m.classifier.activations(f.x, n);
      expectClose(acts.data, Array.from(plain.data), 1e-5, true);
      // Threads set after the derived session exists: the same predictions.
      m.useThreads(1);
      expectClose(await m.predictProba(ds), Array.from(p), 0);
      m.dispose();
    }
  });

  it('refuses records of another shape as the plain path does', async () => {
    const m = (await loadModel(join(ONNX_FIXTURES, 'resnet.onnx'))) as OnnxModel;
    const ds = rgb(2, 1);
    await expect(m.predictProba(ds)).rejects.toMatchObject({ code: 'SHAPE_MISMATCH' });
    await expect(m.activationsOf(ds)).rejects.toMatchObject({ code: 'SHAPE_MISMATCH' });
    m.dispose();
  });
});
