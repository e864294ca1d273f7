/**
 * The ONNX protobuf, read and edited without code generation: the few messages Antidote reads
 * (model, graph, node, value info, tensor header), declared with protobufjs' reflection API from
 * the field numbers of the ONNX IR (https://onnx.ai/onnx/repo-docs/IR.html). Fields not declared
 * here (metadata, training info) are skipped when reading, and never lost when
 * editing: {@link withGraphOutputs} appends a graph fragment to the bytes, which protobuf's merge
 * rules join to the model's graph.
 */
import protobuf from 'protobufjs';
import { AntidoteError } from '../../errors.js';

/**
 * The ONNX messages Antidote reads and writes (protobufjs reflection JSON, package `onnx`): the
 * headers read here, and the tensor payloads and attributes the engine's importer reads
 * (`./onnx-tensors.ts`).
 */
export const ONNX_ROOT = protobuf.Root.fromJSON({
  nested: {
    onnx: {
      nested: {
        ModelProto: {
          fields: {
            irVersion: { type: 'int64', id: 1 },
            producerName: { type: 'string', id: 2 },
            producerVersion: { type: 'string', id: 3 },
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
            strings: { rule: 'repeated', type: 'bytes', id: 9 },
            type: { type: 'int32', id: 20 },
          },
        },
        TensorProto: {
          fields: {
            dims: { rule: 'repeated', type: 'int64', id: 1 },
            dataType: { type: 'int32', id: 2 },
            floatData: { rule: 'repeated', type: 'float', id: 4 },
            int32Data: { rule: 'repeated', type: 'int32', id: 5 },
            int64Data: { rule: 'repeated', type: 'int64', id: 7 },
            name: { type: 'string', id: 8 },
            rawData: { type: 'bytes', id: 9 },
            doubleData: { rule: 'repeated', type: 'double', id: 10 },
            dataLocation: { type: 'int32', id: 14 },
          },
        },
        ValueInfoProto: {
          fields: { name: { type: 'string', id: 1 }, type: { type: 'TypeProto', id: 2 } },
        },
        TypeProto: {
          fields: { tensorType: { type: 'TypeProtoTensor', id: 1 } },
        },
        TypeProtoTensor: {
          fields: {
            elemType: { type: 'int32', id: 1 },
            shape: { type: 'TensorShapeProto', id: 2 },
          },
        },
        TensorShapeProto: {
          fields: { dim: { rule: 'repeated', type: 'Dimension', id: 1 } },
        },
        Dimension: {
          fields: { dimValue: { type: 'int64', id: 1 }, dimParam: { type: 'string', id: 2 } },
        },
      },
    },
  },
});

const MODEL = ONNX_ROOT.lookupType('onnx.ModelProto');

/** One dimension of a value: a size, a symbolic name (`batch`), or unknown (`null`). */
export type ProtoDim = number | string | null;

/** A graph input or output as stored. */
export interface ProtoValueInfo {
  readonly name: string;
  /** ONNX `TensorProto.DataType` (1 = float32); 0 when not a tensor or unknown. */
  readonly elemType: number;
  /** `null` when the file records no shape. */
  readonly shape: readonly ProtoDim[] | null;
}

/** A node as stored (attributes: the numeric ones only). */
export interface ProtoNode {
  readonly name: string;
  readonly opType: string;
  /** `''` for the default ONNX domain (`ai.onnx`). */
  readonly domain: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly attributes: Readonly<Record<string, number | readonly number[]>>;
}

/** A decoded ONNX model: what Antidote reads of it. */
export interface ProtoModel {
  readonly irVersion: number;
  readonly producer: string;
  /** Operator sets, `domain -> version` (`''` for `ai.onnx`). */
  readonly opsets: Readonly<Record<string, number>>;
  readonly inputs: readonly ProtoValueInfo[];
  readonly outputs: readonly ProtoValueInfo[];
  readonly nodes: readonly ProtoNode[];
  /** Initializer (weight) names with their shapes. */
  readonly initializers: ReadonlyMap<string, readonly number[]>;
}

type Obj = Record<string, unknown>;

function list(v: unknown): Obj[] {
  return Array.isArray(v) ? (v as Obj[]) : [];
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

function num(v: unknown): number {
  return typeof v === 'number' ? v : 0;
}

function valueInfo(v: Obj): ProtoValueInfo {
  const tensor = (v.type as Obj | undefined)?.tensorType as Obj | undefined;
  const shape = tensor?.shape as Obj | undefined;
  return {
    name: str(v.name),
    elemType: num(tensor?.elemType),
    shape: shape
      ? list(shape.dim).map((d) =>
          typeof d.dimValue === 'number' ? d.dimValue : d.dimParam ? str(d.dimParam) : null,
        )
      : null,
  };
}

function node(n: Obj): ProtoNode {
  const attributes: Record<string, number | readonly number[]> = {};
  for (const a of list(n.attribute)) {
    const ints = a.ints as number[] | undefined;
    if (ints?.length) attributes[str(a.name)] = ints;
    else if (typeof a.i === 'number') attributes[str(a.name)] = a.i;
    else if (typeof a.f === 'number') attributes[str(a.name)] = a.f;
  }
  return {
    name: str(n.name),
    opType: str(n.opType),
    domain: str(n.domain),
    inputs: (n.input as string[] | undefined) ?? [],
    outputs: (n.output as string[] | undefined) ?? [],
    attributes,
  };
}

/**
 * The `ModelProto` of `bytes` as a plain object (every field of {@link ONNX_ROOT}, int64 as
 * numbers). `INVALID_FORMAT` naming `where` for bytes that are not protobuf or are truncated.
 */
export function decodeModelObject(bytes: Uint8Array, where: string): Record<string, unknown> {
  try {
    return MODEL.toObject(MODEL.decode(bytes), { longs: Number });
  } catch (e) {
    throw new AntidoteError(
      'INVALID_FORMAT',
      `${where} is not an ONNX model (cannot decode its protobuf: ${(e as Error).message})`,
      { path: where },
      { cause: e },
    );
  }
}

/**
 * Decodes an ONNX model file. `INVALID_FORMAT` naming `where` for bytes that are not an ONNX
 * model (not protobuf, truncated, or without a graph).
 */
export function decodeOnnx(bytes: Uint8Array, where: string): ProtoModel {
  const raw = decodeModelObject(bytes, where);
  const graph = raw.graph as Obj | undefined;
  if (!graph || list(graph.node).length === 0 || list(graph.input).length === 0) {
    throw new AntidoteError(
      'INVALID_FORMAT',
      `${where} is not an ONNX model: it holds no graph with inputs and nodes`,
      { path: where },
    );
  }
  const opsets: Record<string, number> = {};
  for (const o of list(raw.opsetImport)) opsets[str(o.domain)] = num(o.version);
  const initializers = new Map<string, number[]>();
  for (const t of list(graph.initializer)) {
    initializers.set(str(t.name), (t.dims as number[] | undefined) ?? []);
  }
  return {
    irVersion: num(raw.irVersion),
    producer: [str(raw.producerName), str(raw.producerVersion)].filter(Boolean).join(' '),
    opsets,
    inputs: list(graph.input).map(valueInfo),
    outputs: list(graph.output).map(valueInfo),
    nodes: list(graph.node).map(node),
    initializers,
  };
}

/**
 * The model `bytes` with `names` added as graph outputs (type left for the runtime to infer),
 * everything else byte for byte as it was: the encoded `ModelProto { graph { output … } }` is
 * appended, and protobuf merges a repeated embedded message field into the existing one.
 */
export function withGraphOutputs(bytes: Uint8Array, names: readonly string[]): Uint8Array {
  const extra = MODEL.encode(
    MODEL.fromObject({ graph: { output: names.map((name) => ({ name })) } }),
  ).finish();
  const out = new Uint8Array(bytes.length + extra.length);
  out.set(bytes, 0);
  out.set(extra, bytes.length);
  return out;
}
