import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  candidateLayers,
  checkStandardOps,
  classifierOutput,
  dataInputs,
  defaultLayer,
  layoutOf,
  opCounts,
} from './onnx-graph.js';
import { decodeOnnx, type ProtoModel, type ProtoNode, withGraphOutputs } from './onnx-proto.js';

const FIXTURES = join(import.meta.dirname, 'fixtures');
const read = (name: string) => readFileSync(join(FIXTURES, name));

function node(opType: string, inputs: string[], outputs: string[], domain = ''): ProtoNode {
  return { name: `n-${outputs[0]}`, opType, domain, inputs, outputs, attributes: {} };
}

/** A linear model x -> Gemm -> [Softmax]: the smallest classifier. */
function linear(softmax: boolean, outShape: (number | string | null)[] = ['N', 3]): ProtoModel {
  const nodes = [node('Gemm', ['x', 'w', 'b'], [softmax ? 'z' : 'y'])];
  if (softmax) nodes.push(node('Softmax', ['z'], ['y']));
  return {
    irVersion: 8,
    producer: 'test',
    opsets: { '': 13 },
    inputs: [
      { name: 'x', elemType: 1, shape: ['N', 4] },
      { name: 'w', elemType: 1, shape: [3, 4] },
    ],
    outputs: [{ name: 'y', elemType: 1, shape: outShape }],
    nodes,
    initializers: new Map([
      ['w', [3, 4]],
      ['b', [3]],
    ]),
  };
}

describe('onnx graph', () => {
  it('reads the fixtures: inputs, outputs, op counts, layers', () => {
    const cnn = decodeOnnx(read('cnn.onnx'), 'cnn.onnx');
    expect(cnn.producer).toMatch(/^pytorch/);
    expect(cnn.opsets['']).toBe(13);
    expect(dataInputs(cnn)).toEqual([{ name: 'input', elemType: 1, shape: ['batch', 1, 28, 28] }]);
    expect(opCounts(cnn)).toEqual({
      Conv: 2,
      BatchNormalization: 2,
      Relu: 3,
      MaxPool: 2,
      Flatten: 1,
      Gemm: 2,
    });
    expect(candidateLayers(cnn)).toEqual([
      '/MaxPool_output_0',
      '/Flatten_output_0',
      '/Relu_2_output_0',
    ]);
    expect(defaultLayer(cnn)).toBe('/Relu_2_output_0');
    expect(classifierOutput(cnn, 'cnn.onnx')).toEqual({
      name: 'output',
      numClasses: 10,
      probabilities: false,
    });
    const mlp = decodeOnnx(read('mlp.onnx'), 'mlp.onnx');
    expect(classifierOutput(mlp, 'mlp.onnx').probabilities).toBe(true);
    expect(defaultLayer(mlp)).toBe('/Relu_output_0');
  });

  it('adds graph outputs without changing the rest of the file', () => {
    const bytes = read('mlp.onnx');
    const edited = withGraphOutputs(bytes, ['/Relu_output_0']);
    expect(Buffer.from(edited.subarray(0, bytes.length)).equals(bytes)).toBe(true);
    const m = decodeOnnx(edited, 'edited');
    expect(m.outputs.map((o) => o.name)).toEqual(['output', '/Relu_output_0']);
    expect(m.nodes).toEqual(decodeOnnx(bytes, 'mlp').nodes);
  });

  it('detects the layout from the record shape', () => {
    expect(layoutOf([1, 28, 28])).toBe('nchw');
    expect(layoutOf([3, 32, 32])).toBe('nchw');
    expect(layoutOf([28, 28, 1])).toBe('nhwc');
    expect(layoutOf([32, 32, 3])).toBe('nhwc');
    expect(layoutOf([3, 3, 3])).toBe('nhwc');
    expect(layoutOf([784])).toBe('flat');
    expect(layoutOf([4, 4])).toBeNull();
  });

  it('tells logits from probabilities and weights from data', () => {
    expect(classifierOutput(linear(true), 'm').probabilities).toBe(true);
    expect(classifierOutput(linear(false), 'm').probabilities).toBe(false);
    expect(dataInputs(linear(false)).map((i) => i.name)).toEqual(['x']);
    // A linear model has no representation layer before its Gemm.
    expect(defaultLayer(linear(false))).toBeUndefined();
  });

  it('refuses a graph without a classifier-like output, naming what it found', () => {
    for (const shape of [['N', 3, 2], ['N', 1], ['N', null], null]) {
      const m = { ...linear(false), outputs: [{ name: 'y', elemType: 1, shape }] };
      expect(() => classifierOutput(m as ProtoModel, 'm.onnx')).toThrow(
        /m\.onnx has no classifier-like output .*; its outputs are y \[/,
      );
    }
    const ints = { ...linear(false), outputs: [{ name: 'y', elemType: 7, shape: ['N', 3] }] };
    expect(() => classifierOutput(ints, 'm.onnx')).toThrow(/no classifier-like output/);
  });

  it('refuses custom operator domains, naming the node', () => {
    const m = linear(false);
    expect(() => checkStandardOps(m, 'm.onnx')).not.toThrow();
    const custom = { ...m, nodes: [...m.nodes, node('Evil', ['y'], ['z'], 'com.example')] };
    expect(() => checkStandardOps(custom, 'm.onnx')).toThrow(
      /m\.onnx uses the custom operator com\.example\.Evil \(node n-z\)/,
    );
    expect(opCounts(custom)).toEqual({ Gemm: 1, 'com.example.Evil': 1 });
  });
});
