/**
 * What importing an ONNX graph into the engine needs beyond `./onnx-proto.ts`: the tensor
 * payloads of the initializers and of `Constant` nodes, every node attribute (floats, strings,
 * tensors), and writing new initializer values back into the same bytes. Payloads are read from
 * `raw_data` (little-endian, what PyTorch writes) or the typed fields (`float_data`,
 * `int32_data`, `int64_data`, `double_data`); tensors stored outside the file (`data_location =
 * EXTERNAL`) are refused. Field numbers from https://onnx.ai/onnx/repo-docs/IR.html.
 */
import { AntidoteError } from '../../errors.js';
import { decodeModelObject, ONNX_ROOT } from './onnx-proto.js';
import { concatBytes, lengthDelimited, wireFields } from './onnx-wire.js';

const TENSOR = ONNX_ROOT.lookupType('onnx.TensorProto');

/** ONNX `TensorProto.DataType` values Antidote reads. */
export const ONNX_TYPES = {
  float: 1,
  uint8: 2,
  int8: 3,
  int32: 6,
  int64: 7,
  bool: 9,
  double: 11,
} as const;

/** A tensor with its values: floats as `Float32Array`, integers and booleans as numbers. */
export interface OnnxTensor {
  readonly name: string;
  readonly dims: readonly number[];
  /** ONNX data type (see {@link ONNX_TYPES}). */
  readonly dataType: number;
  /** Float tensors (float, double): `Float32Array`; integer and boolean tensors: `number[]`. */
  readonly data: Float32Array | readonly number[];
}

/** A node attribute, by ONNX attribute type. */
export type OnnxAttribute =
  | { readonly kind: 'float'; readonly value: number }
  | { readonly kind: 'int'; readonly value: number }
  | { readonly kind: 'string'; readonly value: string }
  | { readonly kind: 'tensor'; readonly value: OnnxTensor }
  | { readonly kind: 'floats'; readonly value: readonly number[] }
  | { readonly kind: 'ints'; readonly value: readonly number[] }
  | { readonly kind: 'strings'; readonly value: readonly string[] };

/** A node with all its attributes. */
export interface OnnxNode {
  readonly name: string;
  readonly opType: string;
  readonly domain: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly attributes: ReadonlyMap<string, OnnxAttribute>;
}

/** The nodes and the initializers of a graph, with their values. */
export interface OnnxWeights {
  readonly nodes: readonly OnnxNode[];
  readonly initializers: ReadonlyMap<string, OnnxTensor>;
}

type Obj = Record<string, unknown>;

const FLOAT_TYPES = new Set<number>([ONNX_TYPES.float, ONNX_TYPES.double]);
const INT_TYPES = new Set<number>([
  ONNX_TYPES.uint8,
  ONNX_TYPES.int8,
  ONNX_TYPES.int32,
  ONNX_TYPES.int64,
  ONNX_TYPES.bool,
]);

function numbers(v: unknown): number[] {
  return Array.isArray(v) ? v.map(Number) : [];
}

/** Values of a decoded `TensorProto`; `INVALID_FORMAT` for external or unsupported data. */
function tensorOf(t: Obj, where: string): OnnxTensor {
  const name = typeof t.name === 'string' ? t.name : '';
  const dims = numbers(t.dims);
  const dataType = typeof t.dataType === 'number' ? t.dataType : 0;
  const bad = (why: string) =>
    new AntidoteError('INVALID_FORMAT', `${where}: tensor ${name || '(unnamed)'} ${why}`, {
      path: where,
      tensor: name,
    });
  if (t.dataLocation === 1)
    throw bad('is stored in an external file, which Antidote does not read');
  const count = dims.reduce((a, b) => a * b, 1);
  const raw = t.rawData instanceof Uint8Array && t.rawData.length > 0 ? t.rawData : undefined;
  const view = raw ? new DataView(raw.buffer, raw.byteOffset, raw.byteLength) : undefined;
  let data: Float32Array | number[];
  if (FLOAT_TYPES.has(dataType)) {
    const double = dataType === ONNX_TYPES.double;
    if (view) {
      data = new Float32Array(count);
      for (let i = 0; i < count; i++) {
        data[i] = double ? view.getFloat64(i * 8, true) : view.getFloat32(i * 4, true);
      }
    } else {
      data = Float32Array.from(numbers(double ? t.doubleData : t.floatData));
    }
  } else if (INT_TYPES.has(dataType)) {
    if (view) {
      const width = { 2: 1, 3: 1, 6: 4, 7: 8, 9: 1 }[dataType as 2 | 3 | 6 | 7 | 9];
      data = Array.from({ length: count }, (_, i) => {
        const at = i * width;
        if (dataType === ONNX_TYPES.int64) return Number(view.getBigInt64(at, true));
        if (dataType === ONNX_TYPES.int32) return view.getInt32(at, true);
        return dataType === ONNX_TYPES.int8 ? view.getInt8(at) : view.getUint8(at);
      });
    } else {
      data = numbers(dataType === ONNX_TYPES.int64 ? t.int64Data : t.int32Data);
    }
  } else {
    throw bad(`has ONNX data type ${dataType}, which Antidote does not import`);
  }
  if (data.length !== count) throw bad(`holds ${data.length} values for its shape [${dims}]`);
  return { name, dims, dataType, data };
}

const decoder = new TextDecoder();

function attribute(a: Obj, where: string): OnnxAttribute | undefined {
  // AttributeProto.type: 1 FLOAT, 2 INT, 3 STRING, 4 TENSOR, 6 FLOATS, 7 INTS, 8 STRINGS.
  switch (a.type) {
    case 1:
      return { kind: 'float', value: Number(a.f ?? 0) };
    case 2:
      return { kind: 'int', value: Number(a.i ?? 0) };
    case 3:
      return {
        kind: 'string',
        value: decoder.decode((a.s as Uint8Array | undefined) ?? new Uint8Array()),
      };
    case 4:
      return { kind: 'tensor', value: tensorOf((a.t as Obj | undefined) ?? {}, where) };
    case 6:
      return { kind: 'floats', value: numbers(a.floats) };
    case 7:
      return { kind: 'ints', value: numbers(a.ints) };
    case 8:
      return {
        kind: 'strings',
        value: ((a.strings as Uint8Array[] | undefined) ?? []).map((s) => decoder.decode(s)),
      };
    default:
      return undefined;
  }
}

/**
 * The nodes (every attribute) and initializers (with values) of the ONNX model `bytes`.
 * `INVALID_FORMAT` naming `where` for bytes that do not decode, tensors stored externally or of
 * a data type Antidote does not read (strings, float16, complex).
 */
export function decodeWeights(bytes: Uint8Array, where: string): OnnxWeights {
  const raw = decodeModelObject(bytes, where);
  const graph = (raw.graph as Obj | undefined) ?? {};
  const initializers = new Map<string, OnnxTensor>();
  for (const t of (graph.initializer as Obj[] | undefined) ?? []) {
    const tensor = tensorOf(t, where);
    initializers.set(tensor.name, tensor);
  }
  const nodes = ((graph.node as Obj[] | undefined) ?? []).map((n): OnnxNode => {
    const attributes = new Map<string, OnnxAttribute>();
    for (const a of (n.attribute as Obj[] | undefined) ?? []) {
      const v = attribute(a, where);
      if (v) attributes.set(String(a.name ?? ''), v);
    }
    return {
      name: typeof n.name === 'string' ? n.name : '',
      opType: String(n.opType ?? ''),
      domain: typeof n.domain === 'string' ? n.domain : '',
      inputs: (n.input as string[] | undefined) ?? [],
      outputs: (n.output as string[] | undefined) ?? [],
      attributes,
    };
  });
  return { nodes, initializers };
}

/** A float32 `TensorProto` with its values replaced by `values` (as `raw_data`). */
function rewriteTensor(body: Uint8Array, values: Float32Array): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const f of wireFields(body)) {
    // float_data, raw_data and double_data go; everything else (dims, name, doc) stays as is.
    if (f.id !== 4 && f.id !== 9 && f.id !== 10) parts.push(body.subarray(f.start, f.end));
  }
  const raw = new Uint8Array(values.length * 4);
  const view = new DataView(raw.buffer);
  for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i]!, true);
  parts.push(lengthDelimited(9, raw));
  return concatBytes(parts);
}

/**
 * The ONNX model `bytes` with the initializers named in `values` holding those float32 values:
 * every other byte of the file (nodes, other initializers, metadata, fields Antidote does not
 * know) is kept as it was; a rewritten initializer keeps its fields but its payload, stored as
 * `raw_data`. `INVALID_ARGUMENT` naming `where` for a name that is not a float32 initializer
 * of the right size.
 */
export function withInitializerValues(
  bytes: Uint8Array,
  values: ReadonlyMap<string, Float32Array>,
  where: string,
): Uint8Array {
  const done = new Set<string>();
  const rewriteGraph = (graph: Uint8Array): Uint8Array =>
    concatBytes(
      wireFields(graph).map((f) => {
        const whole = graph.subarray(f.start, f.end);
        if (f.id !== 5 || !f.body) return whole;
        const t = TENSOR.decode(f.body) as unknown as Obj;
        const name = String(t.name ?? '');
        const v = values.get(name);
        if (!v) return whole;
        const dims = numbers(t.dims);
        const size = dims.reduce((a, b) => a * b, 1);
        if (t.dataType !== ONNX_TYPES.float || size !== v.length) {
          throw new AntidoteError(
            'INVALID_ARGUMENT',
            `${where}: initializer ${name} is not a float32 tensor of ${v.length} values`,
            { path: where, tensor: name },
          );
        }
        done.add(name);
        return lengthDelimited(5, rewriteTensor(f.body, v));
      }),
    );
  const out = concatBytes(
    wireFields(bytes).map((f) =>
      f.id === 7 && f.body
        ? lengthDelimited(7, rewriteGraph(f.body))
        : bytes.subarray(f.start, f.end),
    ),
  );
  const missing = [...values.keys()].filter((k) => !done.has(k));
  if (missing.length > 0) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `${where} has no initializer ${missing.join(', ')}`,
      { path: where, tensors: missing },
    );
  }
  return out;
}
