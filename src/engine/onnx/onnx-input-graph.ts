/**
 * The preprocessing of an ONNX image model moved into its graph (issue 17, throughput): a
 * derived model whose new input reads Antidote's records as stored (HWC, float32, unnormalised)
 * and whose first nodes do what `OnnxModel.featurize` does in JavaScript. ONNX Runtime then runs
 * the preprocessing inside the session, on its threads, instead of a serial pass on the main
 * thread (docs/speed.md and docs/onnx.md, Benchmarks, give the costs of the variants):
 * - an NCHW input read by one `Conv` alone (a CNN's first layer): that convolution is **folded**
 *   onto the raw records. They are viewed as one channel of `H × (W·C)` values (a `Reshape`, no
 *   copy), a `Sub` of the per-channel `mean / scale` makes the normalised zero a raw zero (so the
 *   convolution's zero padding stays exact), and a new `Conv` whose kernel spans `kw · C` values
 *   at a stride of `sw · C` (the weights of channel `k` multiplied by `scale / std[k]`, the same
 *   bias) computes the old convolution's output. No transpose is left: the kernel reads the
 *   channels where they lie, and the whole preprocessing is one element-wise op that ONNX
 *   Runtime parallelises. In exact arithmetic this is the normalisation followed by the
 *   convolution; in float32 the results differ by rounding only (tested);
 * - any other NCHW input: `Transpose` to NCHW then one `BatchNormalization` (mean 0, variance 1,
 *   epsilon 0, scale `scale / std`, bias `−mean / std`: the per-channel normalisation), feeding
 *   the tensor that was the graph's input;
 * - NHWC and flat inputs: `Mul` and `Add` by constants of one record's shape.
 *
 * The user's file is never changed: the derived bytes live in memory. They are written by
 * copying the model's protobuf field by field (wire format, so that fields Antidote does not
 * declare in `./onnx-proto.ts` survive), dropping the old input from `graph.input` (and a folded
 * convolution's node, and its weights when nothing else reads them) and adding the new nodes,
 * constants and input; every other node reads what it read, under the same names. Activations
 * keep working: `withGraphOutputs` appends to these bytes as to the original (every tensor a
 * node produced is still produced; the data input itself is no layer).
 */
import { ONNX_FLOAT, ONNX_INT64 } from './onnx-graph.js';
import { ONNX_ROOT, type ProtoModel } from './onnx-proto.js';
import type { OnnxNormalization } from './onnx-sidecar.js';
import { decodeWeights, type OnnxNode, type OnnxTensor } from './onnx-tensors.js';
import { concatBytes, lengthDelimited, wireFields } from './onnx-wire.js';

const NODE = ONNX_ROOT.lookupType('onnx.NodeProto');
const TENSOR = ONNX_ROOT.lookupType('onnx.TensorProto');
const VALUE_INFO = ONNX_ROOT.lookupType('onnx.ValueInfoProto');

/** Field numbers (ONNX IR): `ModelProto.graph`, `GraphProto.node/initializer/input`. */
const MODEL_GRAPH = 7;
export const GRAPH_NODE = 1;
export const GRAPH_INITIALIZER = 5;
const GRAPH_INPUT = 11;
/** `TensorProto.name`. */
const TENSOR_NAME = 8;

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
  /**
   * Fold the transpose and the normalisation into the convolution that alone reads an NCHW
   * input, where it can (default `true`; see the module comment). `false` keeps the
   * `Transpose` + `BatchNormalization` nodes (for comparison: `bench/onnx.mjs`).
   */
  readonly foldFirstConv?: boolean;
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

/** The convolution {@link withRawInput} folds onto the raw records, as read from the file. */
interface FoldedConv {
  /** The node, with every attribute; its output keeps its name. */
  readonly node: OnnxNode;
  /** Its weights `[O, C, kh, kw]` (float32 values). */
  readonly weight: OnnxTensor & { readonly data: Float32Array };
  readonly strides: readonly [number, number];
  /** `[top, left, bottom, right]`. */
  readonly pads: readonly [number, number, number, number];
  /** Whether nothing else reads the weights (they leave the derived graph with the node). */
  readonly dropWeight: boolean;
}

/**
 * The graph's fragments (protobuf merges repeated `ModelProto.graph` fields) as wire fields.
 */
export function graphFields(bytes: Uint8Array): ReturnType<typeof wireFields> {
  return wireFields(bytes)
    .filter((f) => f.id === MODEL_GRAPH && f.body)
    .flatMap((f) => wireFields(f.body!));
}

/**
 * The model `bytes` with each fragment of its graph (protobuf merges repeated
 * `ModelProto.graph` fields) replaced by `graphOf` of it; every other field byte for byte.
 */
export function mapGraphFragments(
  bytes: Uint8Array,
  graphOf: (graph: Uint8Array) => Uint8Array,
): Uint8Array {
  return concatBytes(
    wireFields(bytes).map((f) =>
      f.id === MODEL_GRAPH && f.body
        ? lengthDelimited(f.id, graphOf(f.body))
        : bytes.subarray(f.start, f.end),
    ),
  );
}

/** The name of a stored `TensorProto`, read from its wire fields alone. */
export function tensorName(body: Uint8Array): string | undefined {
  const f = wireFields(body).find((g) => g.id === TENSOR_NAME && g.body);
  return f ? new TextDecoder().decode(f.body) : undefined;
}

/**
 * The convolution that alone reads the NCHW input `spec.inputName`, when it folds onto raw
 * records: a 2-D `Conv` of the default domain with the input as its data (and nothing else
 * reading the input, which is no graph output either), float32 weights stored as an initializer
 * (stored in the file, of a type Antidote reads) with `C` input channels, one group, no dilation
 * and explicit padding (no `auto_pad`). `undefined` otherwise: the transpose then stays. Only this node and its weights are decoded.
 */
function foldableConv(
  bytes: Uint8Array,
  model: ProtoModel,
  spec: RawInputSpec,
  channels: number,
): FoldedConv | undefined {
  const readers = model.nodes.filter((n) => n.inputs.includes(spec.inputName));
  const conv = readers[0];
  if (
    readers.length !== 1 ||
    !conv ||
    conv.opType !== 'Conv' ||
    conv.domain !== '' ||
    conv.inputs[0] !== spec.inputName ||
    conv.inputs.indexOf(spec.inputName, 1) !== -1 ||
    conv.outputs.length !== 1 ||
    model.outputs.some((o) => o.name === spec.inputName)
  ) {
    return undefined;
  }
  const weightName = conv.inputs[1] ?? '';
  if (!model.initializers.has(weightName)) return undefined;
  // A small model of the node and its weights, decoded with every attribute and value.
  const parts: Uint8Array[] = [];
  for (const f of graphFields(bytes)) {
    if (f.id === GRAPH_NODE && f.body) {
      const n = NODE.toObject(NODE.decode(f.body)) as { output?: string[] };
      if (n.output?.[0] === conv.outputs[0]) parts.push(lengthDelimited(GRAPH_NODE, f.body));
    } else if (f.id === GRAPH_INITIALIZER && f.body && tensorName(f.body) === weightName) {
      parts.push(lengthDelimited(GRAPH_INITIALIZER, f.body));
    }
  }
  let decoded: ReturnType<typeof decodeWeights>;
  try {
    decoded = decodeWeights(lengthDelimited(MODEL_GRAPH, concatBytes(parts)), 'conv');
  } catch {
    // Weights Antidote does not read (external data, float16): the transpose stays.
    return undefined;
  }
  const node = decoded.nodes[0];
  const weight = decoded.initializers.get(weightName);
  if (decoded.nodes.length !== 1 || !node || !(weight?.data instanceof Float32Array)) {
    return undefined;
  }
  const ints = (key: string): readonly number[] | undefined => {
    const a = node.attributes.get(key);
    return a?.kind === 'ints' ? a.value : undefined;
  };
  const group = node.attributes.get('group');
  const autoPad = node.attributes.get('auto_pad');
  const strides = ints('strides') ?? [1, 1];
  const pads = ints('pads') ?? [0, 0, 0, 0];
  if (
    weight.dims.length !== 4 ||
    weight.dims[1] !== channels ||
    (group !== undefined && !(group.kind === 'int' && group.value === 1)) ||
    (autoPad !== undefined && !(autoPad.kind === 'string' && autoPad.value === 'NOTSET')) ||
    (ints('dilations') ?? [1, 1]).some((d) => d !== 1) ||
    strides.length !== 2 ||
    pads.length !== 4
  ) {
    return undefined;
  }
  const readsWeight = (n: { inputs: readonly string[] }) => n.inputs.includes(weightName);
  return {
    node,
    weight: weight as OnnxTensor & { readonly data: Float32Array },
    strides: strides as [number, number],
    pads: pads as [number, number, number, number],
    dropWeight:
      model.nodes.filter(readsWeight).length === 1 &&
      !model.inputs.some((i) => i.name === weightName) &&
      !model.outputs.some((o) => o.name === weightName),
  };
}

/**
 * The nodes that fold the preprocessing into `conv` (see the module comment): `Reshape` of the
 * raw records to `[N, 1, H, W·C]`, `Sub` of the per-channel `mean / scale` (with a
 * normalisation), and the convolution with its kernel laid over the channels.
 */
function foldedSteps(
  conv: FoldedConv,
  spec: RawInputSpec,
  channels: number,
): { steps: Step[]; weightName: string } {
  const [h, w] = spec.rawShape as [number, number, number];
  const c = channels;
  const norm = spec.normalization;
  const steps: Step[] = [
    {
      op: 'Reshape',
      constants: [{ data: BigInt64Array.of(0n, 1n, BigInt(h), BigInt(w * c)), dims: [4] }],
    },
  ];
  // Channel k's scale / std[k] and mean[k] / scale, in float64 (rounded once, to float32).
  const gain = Float64Array.from({ length: c }, (_, k) =>
    norm ? norm.scale / (norm.std[k] ?? norm.std[0]!) : 1,
  );
  if (norm) {
    const offset = Float64Array.from(
      { length: c },
      (_, k) => (norm.mean[k] ?? norm.mean[0]!) / norm.scale,
    );
    steps.push({
      op: 'Sub',
      constants: [
        {
          data: Float32Array.from({ length: h * w * c }, (_, i) => offset[i % c]!),
          dims: [1, h, w * c],
        },
      ],
    });
  }
  const [o, , kh, kw] = conv.weight.dims as [number, number, number, number];
  const from = conv.weight.data;
  const weight = new Float32Array(from.length);
  // [O, C, kh, kw] → [O, 1, kh, kw·C]: channel k of kernel column j at j·C + k.
  for (let a = 0; a < o; a++) {
    for (let k = 0; k < c; k++) {
      for (let i = 0; i < kh; i++) {
        for (let j = 0; j < kw; j++) {
          weight[((a * kh + i) * kw + j) * c + k] =
            from[((a * c + k) * kh + i) * kw + j]! * gain[k]!;
        }
      }
    }
  }
  const [sh, sw] = conv.strides;
  const [pt, pl, pb, pr] = conv.pads;
  steps.push({
    op: 'Conv',
    constants: [{ data: weight, dims: [o, 1, kh, kw * c] }],
    // The bias, if any, as it was.
    inputs: conv.node.inputs.slice(2),
    attribute: [
      { name: 'kernel_shape', ints: [kh, kw * c], type: 7 },
      { name: 'strides', ints: [sh, sw * c], type: 7 },
      { name: 'pads', ints: [pt, pl * c, pb, pr * c], type: 7 },
    ],
    output: conv.node.outputs[0]!,
    ...(conv.node.name ? { name: conv.node.name } : {}),
  });
  return { steps, weightName: conv.weight.name };
}

/** One new node of the derived graph (see {@link withRawInput}). */
interface Step {
  readonly op: string;
  /** New initializers, inputs after the data. */
  readonly constants?: ReadonlyArray<{
    readonly data: Float32Array | BigInt64Array;
    readonly dims: number[];
  }>;
  /** Existing tensors, inputs after the constants. */
  readonly inputs?: readonly string[];
  readonly attribute?: ReadonlyArray<Record<string, unknown>>;
  /** The output's name (default: the next step's input, or the graph's data input). */
  readonly output?: string;
  /** The node's name (default: `antidote_<op>_input`). */
  readonly name?: string;
}

/**
 * The model `bytes` (decoded as `model`) with its data input replaced by one that reads raw
 * records (see the module comment): for an NCHW input, its convolution folded onto them
 * (`Reshape`, `Sub` with a normalisation, `Conv`: the convolution's output keeps its name) where
 * `spec.foldFirstConv` allows and the graph fits, else `Transpose` (perm 0, 3, 1, 2) and, when
 * `spec.normalization` is set, `BatchNormalization`; `Mul` and `Add` for the others, the last
 * node outputting `spec.inputName`. The new input is named `<input>_raw` (or a free variant).
 * Everything else is copied byte for byte.
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
  const steps: Step[] = [];
  const image = spec.layout !== 'flat';
  const channels = image ? spec.rawShape.at(-1)! : 1;
  const affine = spec.normalization ? affineOf(spec.normalization, channels) : undefined;
  const conv =
    spec.layout === 'nchw' && spec.foldFirstConv !== false
      ? foldableConv(bytes, model, spec, channels)
      : undefined;
  /** The folded convolution's output (its node leaves), and its weights when they leave too. */
  let droppedNode: string | undefined;
  let droppedWeight: string | undefined;
  if (conv) {
    const folded = foldedSteps(conv, spec, channels);
    steps.push(...folded.steps);
    droppedNode = conv.node.outputs[0];
    if (conv.dropWeight) droppedWeight = folded.weightName;
  } else if (affine && spec.layout !== 'nchw') {
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
  if (spec.layout === 'nchw' && !conv) {
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
    const to = step.output ?? (last ? spec.inputName : name(`${spec.inputName}_${op}`));
    const inputs = [from];
    for (const constant of step.constants ?? []) {
      const c = name(`${spec.inputName}_${op}_by`);
      inputs.push(c);
      const data = constant.data;
      constants.push(
        TENSOR.encode(
          TENSOR.fromObject(
            data instanceof BigInt64Array
              ? {
                  name: c,
                  dims: constant.dims,
                  dataType: ONNX_INT64,
                  int64Data: Array.from(data, (v) => v.toString()),
                }
              : { name: c, dims: constant.dims, dataType: ONNX_FLOAT, floatData: Array.from(data) },
          ),
        ).finish(),
      );
    }
    inputs.push(...(step.inputs ?? []));
    nodes.push(
      NODE.encode(
        NODE.fromObject({
          name: step.name ?? name(`antidote_${op}_input`),
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
      if (droppedNode !== undefined && f.id === GRAPH_NODE && f.body) {
        const node = NODE.toObject(NODE.decode(f.body)) as { output?: string[] };
        if (node.output?.[0] === droppedNode) continue;
      }
      if (droppedWeight !== undefined && f.id === GRAPH_INITIALIZER && f.body) {
        if (tensorName(f.body) === droppedWeight) continue;
      }
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
  return { bytes: mapGraphFragments(bytes, graphOf), inputName: rawName };
}
