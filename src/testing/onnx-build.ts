import protobuf from 'protobufjs';

/** An attribute value of {@link OnnxNodeSpec}: a number (int unless `float`), ints, floats, string. */
export type AttrSpec =
  | number
  | string
  | readonly number[]
  | { readonly float: number }
  | { readonly floats: readonly number[] }
  | { readonly tensor: TensorSpec };

/** A tensor: float32 values, or int64 ones when `int64`. */
export interface TensorSpec {
  readonly name?: string;
  readonly dims: readonly number[];
  readonly values: readonly number[] | Float32Array;
  readonly int64?: boolean;
}

/** One node of a test model. */
export interface OnnxNodeSpec {
  readonly op: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly name?: string;
  readonly domain?: string;
  readonly attrs?: Readonly<Record<string, AttrSpec>>;
}

/** A small ONNX model: one float input, float outputs, nodes and initializers. */
export interface OnnxModelSpec {
  readonly input: { readonly name: string; readonly shape: ReadonlyArray<number | string> };
  readonly outputs: ReadonlyArray<{
    readonly name: string;
    readonly shape: ReadonlyArray<number | string>;
  }>;
  readonly nodes: readonly OnnxNodeSpec[];
  readonly initializers?: readonly (TensorSpec & { readonly name: string })[];
  /** Default 13. */
  readonly opset?: number;
}

const ROOT = protobuf.Root.fromJSON({
  nested: {
    ModelProto: {
      fields: {
        irVersion: { type: 'int64', id: 1 },
        producerName: { type: 'string', id: 2 },
        graph: { type: 'GraphProto', id: 7 },
        opsetImport: { rule: 'repeated', type: 'OperatorSetIdProto', id: 8 },
      },
    },
    OperatorSetIdProto: {
      fields: { domain: { type: 'string', id: 1 }, version: { type: 'int64', id: 2 } },
    },
    GraphProto: {
      fields: {
        node: { rule: 'repeated', type: 'NodeProto', id: 1 },
        name: { type: 'string', id: 2 },
        initializer: { rule: 'repeated', type: 'TensorProto', id: 5 },
        input: { rule: 'repeated', type: 'ValueInfoProto', id: 11 },
        output: { rule: 'repeated', type: 'ValueInfoProto', id: 12 },
      },
    },
    NodeProto: {
      fields: {
        input: { rule: 'repeated', type: 'string', id: 1 },
        output: { rule: 'repeated', type: 'string', id: 2 },
        name: { type: 'string', id: 3 },
        opType: { type: 'string', id: 4 },
        attribute: { rule: 'repeated', type: 'AttributeProto', id: 5 },
        domain: { type: 'string', id: 7 },
      },
    },
    AttributeProto: {
      fields: {
        name: { type: 'string', id: 1 },
        f: { type: 'float', id: 2 },
        i: { type: 'int64', id: 3 },
        s: { type: 'bytes', id: 4 },
        t: { type: 'TensorProto', id: 5 },
        floats: { rule: 'repeated', type: 'float', id: 7 },
        ints: { rule: 'repeated', type: 'int64', id: 8 },
        type: { type: 'int32', id: 20 },
      },
    },
    TensorProto: {
      fields: {
        dims: { rule: 'repeated', type: 'int64', id: 1 },
        dataType: { type: 'int32', id: 2 },
        name: { type: 'string', id: 8 },
        rawData: { type: 'bytes', id: 9 },
      },
    },
    ValueInfoProto: {
      fields: { name: { type: 'string', id: 1 }, type: { type: 'TypeProto', id: 2 } },
    },
    TypeProto: { fields: { tensorType: { type: 'TypeProtoTensor', id: 1 } } },
    TypeProtoTensor: {
      fields: {
        elemType: { type: 'int32', id: 1 },
        shape: { type: 'TensorShapeProto', id: 2 },
      },
    },
    TensorShapeProto: { fields: { dim: { rule: 'repeated', type: 'Dimension', id: 1 } } },
    Dimension: {
      fields: { dimValue: { type: 'int64', id: 1 }, dimParam: { type: 'string', id: 2 } },
    },
  },
});

function tensor(t: TensorSpec): Record<string, unknown> {
  const raw = t.int64
    ? new Uint8Array(BigInt64Array.from(t.values, (v) => BigInt(v)).buffer)
    : new Uint8Array(Float32Array.from(t.values).buffer);
  return { dims: [...t.dims], dataType: t.int64 ? 7 : 1, name: t.name ?? '', rawData: raw };
}

function attribute(name: string, a: AttrSpec): Record<string, unknown> {
  if (typeof a === 'number') return { name, i: a, type: 2 };
  if (typeof a === 'string') return { name, s: new TextEncoder().encode(a), type: 3 };
  if (Array.isArray(a)) return { name, ints: [...a], type: 7 };
  if ('float' in a) return { name, f: a.float, type: 1 };
  if ('floats' in a) return { name, floats: [...a.floats], type: 6 };
  return { name, t: tensor((a as { tensor: TensorSpec }).tensor), type: 4 };
}

function valueInfo(v: { name: string; shape: ReadonlyArray<number | string> }) {
  return {
    name: v.name,
    type: {
      tensorType: {
        elemType: 1,
        shape: {
          dim: v.shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })),
        },
      },
    },
  };
}

/** Encodes `spec` as ONNX model bytes (IR 8), what an exporter would write. */
export function buildOnnx(spec: OnnxModelSpec): Uint8Array {
  const model = ROOT.lookupType('ModelProto');
  return model
    .encode(
      model.fromObject({
        irVersion: 8,
        producerName: 'antidote-test',
        opsetImport: [{ domain: '', version: spec.opset ?? 13 }],
        graph: {
          name: 'test',
          node: spec.nodes.map((n, k) => ({
            input: [...n.inputs],
            output: [...n.outputs],
            name: n.name ?? `${n.op}_${k}`,
            opType: n.op,
            domain: n.domain ?? '',
            attribute: Object.entries(n.attrs ?? {}).map(([name, a]) => attribute(name, a)),
          })),
          initializer: (spec.initializers ?? []).map(tensor),
          input: [valueInfo(spec.input)],
          output: spec.outputs.map(valueInfo),
        },
      }),
    )
    .finish();
}
