/**
 * The preprocessing of an ONNX image model moved into its graph (issue 17, throughput): a
 * derived model whose new input reads Antidote's records as stored (HWC, float32, unnormalised)
 * and whose first nodes do what `OnnxModel.featurize` does in JavaScript, feeding the tensor that
 * was the graph's input: for an NCHW input, `Transpose` to NCHW then one `BatchNormalization`
 * (mean 0, variance 1, epsilon 0, scale `scale / std`, bias `−mean / std`: the per-channel
 * normalisation); for NHWC and flat inputs, `Mul` and `Add` by constants of one record's shape.
 * ONNX Runtime then runs the preprocessing inside the session, on its threads, instead of a
 * serial pass on the main thread (docs/onnx.md, Benchmarks, gives the costs of the variants).
 *
 * The user's file is never changed: the derived bytes live in memory. They are written by
 * copying the model's protobuf field by field (wire format, so that fields Antidote does not
 * declare in `./onnx-proto.ts` survive), dropping the old input from `graph.input` and adding
 * the new nodes, constants and input; every node that read the old input reads it still, now
 * produced by the new nodes. Activations keep working: `withGraphOutputs` appends to these
 * bytes as to the original.
 */
import { ONNX_FLOAT } from './onnx-graph.js';
import { ONNX_ROOT, type ProtoModel } from './onnx-proto.js';
import type { OnnxNormalization } from './onnx-sidecar.js';
import { concatBytes, lengthDelimited, wireFields } from './onnx-wire.js';

const NODE = ONNX_ROOT.lookupType('onnx.NodeProto');
const TENSOR = ONNX_ROOT.lookupType('onnx.TensorProto');
const VALUE_INFO = ONNX_ROOT.lookupType('onnx.ValueInfoProto');

/** Field numbers (ONNX IR): `ModelProto.graph`, `GraphProto.node/initializer/input`. */
const MODEL_GRAPH = 7;
const GRAPH_NODE = 1;
const GRAPH_INITIALIZER = 5;
const GRAPH_INPUT = 11;

/** What {@link withRawInput} needs to know of the model's input and its preprocessing. */
export interface RawInputSpec {
  /** The graph's data input, which the new nodes now produce. */
  readonly inputName: string;
  /** `nchw` inserts the transpose; `nhwc` and `flat` read the records in their order. */
  readonly layout: 'nchw' | 'nhwc' | 'flat';
  /** One raw record's shape (HWC for images; `[D]` for flat inputs). */
  readonly rawShape: readonly number[];
  /** The input's fixed batch size, if the file fixes one (else a symbolic `batch`). */
  readonly fixedBatch?: number;
  /** The normalisation to put in the graph (none: transpose only). */
  readonly normalization?: OnnxNormalization;
}

/** A derived model: its bytes and the name of its input, which reads raw records. */
export interface RawInputModel {
  readonly bytes: Uint8Array;
  readonly inputName: string;
}

/**
 * Whether the graph takes the new nodes: numpy broadcasting of `Mul`/`Add` (opset ≥ 7) and
 * initializers that need not be listed as inputs (IR ≥ 4). Older files keep the JavaScript
 * preprocessing.
 */
export function takesRawInput(model: ProtoModel): boolean {
  return (model.opsets[''] ?? model.opsets['ai.onnx'] ?? 0) >= 7 && model.irVersion >= 4;
}

/**
 * The per-channel affine map of `norm` over `channels` channels, `v · scale[k] + shift[k]` with
 * `scale[k] = scale / std[k]` and `shift[k] = −mean[k] / std[k]` (computed in float64; a single
 * mean or std applies to every channel): `(v · scale − mean[k]) / std[k]` as two float32 ops.
 */
export function affineOf(
  norm: OnnxNormalization,
  channels: number,
): { scale: Float32Array; shift: Float32Array } {
  const scale = new Float32Array(channels);
  const shift = new Float32Array(channels);
  for (let k = 0; k < channels; k++) {
    const mean = norm.mean[k] ?? norm.mean[0]!;
    const std = norm.std[k] ?? norm.std[0]!;
    scale[k] = norm.scale / std;
    shift[k] = -mean / std;
  }
  return { scale, shift };
}

/** A name not among `taken`, starting with `base`. */
function fresh(base: string, taken: ReadonlySet<string>): string {
  let name = base;
  for (let i = 1; taken.has(name); i++) name = `${base}_${i}`;
  return name;
}

/**
 * The model `bytes` (decoded as `model`) with its data input replaced by one that reads raw
 * records (see the module comment): `Transpose` (perm 0, 3, 1, 2) and, when `spec.normalization`
 * is set, `BatchNormalization` for an NCHW input; `Mul` and `Add` for the others. The last node
 * outputs `spec.inputName`. The new input
 * is named `<input>_raw` (or a free variant). Everything else is copied byte for byte.
 */
export function withRawInput(
  bytes: Uint8Array,
  model: ProtoModel,
  spec: RawInputSpec,
): RawInputModel {
  const taken = new Set<string>([
    ...model.inputs.map((i) => i.name),
    ...model.outputs.map((o) => o.name),
    ...model.initializers.keys(),
    ...model.nodes.flatMap((n) => [...n.inputs, ...n.outputs, n.name]),
  ]);
  const name = (base: string) => {
    const s = fresh(base, taken);
    taken.add(s);
    return s;
  };
  const rawName = name(`${spec.inputName}_raw`);
  const nodes: Uint8Array[] = [];
  const constants: Uint8Array[] = [];
  interface Step {
    readonly op: string;
    readonly constants?: ReadonlyArray<{ readonly data: Float32Array; readonly dims: number[] }>;
    readonly attribute?: ReadonlyArray<Record<string, unknown>>;
  }
  const steps: Step[] = [];
  const image = spec.layout !== 'flat';
  const channels = image ? spec.rawShape.at(-1)! : 1;
  const affine = spec.normalization ? affineOf(spec.normalization, channels) : undefined;
  if (affine && spec.layout !== 'nchw') {
    // One value per element of a record: ONNX Runtime broadcasts it over the batch in runs of a
    // whole record. Per-channel constants of shape [C] made runs of C values, one call each, which
    // cost as much as the ResNet fixture's forward pass (docs/onnx.md, Benchmarks).
    const tile = (v: Float32Array): { data: Float32Array; dims: number[] } => {
      if (!image) return { data: v, dims: [v.length] };
      const size = spec.rawShape.reduce((a, b) => a * b, 1);
      return {
        data: Float32Array.from({ length: size }, (_, j) => v[j % channels]!),
        dims: [...spec.rawShape],
      };
    };
    steps.push({ op: 'Mul', constants: [tile(affine.scale)] });
    steps.push({ op: 'Add', constants: [tile(affine.shift)] });
  }
  if (spec.layout === 'nchw') {
    steps.push({ op: 'Transpose', attribute: [{ name: 'perm', ints: [0, 3, 1, 2], type: 7 }] });
    if (affine) {
      // NCHW: one BatchNormalization (mean 0, variance 1, epsilon 0) is the per-channel affine map
      // in one pass over the batch, in runs of a channel plane (cheaper than Mul and Add).
      const c = [channels];
      steps.push({
        op: 'BatchNormalization',
        constants: [
          { data: affine.scale, dims: c },
          { data: affine.shift, dims: c },
          { data: new Float32Array(channels), dims: c },
          { data: new Float32Array(channels).fill(1), dims: c },
        ],
        attribute: [{ name: 'epsilon', f: 0, type: 1 }],
      });
    }
  }
  let from = rawName;
  steps.forEach((step, i) => {
    const last = i === steps.length - 1;
    const op = step.op.toLowerCase();
    const to = last ? spec.inputName : name(`${spec.inputName}_${op}`);
    const inputs = [from];
    for (const constant of step.constants ?? []) {
      const c = name(`${spec.inputName}_${op}_by`);
      inputs.push(c);
      constants.push(
        TENSOR.encode(
          TENSOR.fromObject({
            name: c,
            dims: constant.dims,
            dataType: ONNX_FLOAT,
            floatData: Array.from(constant.data),
          }),
        ).finish(),
      );
    }
    nodes.push(
      NODE.encode(
        NODE.fromObject({
          name: name(`antidote_${op}_input`),
          opType: step.op,
          input: inputs,
          output: [to],
          ...(step.attribute ? { attribute: step.attribute } : {}),
        }),
      ).finish(),
    );
    from = to;
  });
  const batch =
    spec.fixedBatch !== undefined ? { dimValue: spec.fixedBatch } : { dimParam: 'batch' };
  const input = VALUE_INFO.encode(
    VALUE_INFO.fromObject({
      name: rawName,
      type: {
        tensorType: {
          elemType: ONNX_FLOAT,
          shape: { dim: [batch, ...spec.rawShape.map((d) => ({ dimValue: d }))] },
        },
      },
    }),
  ).finish();

  // A model may hold its graph in several fragments (protobuf merges them; `withGraphOutputs`
  // appends one): the new input and nodes go into the first, the old input leaves every one.
  let first = true;
  const graphOf = (graph: Uint8Array): Uint8Array => {
    const parts: Uint8Array[] = [];
    if (first) {
      parts.push(lengthDelimited(GRAPH_INPUT, input));
      // The new nodes first: the graph stays in topological order.
      for (const n of nodes) parts.push(lengthDelimited(GRAPH_NODE, n));
    }
    for (const f of wireFields(graph)) {
      if (f.id === GRAPH_INPUT && f.body) {
        const info = VALUE_INFO.toObject(VALUE_INFO.decode(f.body)) as { name?: string };
        if (info.name === spec.inputName) continue;
      }
      parts.push(graph.subarray(f.start, f.end));
    }
    if (first) for (const c of constants) parts.push(lengthDelimited(GRAPH_INITIALIZER, c));
    first = false;
    return concatBytes(parts);
  };
  const derived = concatBytes(
    wireFields(bytes).map((f) =>
      f.id === MODEL_GRAPH && f.body
        ? lengthDelimited(f.id, graphOf(f.body))
        : bytes.subarray(f.start, f.end),
    ),
  );
  return { bytes: derived, inputName: rawName };
}
