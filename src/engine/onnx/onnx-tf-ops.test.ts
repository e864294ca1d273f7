import * as tf from '@tensorflow/tfjs-core';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { buildOnnx, type OnnxModelSpec, type OnnxNodeSpec } from '../../testing/onnx-build.js';
import { rejects } from '../../testing/rejects.js';
import { Rng } from '../../util/rng.js';
import { decodeOnnx } from './onnx-proto.js';
import { OnnxTfGraph } from './onnx-tf-graph.js';
import { ONNX_TF_OPS } from './onnx-tf-ops.js';
import { IMPORTED_OPS } from './onnx-tf-opset.js';

const rng = new Rng(17);

function values(n: number, scale = 1): number[] {
  return Array.from({ length: n }, () => rng.normal(0, scale));
}

function weight(name: string, dims: number[], scale = 0.5) {
  return {
    name,
    dims,
    values: values(
      dims.reduce((a, b) => a * b, 1),
      scale,
    ),
  };
}

/** ONNX Runtime's output `name` of `bytes` for the input `x`. */
async function runtime(bytes: Uint8Array, x: Float32Array, shape: number[], name: string) {
  const s = await InferenceSession.create(bytes);
  const r = await s.run({ input: new Tensor('float32', x, shape) }, [name]);
  const t = r[name]!;
  const out = { data: Float32Array.from(t.data as Float32Array), dims: [...t.dims] };
  await s.release();
  return out;
}

/** The test model: `nodes` from `input`, then `Flatten` of `last` to the output `[N, K]`. */
function spec(
  inputShape: number[],
  nodes: OnnxNodeSpec[],
  last: string,
  k: number | string,
  rest: Partial<OnnxModelSpec> = {},
): OnnxModelSpec {
  return {
    input: { name: 'input', shape: inputShape },
    outputs: [{ name: 'output', shape: [inputShape[0]!, k] }],
    nodes: [...nodes, { op: 'Flatten', inputs: [last], outputs: ['output'], attrs: { axis: 1 } }],
    ...rest,
  };
}

/**
 * Runs the model of `nodes` in ONNX Runtime and imported, on the same random input, and returns
 * the largest absolute difference of the output (relative to values above 1).
 */
async function compare(
  inputShape: number[],
  nodes: OnnxNodeSpec[],
  last: string,
  rest: Partial<OnnxModelSpec> = {},
): Promise<number> {
  const x = Float32Array.from(values(inputShape.reduce((a, b) => a * b, 1)));
  const probe = buildOnnx(spec(inputShape, nodes, last, 'k', rest));
  const want = await runtime(probe, x, inputShape, 'output');
  const bytes = buildOnnx(spec(inputShape, nodes, last, want.dims[1]!, rest));
  const graph = await OnnxTfGraph.import(bytes, decodeOnnx(bytes, 'test.onnx'), 'test.onnx');
  const got = tf.tidy(() => graph.run(tf.tensor(x, inputShape), 'output').dataSync());
  graph.dispose();
  expect(got.length).toBe(want.data.length);
  let worst = 0;
  for (let i = 0; i < got.length; i++) {
    const scale = Math.max(1, Math.abs(want.data[i]!));
    worst = Math.max(worst, Math.abs(got[i]! - want.data[i]!) / scale);
  }
  if (process.env.SHOW_DIFF) console.log(nodes.map((n) => n.op).join(','), worst, got.length);
  return worst;
}

const TOL = 1e-5;

describe('ONNX ops imported into TF.js, against ONNX Runtime', () => {
  it('lists exactly the ops it implements', () => {
    expect(Object.keys(ONNX_TF_OPS).sort()).toEqual([...IMPORTED_OPS]);
  });

  it('Conv: padding, strides, bias; groups with dilations; depthwise with auto_pad', async () => {
    const w1 = weight('w1', [4, 3, 3, 3]);
    const b1 = weight('b1', [4]);
    expect(
      await compare(
        [2, 3, 9, 9],
        [
          {
            op: 'Conv',
            inputs: ['input', 'w1', 'b1'],
            outputs: ['c'],
            attrs: { pads: [1, 0, 2, 1], strides: [2, 1], kernel_shape: [3, 3] },
          },
          { op: 'Relu', inputs: ['c'], outputs: ['r'] },
        ],
        'r',
        { initializers: [w1, b1] },
      ),
    ).toBeLessThanOrEqual(TOL);
    const wg = weight('wg', [6, 2, 3, 3]);
    expect(
      await compare(
        [2, 4, 9, 9],
        [
          {
            op: 'Conv',
            inputs: ['input', 'wg'],
            outputs: ['c'],
            attrs: { group: 2, dilations: [2, 2], pads: [2, 2, 2, 2] },
          },
        ],
        'c',
        { initializers: [wg] },
      ),
    ).toBeLessThanOrEqual(TOL);
    const wd = weight('wd', [6, 1, 3, 3]);
    expect(
      await compare(
        [2, 3, 8, 8],
        [
          {
            op: 'Conv',
            inputs: ['input', 'wd'],
            outputs: ['c'],
            attrs: { group: 3, auto_pad: 'SAME_UPPER', strides: [2, 2] },
          },
        ],
        'c',
        { initializers: [wd] },
      ),
    ).toBeLessThanOrEqual(TOL);
  });

  it('ConvTranspose with stride, pads and output padding', async () => {
    const w = weight('w', [3, 2, 3, 3]);
    const b = weight('b', [2]);
    expect(
      await compare(
        [2, 3, 5, 5],
        [
          {
            op: 'ConvTranspose',
            inputs: ['input', 'w', 'b'],
            outputs: ['c'],
            attrs: { strides: [2, 2], pads: [1, 1, 1, 1], output_padding: [1, 1] },
          },
        ],
        'c',
        { initializers: [w, b] },
      ),
    ).toBeLessThanOrEqual(TOL);
  });

  it('BatchNormalization and the activations', async () => {
    const bn = [
      weight('scale', [3]),
      weight('shift', [3]),
      weight('mean', [3]),
      { name: 'var', dims: [3], values: [0.5, 1.5, 2] },
    ];
    expect(
      await compare(
        [2, 3, 4, 4],
        [
          {
            op: 'BatchNormalization',
            inputs: ['input', 'scale', 'shift', 'mean', 'var'],
            outputs: ['b'],
            attrs: { epsilon: { float: 1e-3 } },
          },
          { op: 'LeakyRelu', inputs: ['b'], outputs: ['l'], attrs: { alpha: { float: 0.2 } } },
          { op: 'Sigmoid', inputs: ['l'], outputs: ['s'] },
          { op: 'Tanh', inputs: ['b'], outputs: ['t'] },
          { op: 'Add', inputs: ['s', 't'], outputs: ['o'] },
        ],
        'o',
        { initializers: bn },
      ),
    ).toBeLessThanOrEqual(TOL);
  });

  it('Gelu as PyTorch exports it (Div, Erf, Add, Mul), Pow, Sqrt, and the Gelu op', async () => {
    const c = (name: string, v: number) => ({ name, dims: [], values: [v] });
    expect(
      await compare(
        [3, 7],
        [
          { op: 'Div', inputs: ['input', 'sqrt2'], outputs: ['d'] },
          { op: 'Erf', inputs: ['d'], outputs: ['e'] },
          { op: 'Add', inputs: ['e', 'one'], outputs: ['a'] },
          { op: 'Mul', inputs: ['input', 'a'], outputs: ['m'] },
          { op: 'Mul', inputs: ['m', 'half'], outputs: ['g'] },
          { op: 'Pow', inputs: ['g', 'two'], outputs: ['p'] },
          { op: 'Add', inputs: ['p', 'one'], outputs: ['p1'] },
          { op: 'Sqrt', inputs: ['p1'], outputs: ['q'] },
          { op: 'Sub', inputs: ['q', 'g'], outputs: ['o'] },
        ],
        'o',
        { initializers: [c('sqrt2', Math.SQRT2), c('one', 1), c('half', 0.5), c('two', 2)] },
      ),
    ).toBeLessThanOrEqual(TOL);
    expect(
      await compare([3, 7], [{ op: 'Gelu', inputs: ['input'], outputs: ['g'] }], 'g', {
        opset: 20,
      }),
    ).toBeLessThanOrEqual(TOL);
  });

  it('MaxPool, AveragePool (with and without counted pads, ceil mode), global pools', async () => {
    const pools: OnnxNodeSpec[] = [
      {
        op: 'MaxPool',
        inputs: ['input'],
        outputs: ['m'],
        attrs: { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], ceil_mode: 1 },
      },
      {
        op: 'AveragePool',
        inputs: ['input'],
        outputs: ['a'],
        attrs: { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] },
      },
      {
        op: 'AveragePool',
        inputs: ['input'],
        outputs: ['ai'],
        attrs: { kernel_shape: [2, 2], strides: [2, 2], pads: [1, 0, 1, 0], count_include_pad: 1 },
      },
      {
        op: 'AveragePool',
        inputs: ['input'],
        outputs: ['ac'],
        attrs: { kernel_shape: [2, 2], strides: [2, 2], ceil_mode: 1 },
      },
      { op: 'GlobalAveragePool', inputs: ['input'], outputs: ['g'] },
      { op: 'GlobalMaxPool', inputs: ['input'], outputs: ['gm'] },
    ];
    for (const p of pools) {
      expect(await compare([2, 3, 7, 7], [p], p.outputs[0]!), p.op).toBeLessThanOrEqual(TOL);
    }
  });

  it('Gemm (transposes, alpha, beta), MatMul, Softmax on another axis', async () => {
    const w = weight('w', [5, 4]);
    const c = weight('c', [5]);
    const m = weight('m', [5, 6]);
    expect(
      await compare(
        [3, 4],
        [
          {
            op: 'Gemm',
            inputs: ['input', 'w', 'c'],
            outputs: ['g'],
            attrs: { transB: 1, alpha: { float: 0.5 }, beta: { float: 2 } },
          },
          { op: 'MatMul', inputs: ['g', 'm'], outputs: ['mm'] },
          { op: 'Softmax', inputs: ['mm'], outputs: ['s'], attrs: { axis: 0 } },
        ],
        's',
        { initializers: [w, c, m] },
      ),
    ).toBeLessThanOrEqual(TOL);
  });

  it('the flatten PyTorch exports (Shape, Gather, Unsqueeze, Concat, Reshape) after NHWC convs', async () => {
    const w = weight('w', [4, 2, 3, 3]);
    const idx = { name: 'zero', dims: [], values: [0], int64: true };
    const minus = { name: 'minus', dims: [1], values: [-1], int64: true };
    expect(
      await compare(
        [2, 2, 6, 5],
        [
          { op: 'Conv', inputs: ['input', 'w'], outputs: ['c'], attrs: { pads: [1, 1, 1, 1] } },
          { op: 'Shape', inputs: ['c'], outputs: ['sh'] },
          { op: 'Gather', inputs: ['sh', 'zero'], outputs: ['n'], attrs: { axis: 0 } },
          { op: 'Unsqueeze', inputs: ['n', 'axes'], outputs: ['n1'] },
          { op: 'Concat', inputs: ['n1', 'minus'], outputs: ['shape'], attrs: { axis: 0 } },
          { op: 'Reshape', inputs: ['c', 'shape'], outputs: ['r'] },
        ],
        'r',
        { initializers: [w, idx, minus, { name: 'axes', dims: [1], values: [0], int64: true }] },
      ),
    ).toBeLessThanOrEqual(TOL);
  });

  it('Transpose (NHWC input), channel Concat, Pad, Clip, Dropout, Identity, Squeeze, Unsqueeze', async () => {
    const w = weight('w', [3, 3, 1, 1]);
    expect(
      await compare(
        [2, 5, 4, 3],
        [
          { op: 'Transpose', inputs: ['input'], outputs: ['t'], attrs: { perm: [0, 3, 1, 2] } },
          { op: 'Conv', inputs: ['t', 'w'], outputs: ['c'] },
          { op: 'Concat', inputs: ['c', 't'], outputs: ['cat'], attrs: { axis: 1 } },
          { op: 'Pad', inputs: ['cat', 'pads', 'pv'], outputs: ['p'] },
          { op: 'Pad', inputs: ['p', 'pads2'], outputs: ['p2'], attrs: { mode: 'reflect' } },
          {
            op: 'Constant',
            inputs: [],
            outputs: ['lo'],
            attrs: { value: { tensor: { dims: [], values: [-0.5] } } },
          },
          { op: 'Clip', inputs: ['p2', 'lo', 'hi'], outputs: ['cl'] },
          { op: 'Dropout', inputs: ['cl'], outputs: ['dr'] },
          { op: 'Identity', inputs: ['dr'], outputs: ['id'] },
          { op: 'Unsqueeze', inputs: ['id', 'ax'], outputs: ['u'] },
          { op: 'Squeeze', inputs: ['u', 'ax'], outputs: ['sq'] },
          { op: 'Transpose', inputs: ['sq'], outputs: ['tt'], attrs: { perm: [0, 2, 3, 1] } },
        ],
        'tt',
        {
          initializers: [
            w,
            { name: 'pads', dims: [8], values: [0, 1, 2, 0, 0, 0, 1, 1], int64: true },
            { name: 'pads2', dims: [8], values: [0, 0, 1, 1, 0, 0, 1, 1], int64: true },
            { name: 'pv', dims: [], values: [0.25] },
            { name: 'hi', dims: [], values: [0.75] },
            { name: 'ax', dims: [1], values: [2], int64: true },
          ],
        },
      ),
    ).toBeLessThanOrEqual(TOL);
  });

  it('refuses an op it does not import, naming the op and the node', async () => {
    const bytes = buildOnnx(
      spec([2, 4], [{ op: 'Einsum', name: 'mix', inputs: ['input'], outputs: ['e'] }], 'e', 4),
    );
    await rejects(
      OnnxTfGraph.import(bytes, decodeOnnx(bytes, 'x.onnx'), 'x.onnx'),
      'INVALID_FORMAT',
      /x\.onnx: Antidote cannot compute gradients through op Einsum \(node mix\)/,
    );
  });
});
