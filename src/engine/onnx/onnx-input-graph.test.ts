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
import {
  affineOf,
  type RawInputModel,
  type RawInputSpec,
  takesRawInput,
  withRawInput,
} from './onnx-input-graph.js';
import type { OnnxModel } from './onnx-model.js';
import {
  decodeOnnx,
  ONNX_ROOT,
  type ProtoModel,
  type ProtoNode,
  withGraphOutputs,
} from './onnx-proto.js';
import type { OnnxNormalization } from './onnx-sidecar.js';
import { decodeWeights } from './onnx-tensors.js';

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
    const norm = { scale: 1, mean: [0.2, 0.3, 0.4], std: [0.5, 0.25, 0.125] };
    const { model, d } = await derivedResnet(norm, false);
    expect(takesRawInput(model)).toBe(true);
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

  it('folds the first convolution onto the raw records: Reshape, Sub, Conv, its weights laid over the channels', async () => {
    const norm = { scale: 2, mean: [0.2, 0.3, 0.4], std: [0.5, 0.25, 0.125] };
    const { bytes, model, derived, d } = await derivedResnet(norm, true);
    const stem = model.nodes.find((n) => n.inputs[0] === 'input')!;
    expect(d.nodes.slice(0, 3).map((n) => n.opType)).toEqual(['Reshape', 'Sub', 'Conv']);
    const [reshape, sub, conv] = d.nodes as [ProtoNode, ProtoNode, ProtoNode];
    expect(reshape.inputs[0]).toBe('input_raw');
    expect(sub.inputs[0]).toBe(reshape.outputs[0]);
    expect(conv.inputs[0]).toBe(sub.outputs[0]);
    // The stem's output, name, stride and padding; its kernel spans 3 values per column.
    expect(conv.outputs).toEqual(stem.outputs);
    expect(conv.name).toBe(stem.name);
    expect(conv.attributes.kernel_shape).toEqual([3, 9]);
    expect(conv.attributes.strides).toEqual([2, 6]);
    expect(conv.attributes.pads).toEqual([1, 3, 1, 3]);
    // Every other node as it was; the stem's weights gone (nothing else reads them).
    expect(d.nodes.slice(3)).toEqual(model.nodes.filter((n) => n !== stem));
    expect(d.nodes.some((n) => n.inputs.includes('input'))).toBe(false);
    expect(d.initializers.has(stem.inputs[1]!)).toBe(false);
    expect(d.initializers.get(reshape.inputs[1]!)).toEqual([4]);
    expect(d.initializers.get(sub.inputs[1]!)).toEqual([1, 32, 96]);
    expect(d.initializers.get(conv.inputs[1]!)).toEqual([8, 1, 3, 9]);
    expect(d.outputs).toEqual(model.outputs);
    // The values: weight (o, k, i, j) times scale / std[k] at (o, 0, i, 3j + k); mean / scale.
    const w = decodeWeights(bytes, 'resnet');
    const dw = decodeWeights(derived.bytes, 'derived');
    const before = w.initializers.get(stem.inputs[1]!)!.data as Float32Array;
    const after = dw.initializers.get(conv.inputs[1]!)!.data as Float32Array;
    for (const [o, k, i, j] of [
      [0, 0, 0, 0],
      [3, 1, 2, 1],
      [7, 2, 1, 2],
    ] as const) {
      expect(after[(o * 3 + i) * 9 + 3 * j + k]).toBe(
        Math.fround(before[((o * 3 + k) * 3 + i) * 3 + j]! * (2 / norm.std[k]!)),
      );
    }
    const offsets = dw.initializers.get(sub.inputs[1]!)!.data as Float32Array;
    expect(Array.from(offsets.subarray(93, 96))).toEqual([0.1, 0.15, 0.2].map(Math.fround));
  });

  it('gives the transposed path’s outputs and activations when it folds the first convolution', async () => {
    for (const [name, shape, norm] of [
      [
        'resnet',
        [32, 32, 3],
        { scale: 1, mean: [0.2259, 0.2262, 0.2258], std: [0.1799, 0.1809, 0.1794] },
      ],
      ['resnet', [32, 32, 3], undefined],
      ['cnn', [28, 28, 1], { scale: 255, mean: [33], std: [78] }],
    ] as const) {
      const bytes = await readFile(join(ONNX_FIXTURES, `${name}.onnx`));
      const model = decodeOnnx(bytes, name);
      const n = 64;
      const rng = new Rng(3);
      const size = shape[0] * shape[1] * shape[2];
      const x = Float32Array.from({ length: n * size }, () => rng.uniform());
      // Activations of the folded convolution's output and the class scores, both ways.
      const first = model.nodes.find((m) => m.inputs[0] === 'input')!.outputs[0]!;
      const run = async (fold: boolean, fixedBatch?: number) => {
        const derived = withRawInput(bytes, model, {
          inputName: 'input',
          layout: 'nchw',
          rawShape: shape,
          foldFirstConv: fold,
          ...(norm ? { normalization: norm } : {}),
          ...(fixedBatch ? { fixedBatch } : {}),
        });
        const s = await InferenceSession.create(withGraphOutputs(derived.bytes, [first]));
        const r = await s.run({ [derived.inputName]: new Tensor('float32', x, [n, ...shape]) });
        await s.release();
        return { out: r.output!.data as Float32Array, act: r[first]!.data as Float32Array };
      };
      const transposed = await run(false);
      for (const fixedBatch of [undefined, n]) {
        const folded = await run(true, fixedBatch);
        // Rounding only: measured 5e-7 to 2e-6.
        expectClose(folded.act, Array.from(transposed.act), 1e-5, true);
        expectClose(folded.out, Array.from(transposed.out), 1e-5, true);
        expect(argmaxRows(Array.from(folded.out), n, 10)).toEqual(
          argmaxRows(Array.from(transposed.out), n, 10),
        );
      }
    }
  });

  it('keeps the transpose when the input is not read by one foldable convolution', async () => {
    // probe-nchw's input goes to a Flatten.
    const { derived } = await deriveFixture('probe-nchw', { rawShape: [2, 2, 3] });
    expect(decodeOnnx(derived.bytes, 'd').nodes.map((n) => n.opType)).toEqual([
      'Transpose',
      'Flatten',
    ]);
    // The resnet's stem with one group more, or dilated: not folded.
    const resnet = await readFile(join(ONNX_FIXTURES, 'resnet.onnx'));
    const r = decodeOnnx(resnet, 'resnet.onnx');
    // Or its weights in an external file (which Antidote does not read).
    for (const [attributes, external] of [
      [{ group: 3 }, false],
      [{ dilations: [2, 2] }, false],
      [{}, true],
    ] as Array<[Record<string, number | number[]>, boolean]>) {
      const nodes = r.nodes.map((m) =>
        m.inputs[0] === 'input' ? { ...m, attributes: { ...m.attributes, ...attributes } } : m,
      );
      const edited = withRawInput(
        editedStem(resnet, attributes, external),
        { ...r, nodes },
        {
          inputName: 'input',
          layout: 'nchw',
          rawShape: [32, 32, 3],
        },
      );
      expect(decodeOnnx(edited.bytes, 'd').nodes[0]!.opType).toBe('Transpose');
    }
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

/** The NCHW fixture `name` (its input `input`) and its graph derived with `spec`. */
async function deriveFixture(
  name: string,
  spec: Omit<RawInputSpec, 'inputName' | 'layout'>,
): Promise<{ bytes: Uint8Array; model: ProtoModel; derived: RawInputModel }> {
  const bytes = await readFile(join(ONNX_FIXTURES, `${name}.onnx`));
  const model = decodeOnnx(bytes, `${name}.onnx`);
  const derived = withRawInput(bytes, model, { inputName: 'input', layout: 'nchw', ...spec });
  return { bytes, model, derived };
}

/**
 * The ResNet fixture's derived graph with `norm`, the first convolution folded or not, decoded;
 * its one data input checked: `input_raw`, raw HWC records.
 */
async function derivedResnet(norm: OnnxNormalization, fold: boolean) {
  const { bytes, model, derived } = await deriveFixture('resnet', {
    rawShape: [32, 32, 3],
    normalization: norm,
    foldFirstConv: fold,
  });
  expect(derived.inputName).toBe('input_raw');
  const d = decodeOnnx(derived.bytes, 'derived');
  expect(d.inputs.filter((i) => !d.initializers.has(i.name))).toEqual([
    { name: 'input_raw', elemType: 1, shape: ['batch', 32, 32, 3] },
  ]);
  return { bytes, model, derived, d };
}

/**
 * The model `bytes` with the attributes of the node reading `input` set to `attributes`, and its
 * weights marked as stored in an external file when `external`.
 */
function editedStem(
  bytes: Uint8Array,
  attributes: Record<string, number | number[]>,
  external = false,
): Uint8Array {
  const MODEL = ONNX_ROOT.lookupType('onnx.ModelProto');
  const m = MODEL.toObject(MODEL.decode(bytes)) as {
    graph: {
      node: Array<{ input: string[]; attribute: Array<Record<string, unknown>> }>;
      initializer: Array<{ name: string; dataLocation?: number }>;
    };
  };
  const stem = m.graph.node.find((n) => n.input[0] === 'input')!;
  if (external) m.graph.initializer.find((t) => t.name === stem.input[1])!.dataLocation = 1;
  for (const [name, v] of Object.entries(attributes)) {
    stem.attribute = stem.attribute.filter((a) => a.name !== name);
    stem.attribute.push(Array.isArray(v) ? { name, ints: v, type: 7 } : { name, i: v, type: 2 });
  }
  return MODEL.encode(MODEL.fromObject(m)).finish();
}
