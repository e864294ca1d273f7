import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { defaultLayer } from './onnx-graph.js';
import { decodeOnnx, type ProtoModel, type ProtoNode } from './onnx-proto.js';
import {
  classifierHead,
  MAX_REPRESENTATION_WIDTH,
  representationLayer,
} from './onnx-representation.js';

const FIXTURES = join(import.meta.dirname, 'fixtures');
const fixture = (name: string) => decodeOnnx(readFileSync(join(FIXTURES, name)), name);

function node(
  opType: string,
  inputs: string[],
  output: string,
  attributes: ProtoNode['attributes'] = {},
): ProtoNode {
  return { name: `n-${output}`, opType, domain: '', inputs, outputs: [output], attributes };
}

/** A graph from `input` (`[N, ...inputShape]`) through `nodes` to the output `y` (`[N, 10]`). */
function graph(
  nodes: ProtoNode[],
  weights: Record<string, number[]>,
  inputShape: number[] = [1, 28, 28],
): ProtoModel {
  return {
    irVersion: 8,
    producer: 'test',
    opsets: { '': 13 },
    inputs: [{ name: 'input', elemType: 1, shape: ['N', ...inputShape] }],
    outputs: [{ name: 'y', elemType: 1, shape: ['N', 10] }],
    nodes,
    initializers: new Map(Object.entries(weights)),
  };
}

/** PyTorch's `Linear(i, o)`: Gemm with `transB = 1` and a weight `[o, i]`. */
const linear = (x: string, w: string, out: string) =>
  node('Gemm', [x, w, `${w}.b`], out, { transA: 0, transB: 1 });

describe('the default representation layer of an ONNX classifier', () => {
  it('is the input of the classifier head: the CNN fixtures read their flattened convolution features', () => {
    const cnn = fixture('cnn.onnx');
    expect(classifierHead(cnn).map((n) => n.inputs[0])).toEqual([
      '/Flatten_output_0',
      '/Relu_2_output_0',
    ]);
    expect(representationLayer(cnn)).toBe('/Flatten_output_0');
    // Fine-pruning's layer stays the last Gemm's input.
    expect(defaultLayer(cnn)).toBe('/Relu_2_output_0');
    expect(representationLayer(fixture('cnn-nhwc.onnx'))).toBe('/inner/Flatten_output_0');
  });

  it('is the last Gemm input where the head is one layer (ResNet, text) or starts at the records (MLP)', () => {
    for (const name of ['resnet.onnx', 'text.onnx', 'mlp.onnx']) {
      const m = fixture(name);
      expect(representationLayer(m), name).toBe(defaultLayer(m));
    }
    expect(representationLayer(fixture('mlp.onnx'))).toBe('/Relu_output_0');
    // An MLP on images reading its records through a Flatten: the Flatten is raw pixels, skipped.
    const m = graph(
      [
        node('Flatten', ['input'], 'flat'),
        linear('flat', 'w1', 'h'),
        node('Relu', ['h'], 'r'),
        linear('r', 'w2', 'y'),
      ],
      { w1: [64, 784], 'w1.b': [64], w2: [10, 64], 'w2.b': [10] },
    );
    expect(representationLayer(m)).toBe('r');
    // A linear model has no representation.
    const lin = graph([linear('input', 'w', 'y')], { w: [10, 784], 'w.b': [10] }, [784]);
    expect(representationLayer(lin)).toBeUndefined();
  });

  it('walks back through activations, dropout and bias adds, and passes a head input that is too wide', () => {
    const wide = MAX_REPRESENTATION_WIDTH + 1;
    // VGG-like: conv features wider than the cap, two hidden layers with ReLU and Dropout; the
    // first hidden layer's output (4,096 wide) is taken.
    const vgg = graph(
      [
        node('Conv', ['input', 'k'], 'c'),
        node('Flatten', ['c'], 'flat'),
        linear('flat', 'w1', 'h1'),
        node('Relu', ['h1'], 'r1'),
        node('Dropout', ['r1'], 'd1'),
        linear('d1', 'w2', 'h2'),
        node('Relu', ['h2'], 'r2'),
        linear('r2', 'w3', 'y'),
      ],
      {
        k: [wide, 1, 1, 1],
        w1: [MAX_REPRESENTATION_WIDTH, wide],
        'w1.b': [MAX_REPRESENTATION_WIDTH],
        w2: [64, MAX_REPRESENTATION_WIDTH],
        'w2.b': [64],
        w3: [10, 64],
        'w3.b': [10],
      },
    );
    expect(classifierHead(vgg)).toHaveLength(3);
    expect(representationLayer(vgg)).toBe('d1');
    // TensorFlow's export: MatMul (weight [in, out]) then a bias Add, on NHWC features.
    const tf = graph(
      [
        node('Conv', ['input', 'k'], 'c'),
        node('Reshape', ['c', 'shape'], 'flat'),
        node('MatMul', ['flat', 'w1'], 'm1'),
        node('Add', ['m1', 'b1'], 'a1'),
        node('Relu', ['a1'], 'r1'),
        node('MatMul', ['r1', 'w2'], 'm2'),
        node('Add', ['b2', 'm2'], 'y'),
      ],
      { k: [8, 1, 3, 3], shape: [2], w1: [1152, 32], b1: [32], w2: [32, 10], b2: [10] },
      [28, 28, 1],
    );
    expect(representationLayer(tf)).toBe('flat');
    // Every head input too wide: the last dense layer's input, as before.
    const tooWide = graph(
      [node('Conv', ['input', 'k'], 'c'), node('Flatten', ['c'], 'flat'), linear('flat', 'w', 'y')],
      { k: [wide, 1, 1, 1], w: [10, wide], 'w.b': [10] },
    );
    expect(representationLayer(tooWide)).toBe('flat');
  });

  it('stops the walk at an op that is not element-wise (a second branch, a pooling)', () => {
    const m = graph(
      [
        node('Conv', ['input', 'k'], 'c'),
        node('Flatten', ['c'], 'flat'),
        linear('flat', 'w1', 'h1'),
        node('Relu', ['h1'], 'r1'),
        node('Add', ['r1', 'flat2'], 'sum'),
        linear('sum', 'w2', 'y'),
      ],
      { k: [1, 1, 1, 1], w1: [32, 784], 'w1.b': [32], w2: [10, 32], 'w2.b': [10] },
    );
    expect(classifierHead(m)).toHaveLength(1);
    expect(representationLayer(m)).toBe('sum');
  });
});
