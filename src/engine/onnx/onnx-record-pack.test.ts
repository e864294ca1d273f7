import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { describe, expect, it, vi } from 'vitest';
import { buildOnnx } from '../../testing/onnx-build.js';
import {
  argmaxRows,
  expectClose,
  imageRecords,
  readOnnxExpectations,
} from '../../testing/onnx-expect.js';
import { ONNX_FIXTURES } from '../../testing/onnx-fixtures.js';
import { Rng } from '../../util/rng.js';
import { loadModel } from '../model.js';
import { OnnxClassifier } from './onnx-classifier.js';
import { withRawInput } from './onnx-input-graph.js';
import type { OnnxModel } from './onnx-model.js';
import { decodeOnnx, type ProtoModel, withGraphOutputs } from './onnx-proto.js';
import { nchwcBlockSize, packRecords } from './onnx-record-pack.js';
import { decodeWeights } from './onnx-tensors.js';

/** `n` seeded weights, uniform in [−1, 1), drawn in turn from one stream per test. */
function uniformValues(seed: number): (n: number) => number[] {
  const rng = new Rng(seed);
  return (n) => Array.from({ length: n }, () => rng.uniform(-1, 1));
}

async function fixture(name: string): Promise<{ bytes: Uint8Array; model: ProtoModel }> {
  const bytes = await readFile(join(ONNX_FIXTURES, `${name}.onnx`));
  return { bytes, model: decodeOnnx(bytes, name) };
}

/** Runs `bytes` on `x` (`[n, ...shape]`), fetching `fetch`. */
async function runOnce(
  bytes: Uint8Array,
  x: Float32Array,
  dims: readonly number[],
  fetch = 'output',
): Promise<Float32Array> {
  const s = await InferenceSession.create(bytes, { graphOptimizationLevel: 'all' });
  const r = await s.run({ [s.inputNames[0]!]: new Tensor('float32', x, [...dims]) }, [fetch]);
  const out = (r[fetch]!.data as Float32Array).slice();
  await s.release();
  return out;
}

describe('record packing of narrow convolutions', () => {
  it('packs the ResNet two records at a time for a block of 16: block-diagonal weights on its 8-channel inputs, grouped convolutions on its 16-channel ones, unpacked after the pooling', async () => {
    const { bytes, model } = await fixture('resnet');
    const packed = packRecords(bytes, 16);
    expect(packed.factor).toBe(2);
    const p = decodeOnnx(packed.bytes, 'packed');
    // Every convolution runs packed; the records are unpacked once, after the global pooling,
    // by one Reshape back to the pooled tensor's old name.
    const reshapes = p.nodes.filter((n) => n.opType === 'Reshape');
    expect(reshapes.map((n) => n.inputs[0])).toEqual([
      'input',
      '/GlobalAveragePool_output_0_packed2',
    ]);
    expect(reshapes[1]!.outputs).toEqual(['/GlobalAveragePool_output_0']);
    const convs = p.nodes.filter((n) => n.opType === 'Conv');
    expect(convs.map((n) => p.initializers.get(n.inputs[1]!))).toEqual([
      [16, 6, 3, 3],
      [16, 16, 3, 3],
      [16, 16, 3, 3],
      [32, 16, 3, 3],
      [32, 16, 3, 3],
      [32, 16, 1, 1],
    ]);
    // The second block's 16 → 16 convolution: two groups of 16 (no zero multiplied).
    expect(convs.map((n) => n.attributes.group ?? 1)).toEqual([1, 1, 1, 1, 2, 1]);
    // Every other node as it was, less the exporter's Identity of a shared BatchNorm bias
    // (block2.bn2.bias, also the shortcut's), which only packed nodes read (as repeated copies).
    expect(p.nodes.length).toBe(model.nodes.length + 2 - 1);
    expect(p.nodes.some((n) => n.opType === 'Identity')).toBe(false);
    expect(p.outputs).toEqual(model.outputs);
    for (const gone of [
      'stem.weight',
      'block1.conv1.weight',
      'bn.running_var',
      'block2.bn2.bias',
    ]) {
      expect(p.initializers.has(gone)).toBe(false);
    }
    // Weights: the old ones twice on the diagonal, zeros elsewhere.
    const weights = decodeWeights(bytes, 'resnet').initializers;
    const packedWeights = decodeWeights(packed.bytes, 'packed').initializers;
    const w = weights.get('block1.conv1.weight')!.data as Float32Array;
    const pw = packedWeights.get(convs[1]!.inputs[1]!)!.data as Float32Array;
    for (const [a, b, o, c] of [
      [0, 0, 3, 5],
      [1, 1, 3, 5],
      [0, 1, 3, 5],
      [1, 0, 7, 0],
    ] as const) {
      for (let t = 0; t < 9; t++) {
        const got = pw[((a * 8 + o) * 16 + b * 8 + c) * 9 + t];
        expect(got).toBe(a === b ? w[(o * 8 + c) * 9 + t] : 0);
      }
    }
    // The grouped convolution's weights: the old ones twice, one copy per group.
    const w2 = weights.get('block2.conv2.weight')!.data as Float32Array;
    const pw2 = packedWeights.get(convs[4]!.inputs[1]!)!.data as Float32Array;
    expect(Array.from(pw2)).toEqual([...w2, ...w2]);
  });

  it('gives PyTorch’s recorded probabilities on the ResNet and the CNN (within 1e-5, same argmax)', async () => {
    const expected = await readOnnxExpectations();
    for (const [name, shape, factor] of [
      ['resnet', [32, 32, 3], 2],
      ['cnn', [28, 28, 1], 2],
    ] as const) {
      const { bytes } = await fixture(name);
      const packed = packRecords(bytes, 16);
      expect(packed.factor).toBe(factor);
      const m = (await loadModel(join(ONNX_FIXTURES, `${name}.onnx`))) as OnnxModel;
      const e = expected[name];
      const ds = imageRecords(e, shape, [...'0123456789']);
      const f = m.featurize(ds);
      const n = ds.y.length;
      expect(n % factor).toBe(0);
      const logits = await runOnce(packed.bytes, f.x, f.shape);
      const k = 10;
      const probs = Float32Array.from(logits);
      for (let i = 0; i < n; i++) {
        const row = probs.subarray(i * k, (i + 1) * k);
        const max = Math.max(...row);
        let sum = 0;
        for (let j = 0; j < k; j++) sum += row[j] = Math.exp(row[j]! - max);
        for (let j = 0; j < k; j++) row[j] = row[j]! / sum;
      }
      expectClose(probs, e.probabilities, 1e-5);
      expect(argmaxRows(probs, n, k)).toEqual(argmaxRows(e.probabilities, n, k));
      m.dispose();
    }
  });

  it('runs through OnnxClassifier for any batch: outputs and activations as unpacked, inside and outside the packed layers', async () => {
    const { bytes, model } = await fixture('resnet');
    const src = { bytes, model, inputName: 'input', recordShape: [3, 32, 32], where: 'resnet' };
    const packed = await OnnxClassifier.create(src);
    const plain = await OnnxClassifier.create({ ...src, packRecords: false });
    const rng = new Rng(7);
    // 5 records: not a multiple of the factor (a zero record pads the batch).
    const n = 5;
    const x = Float32Array.from({ length: n * 3072 }, () => rng.normal());
    expectClose(await packed.predictProba(x, n), Array.from(await plain.predictProba(x, n)), 1e-5);
    for (const layer of [
      '/block1/Relu_output_0',
      '/block1/Relu_1_output_0',
      '/block2/Relu_output_0',
      '/block2/Add_output_0',
      '/Flatten_output_0',
    ]) {
      const a = await packed.activations(x, n, layer);
      const b = await plain.activations(x, n, layer);
      expect(a.dim).toBe(b.dim);
      expectClose(a.data, Array.from(b.data), 1e-4, true);
    }
    await packed.release();
    await plain.release();
  });

  it('packs BatchNormalization, LeakyRelu, Add, MaxPool and a 1×1 convolution, not a convolution of constants', async () => {
    const values = uniformValues(11);
    const bytes = buildOnnx({
      input: { name: 'x', shape: ['batch', 4, 5, 5] },
      outputs: [{ name: 'r', shape: ['batch', 4, 2, 2] }],
      nodes: [
        { op: 'Conv', inputs: ['x', 'wa', 'ba'], outputs: ['a'], attrs: { pads: [1, 1, 1, 1] } },
        { op: 'BatchNormalization', inputs: ['a', 'g', 'b', 'm', 'v'], outputs: ['a2'] },
        { op: 'LeakyRelu', inputs: ['a2'], outputs: ['a3'], attrs: { alpha: { float: 0.1 } } },
        { op: 'Add', inputs: ['a3', 'a'], outputs: ['s'] },
        {
          op: 'MaxPool',
          inputs: ['s'],
          outputs: ['p'],
          attrs: { kernel_shape: [2, 2], strides: [2, 2] },
        },
        { op: 'Conv', inputs: ['p', 'wc'], outputs: ['q'] },
        { op: 'Conv', inputs: ['c', 'wb'], outputs: ['cb'] },
        { op: 'Add', inputs: ['q', 'cb'], outputs: ['r'] },
      ],
      initializers: [
        { name: 'wa', dims: [4, 4, 3, 3], values: values(144) },
        { name: 'ba', dims: [4], values: values(4) },
        { name: 'g', dims: [4], values: values(4) },
        { name: 'b', dims: [4], values: values(4) },
        { name: 'm', dims: [4], values: values(4) },
        { name: 'v', dims: [4], values: [0.5, 1, 2, 3] },
        { name: 'wc', dims: [4, 4, 1, 1], values: values(16) },
        { name: 'wb', dims: [4, 4, 1, 1], values: values(16) },
        { name: 'c', dims: [1, 4, 2, 2], values: values(16) },
      ],
    });
    const n = 8;
    const x = Float32Array.from(values(n * 100));
    const want = await runOnce(bytes, x, [n, 4, 5, 5], 'r');
    for (const [block, factor] of [
      [16, 4],
      [8, 2],
    ] as const) {
      const packed = packRecords(bytes, block);
      expect(packed.factor).toBe(factor);
      const p = decodeOnnx(packed.bytes, 'packed');
      // The convolution of constants as it was, reading the constant; q leaves through a Reshape.
      const cb = p.nodes.find((node) => node.outputs[0] === 'cb')!;
      expect(cb.inputs).toEqual(['c', 'wb']);
      const exits = p.nodes.filter((node) => node.opType === 'Reshape').map((r) => r.outputs[0]);
      expect(exits).toEqual(['x_pack' + factor, 'q']);
      expectClose(await runOnce(packed.bytes, x, [n, 4, 5, 5], 'r'), Array.from(want), 1e-5, true);
    }
  });

  it('keeps wide convolutions of packed records packed (block-diagonal or grouped) and an Identity of a parameter that an unpacked node reads', async () => {
    const values = uniformValues(13);
    const bytes = buildOnnx({
      input: { name: 'x', shape: ['batch', 3, 6, 6] },
      outputs: [
        { name: 'out', shape: ['batch', 8, 1, 1] },
        { name: 'side', shape: ['batch', 8] },
      ],
      nodes: [
        { op: 'Identity', inputs: ['g'], outputs: ['g2'] },
        { op: 'Conv', inputs: ['x', 'wa'], outputs: ['a'], attrs: { pads: [1, 1, 1, 1] } },
        { op: 'Relu', inputs: ['a'], outputs: ['a2'] },
        {
          op: 'Conv',
          inputs: ['a2', 'wb', 'bb'],
          outputs: ['b'],
          attrs: { pads: [1, 1, 1, 1], strides: [2, 2] },
        },
        { op: 'BatchNormalization', inputs: ['b', 'g', 'g2', 'm', 'v'], outputs: ['b2'] },
        { op: 'Conv', inputs: ['b2', 'wc'], outputs: ['c'], attrs: { pads: [1, 1, 1, 1] } },
        { op: 'Add', inputs: ['c', 'b2'], outputs: ['s'] },
        { op: 'GlobalAveragePool', inputs: ['s'], outputs: ['out'] },
        { op: 'Flatten', inputs: ['out'], outputs: ['f'] },
        { op: 'Mul', inputs: ['f', 'g2'], outputs: ['side'] },
      ],
      initializers: [
        { name: 'wa', dims: [4, 3, 3, 3], values: values(108) },
        { name: 'wb', dims: [8, 4, 3, 3], values: values(288) },
        { name: 'bb', dims: [8], values: values(8) },
        { name: 'g', dims: [8], values: values(8) },
        { name: 'm', dims: [8], values: values(8) },
        { name: 'v', dims: [8], values: [0.5, 1, 2, 3, 0.5, 1, 2, 3] },
        { name: 'wc', dims: [8, 8, 3, 3], values: values(576) },
      ],
    });
    const n = 6;
    const x = Float32Array.from(values(n * 108));
    const want = await runOnce(bytes, x, [n, 3, 6, 6], 'out');
    const wantSide = await runOnce(bytes, x, [n, 3, 6, 6], 'side');
    // Block 8: `wa` (4 outputs) packs two records; `wb` (4 → 8) reads them with block-diagonal
    // weights [16, 8]; `wc` (8 → 8) is a grouped convolution of 2 groups; one exit, after the
    // pooling.
    const packed = packRecords(bytes, 8);
    expect(packed.factor).toBe(2);
    const p = decodeOnnx(packed.bytes, 'packed');
    const convs = p.nodes.filter((node) => node.opType === 'Conv');
    expect(convs.map((c) => p.initializers.get(c.inputs[1]!))).toEqual([
      [8, 6, 3, 3],
      [16, 8, 3, 3],
      [16, 8, 3, 3],
    ]);
    expect(convs.map((c) => c.attributes.group ?? 1)).toEqual([1, 1, 2]);
    const exits = p.nodes.filter((node) => node.opType === 'Reshape').map((r) => r.outputs[0]);
    expect(exits).toEqual(['x_pack2', 'out']);
    // The Identity stays (the Mul reads its output), and so does what it reads.
    expect(p.nodes.filter((node) => node.opType === 'Identity')).toHaveLength(1);
    expect(p.initializers.has('g')).toBe(true);
    expectClose(await runOnce(packed.bytes, x, [n, 3, 6, 6], 'out'), Array.from(want), 1e-5, true);
    expectClose(
      await runOnce(packed.bytes, x, [n, 3, 6, 6], 'side'),
      Array.from(wantSide),
      1e-5,
      true,
    );
  });

  it('unpacks before a wide convolution whose block-diagonal weights would hold more zeros than products', async () => {
    const values = uniformValues(17);
    const bytes = buildOnnx({
      input: { name: 'x', shape: ['batch', 3, 5, 5] },
      outputs: [{ name: 'b', shape: ['batch', 16, 5, 5] }],
      nodes: [
        { op: 'Conv', inputs: ['x', 'wa'], outputs: ['a'], attrs: { pads: [1, 1, 1, 1] } },
        { op: 'Conv', inputs: ['a', 'wb'], outputs: ['b'], attrs: { pads: [1, 1, 1, 1] } },
      ],
      initializers: [
        { name: 'wa', dims: [4, 3, 3, 3], values: values(108) },
        { name: 'wb', dims: [16, 4, 3, 3], values: values(576) },
      ],
    });
    // Block 16: `wa` packs four records; `wb` (4 → 16) would need [64, 16] weights, 3/4 zeros.
    const packed = packRecords(bytes, 16);
    expect(packed.factor).toBe(4);
    const p = decodeOnnx(packed.bytes, 'packed');
    const convs = p.nodes.filter((node) => node.opType === 'Conv');
    expect(convs.map((c) => p.initializers.get(c.inputs[1]!))).toEqual([
      [16, 12, 3, 3],
      [16, 4, 3, 3],
    ]);
    const n = 4;
    const x = Float32Array.from(values(n * 75));
    expectClose(
      await runOnce(packed.bytes, x, [n, 3, 5, 5], 'b'),
      Array.from(await runOnce(bytes, x, [n, 3, 5, 5], 'b')),
      1e-5,
      true,
    );
  });

  it('leaves the model as it is when nothing packs', async () => {
    const { bytes, model } = await fixture('resnet');
    // Block 8 (AVX2): 8-channel layers fill it; block 1: no NCHWc kernels.
    for (const block of [8, 1]) {
      const same = packRecords(bytes, block);
      expect(same.factor).toBe(1);
      expect(same.bytes).toBe(bytes);
    }
    // A fixed batch that is no multiple of the factor (a derived graph of batch 3).
    const fixed = withRawInput(bytes, model, {
      inputName: 'input',
      layout: 'nchw',
      rawShape: [32, 32, 3],
      fixedBatch: 3,
    }).bytes;
    expect(packRecords(fixed, 16).bytes).toBe(fixed);
    // No convolution at all (the MLP).
    const mlp = await fixture('mlp');
    expect(packRecords(mlp.bytes, 16).bytes).toBe(mlp.bytes);
    // A graph output inside the packed layers comes back unpacked under its name.
    const withOut = withGraphOutputs(bytes, ['/block1/Relu_output_0']);
    const p = packRecords(withOut, 16);
    const exits = decodeOnnx(p.bytes, 'p').nodes.filter(
      (n) => n.opType === 'Reshape' && n.outputs[0] === '/block1/Relu_output_0',
    );
    expect(exits).toHaveLength(1);
  });

  it('packs the derived graph that OnnxModel runs on raw records (its own input, not the file’s)', async () => {
    const block = await nchwcBlockSize();
    const create = vi.spyOn(InferenceSession, 'create');
    const m = (await loadModel(join(ONNX_FIXTURES, 'resnet.onnx'))) as OnnxModel;
    try {
      const e = (await readOnnxExpectations()).resnet;
      const ds = imageRecords(e, [32, 32, 3], [...'0123456789']);
      const probs = await m.predictProba(ds);
      expectClose(probs, e.probabilities, 1e-5);
      // The sessions made for the raw records read `input_raw`: their graph is the packed one
      // wherever this CPU's block packs the fixture (16: its 8-channel layers two at a time).
      const graphs = create.mock.calls
        .map(([bytes]) => decodeOnnx(bytes as Uint8Array, 'session'))
        .filter((g) => g.inputs.some((i) => i.name === 'input_raw'));
      expect(graphs.length).toBeGreaterThan(0);
      for (const g of graphs) {
        const widths = g.nodes
          .filter((n) => n.opType === 'Conv')
          .map((n) => g.initializers.get(n.inputs[1]!)?.[0]);
        expect(widths.includes(8)).toBe(block !== 16);
      }
    } finally {
      create.mockRestore();
      m.dispose();
    }
  });

  it('asks ONNX Runtime for its channel block', async () => {
    const block = await nchwcBlockSize();
    expect([1, 4, 8, 16, 32]).toContain(block);
    expect(await nchwcBlockSize()).toBe(block);
  });
});
