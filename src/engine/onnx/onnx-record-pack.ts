/**
 * Record packing of narrow convolutions (issue 17, ResNet throughput; docs/onnx.md, Benchmarks):
 * a rewrite of an ONNX graph, made before ONNX Runtime loads it, that computes `k` records'
 * narrow layers as one record of `k` times the channels, so that ONNX Runtime's CPU
 * convolutions fill their channel blocks.
 *
 * ONNX Runtime's CPU convolutions (MLAS, NCHWc layout at graph optimisation level `all`) work in
 * blocks of `B` output channels (8 with AVX2, 16 with AVX-512; {@link nchwcBlockSize} asks the
 * runtime). A convolution with `O < B` output channels computes `B` of them and throws `B − O`
 * away, and its output goes back to NCHW through a `ReorderOutput`. Padding such layers with
 * zero channels does not help: the next convolution then reads `B` input channels instead of
 * `O`, so the work doubles (measured: docs/onnx.md). Packing uses the wasted lanes instead.
 * With `k = B / O`, an NCHW tensor `[N, C, H, W]` is the tensor `[N/k, k·C, H, W]` without a copy
 * (record `k·i + a` is channels `a·C … a·C + C − 1` of packed record `i`), and
 * - a `Conv` (one group, weights stored as a float initializer) with `O` outputs and `C` inputs
 *   becomes one with `k·O` outputs and `k·C` inputs whose weights are block-diagonal (the old
 *   weights `k` times on the diagonal, zeros elsewhere) and whose bias repeats `k` times;
 * - a `Conv` of packed records with `O` a multiple of `B` outputs stays packed too (a wide layer
 *   after the narrow ones, as in a ResNet's next stage): with `C` a multiple of `B` as well, it
 *   becomes a grouped convolution of `k` groups (its weights `k` times, group `k`; ONNX Runtime
 *   runs a group of whole blocks in its NCHWc kernels, no zero multiplied); for `k = 2` with
 *   `2·C` a multiple of `B`, block-diagonal weights as above. Unpacking before it instead cost a
 *   `ReorderOutput` and a convolution reading NCHW input (MLAS's slower kernel for fewer input
 *   channels than a block): on the ResNet fixture the ops after the first block took 16.5 and
 *   17.9 µs per record so against 13.8 and 15.5 packed (ONNX Runtime's profiles, 1 thread, two
 *   alternated runs at load 9: an order, not times; docs/onnx.md gives the whole graph's cost);
 * - `BatchNormalization` repeats its per-channel parameters `k` times;
 * - element-wise ops of packed tensors (`Relu`, `Add`, …) and per-channel pooling (`MaxPool`,
 *   `AveragePool`, `GlobalAveragePool`) are unchanged.
 * A parameter may be the output of an `Identity` of an initializer (PyTorch's exporter stores two
 * equal parameters once): it is read as that initializer, and the `Identity` leaves the graph when
 * only packed nodes read it.
 * Zeros off the diagonal add exact zeros, so the packed graph computes the same values up to the
 * order of float32 additions (tested against PyTorch's recorded outputs). A packed region starts
 * at a `Conv` with `O < B` outputs, `B` a multiple of `O` (its input reshaped to `[N/k, k·C, H,
 * W]`), grows over the ops above, and ends with a `Reshape` back to `[N, C, H, W]` wherever an
 * op outside it or a graph output reads the tensor, under the tensor's original name (so
 * activations of any layer are unchanged): on the ResNet fixture, after the global pooling,
 * where a record is 16 values. Everything else is copied byte for byte.
 *
 * The packed graph needs a batch that is a multiple of {@link PackedModel.factor}:
 * `OnnxClassifier` pads its chunks with zero records and drops their outputs.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InferenceSession } from 'onnxruntime-node';
import { ONNX_FLOAT, ONNX_INT64 } from './onnx-graph.js';
import {
  GRAPH_INITIALIZER,
  GRAPH_NODE,
  graphFields,
  mapGraphFragments,
  tensorName,
} from './onnx-input-graph.js';
import { decodeOnnx, ONNX_ROOT, type ProtoModel } from './onnx-proto.js';
import { decodeWeights, type OnnxNode, type OnnxTensor } from './onnx-tensors.js';
import { concatBytes, lengthDelimited, wireFields } from './onnx-wire.js';

const MODEL = ONNX_ROOT.lookupType('onnx.ModelProto');
const NODE = ONNX_ROOT.lookupType('onnx.NodeProto');
const TENSOR = ONNX_ROOT.lookupType('onnx.TensorProto');
const VALUE_INFO = ONNX_ROOT.lookupType('onnx.ValueInfoProto');
const ATTRIBUTE = ONNX_ROOT.lookupType('onnx.AttributeProto');

/** Field numbers (ONNX IR): `GraphProto.value_info`, `NodeProto.input/output`. */
const GRAPH_VALUE_INFO = 13;
const NODE_INPUT = 1;
const NODE_OUTPUT = 2;
const NODE_ATTRIBUTE = 5;
/** `AttributeProto.AttributeType.INT`. */
const ATTRIBUTE_INT = 2;

/** Element-wise ops of one input that act on each value alone (any attributes). */
const UNARY = new Set([
  'Relu',
  'LeakyRelu',
  'PRelu',
  'Sigmoid',
  'HardSigmoid',
  'HardSwish',
  'Tanh',
  'Elu',
  'Selu',
  'Softplus',
  'Gelu',
  'Identity',
  'Dropout',
  'Clip',
]);
/** Element-wise ops of several inputs, each packed alike. */
const ELEMENTWISE = new Set(['Add', 'Sub', 'Mul', 'Div', 'Max', 'Min', 'Sum', 'Mean']);
/** Pooling over each channel's plane alone. */
const POOL = new Set([
  'MaxPool',
  'AveragePool',
  'LpPool',
  'GlobalAveragePool',
  'GlobalMaxPool',
  'GlobalLpPool',
]);

/** A model rewritten by {@link packRecords}. */
export interface PackedModel {
  readonly bytes: Uint8Array;
  /**
   * The batch sizes the packed graph takes are the multiples of `factor` (1: the model is
   * unchanged).
   */
  readonly factor: number;
}

/** How one tensor is packed: `k` records per packed record, `channels` per record. */
interface Packing {
  readonly k: number;
  readonly channels: number;
  /** The packed tensor's name. */
  readonly name: string;
}

/** A name not among `taken`, starting with `base` (added to `taken`). */
function fresh(base: string, taken: Set<string>): string {
  let name = base;
  for (let i = 1; taken.has(name); i++) name = `${base}_${i}`;
  taken.add(name);
  return name;
}

/** The `group` of a convolution (1 when absent). */
function groupOf(node: OnnxNode): number {
  const g = node.attributes.get('group');
  return g?.kind === 'int' ? g.value : 1;
}

/** `w` `[O, C, kh, kw]` as the block-diagonal `[k·O, k·C, kh, kw]` of `k` copies. */
function blockDiagonal(w: Float32Array, dims: readonly number[], k: number): Float32Array {
  const [o, c, kh, kw] = dims as [number, number, number, number];
  const plane = kh * kw;
  const out = new Float32Array(k * o * k * c * plane);
  for (let a = 0; a < k; a++) {
    for (let i = 0; i < o; i++) {
      for (let j = 0; j < c; j++) {
        const from = (i * c + j) * plane;
        const to = ((a * o + i) * k * c + a * c + j) * plane;
        out.set(w.subarray(from, from + plane), to);
      }
    }
  }
  return out;
}

/** `v` repeated `k` times. */
function tiled(v: Float32Array, k: number): Float32Array {
  const out = new Float32Array(v.length * k);
  for (let a = 0; a < k; a++) out.set(v, a * v.length);
  return out;
}

/** A float32 tensor of `value`, as an initializer's bytes. */
function floatTensor(name: string, dims: readonly number[], value: Float32Array): Uint8Array {
  const raw = new Uint8Array(
    value.buffer.slice(value.byteOffset, value.byteOffset + value.byteLength),
  );
  return TENSOR.encode(
    TENSOR.fromObject({ name, dims: [...dims], dataType: ONNX_FLOAT, rawData: raw }),
  ).finish();
}

/** A node body with its inputs and outputs replaced (every other field byte for byte). */
function withIo(
  body: Uint8Array,
  inputs: readonly string[],
  outputs: readonly string[],
): Uint8Array {
  const parts = wireFields(body)
    .filter((f) => f.id !== NODE_INPUT && f.id !== NODE_OUTPUT)
    .map((f) => body.subarray(f.start, f.end));
  const enc = new TextEncoder();
  for (const s of inputs) parts.push(lengthDelimited(NODE_INPUT, enc.encode(s)));
  for (const s of outputs) parts.push(lengthDelimited(NODE_OUTPUT, enc.encode(s)));
  return concatBytes(parts);
}

/** A node body with its `group` attribute set to `group` (every other field byte for byte). */
function withGroup(body: Uint8Array, group: number): Uint8Array {
  const parts = wireFields(body)
    .filter(
      (f) =>
        f.id !== NODE_ATTRIBUTE ||
        !f.body ||
        (ATTRIBUTE.toObject(ATTRIBUTE.decode(f.body)) as { name?: string }).name !== 'group',
    )
    .map((f) => body.subarray(f.start, f.end));
  const attr = ATTRIBUTE.encode(
    ATTRIBUTE.fromObject({ name: 'group', type: ATTRIBUTE_INT, i: group }),
  ).finish();
  parts.push(lengthDelimited(NODE_ATTRIBUTE, attr));
  return concatBytes(parts);
}

/** The float32 initializer `name`, if it is one. */
function floatInit(
  inits: ReadonlyMap<string, OnnxTensor>,
  name: string | undefined,
): (OnnxTensor & { readonly data: Float32Array }) | undefined {
  const t = name === undefined ? undefined : inits.get(name);
  return t && t.dataType === ONNX_FLOAT && t.data instanceof Float32Array
    ? (t as OnnxTensor & { readonly data: Float32Array })
    : undefined;
}

/**
 * Whether `model` (headers only) has a convolution that {@link packRecords} would pack for a
 * channel block of `block`: a 4-D weight initializer read by a `Conv` as its weights, with
 * fewer output channels than `block` and `block` a multiple of them.
 */
function hasCandidate(model: ProtoModel, block: number): boolean {
  return model.nodes.some((n) => {
    if (n.opType !== 'Conv' || n.domain !== '') return false;
    const dims = model.initializers.get(n.inputs[1] ?? '');
    const o = dims?.[0];
    return dims?.length === 4 && o !== undefined && o < block && block % o === 0;
  });
}

/**
 * The model `bytes` with its narrow convolutions packed for ONNX Runtime's channel block `block`
 * (see the module comment); `{ bytes, factor: 1 }` (the same bytes) when nothing packs, when the
 * input's batch is fixed to a size that is no multiple of the factor, when the opset is below 5
 * (`Reshape` reading its shape as an input), or when the bytes do not decode. The graph's inputs,
 * outputs and initializers are read from `bytes` themselves: a model decoded from other bytes
 * (the user's file, for a derived graph with another input) would find nothing to pack.
 */
export function packRecords(bytes: Uint8Array, block: number): PackedModel {
  const same = { bytes, factor: 1 };
  if (block < 2) return same;
  let model: ProtoModel;
  try {
    model = decodeOnnx(bytes, 'model');
  } catch {
    return same;
  }
  const opset = model.opsets[''] ?? model.opsets['ai.onnx'] ?? 0;
  if (opset < 5 || model.irVersion < 4 || !hasCandidate(model, block)) return same;
  let weights: ReturnType<typeof decodeWeights>;
  try {
    weights = decodeWeights(bytes, 'model');
  } catch {
    return same;
  }
  const inits = weights.initializers;
  /**
   * Initializers and the outputs of `Identity` nodes of one (PyTorch's exporter stores a
   * parameter equal to another once, the second as an `Identity` of the first), for the
   * parameters of the nodes to pack; `aliases` maps such an output to the initializer.
   */
  const params = new Map(inits);
  const aliases = new Map<string, string>();
  for (const node of weights.nodes) {
    const [from] = node.inputs;
    const [to] = node.outputs;
    if (node.opType !== 'Identity' || node.domain !== '' || !from || !to) continue;
    const t = inits.get(from);
    if (t && !inits.has(to)) {
      params.set(to, t);
      aliases.set(to, from);
    }
  }
  const taken = new Set<string>([
    ...model.inputs.map((i) => i.name),
    ...model.outputs.map((o) => o.name),
    ...inits.keys(),
    ...weights.nodes.flatMap((n) => [...n.inputs, ...n.outputs, n.name]),
  ]);

  // Pass 1: which node runs packed, with which factor, and its new inputs.
  const packed = new Map<string, Packing>();
  /** Per node: the packing of its outputs and its rewritten inputs, or nothing (unchanged). */
  const plans: Array<
    | {
        readonly k: number;
        readonly channels: number;
        readonly inputs: string[];
        /** Input tensors read unpacked and packed by a new `Reshape` (name → packed name). */
        readonly entries: Array<{ from: string; to: string; channels: number }>;
        readonly constants: Uint8Array[];
        /** A convolution's new `group` attribute (a grouped convolution of packed records). */
        readonly group?: number;
      }
    | undefined
  > = [];
  const shapeConst = new Map<string, string>();
  const newConstants: Uint8Array[] = [];
  /** The name of an int64 `[-1, channels, 0, 0]` constant (Reshape keeps H and W). */
  const shapeOf = (channels: number): string => {
    const key = String(channels);
    let name = shapeConst.get(key);
    if (!name) {
      name = fresh(`antidote_pack_shape_${channels}`, taken);
      shapeConst.set(key, name);
      newConstants.push(
        TENSOR.encode(
          TENSOR.fromObject({
            name,
            dims: [4],
            dataType: ONNX_INT64,
            int64Data: ['-1', String(channels), '0', '0'],
          }),
        ).finish(),
      );
    }
    return name;
  };
  // The tensors computed from the data (a convolution of constants has no batch to pack).
  const fromData = new Set(model.inputs.filter((i) => !inits.has(i.name)).map((i) => i.name));
  for (const node of weights.nodes) {
    if (node.inputs.some((i) => fromData.has(i))) for (const o of node.outputs) fromData.add(o);
    const plan = planNode(node);
    plans.push(plan);
    if (plan) {
      node.outputs.forEach((out) => {
        packed.set(out, {
          k: plan.k,
          channels: plan.channels,
          name: fresh(`${out}_packed${plan.k}`, taken),
        });
      });
    }
  }
  if (packed.size === 0) return same;
  const factor = Math.max(...[...packed.values()].map((p) => p.k));
  const dataInputs = model.inputs.filter((i) => !inits.has(i.name));
  for (const input of dataInputs) {
    const fixed = input.shape?.[0];
    if (typeof fixed === 'number' && fixed > 0 && fixed % factor !== 0) return same;
  }

  /**
   * A convolution of `o` outputs (a multiple of the block) reading `c` channels of packed
   * records: it stays in the packed region, so the records are unpacked later, where the tensor
   * is smaller (after pooling), instead of being read back in NCHW here. With `c` a multiple of
   * the block too, a grouped convolution of `k` groups (the weights `k` times; each group is a
   * multiple of the block, which ONNX Runtime runs in its NCHWc kernels, no zero multiplied);
   * else, for two records whose `2·c` inputs fill blocks, the block-diagonal weights (twice the
   * products, half of them zeros: still faster than unpacking here on the ResNet fixture; with
   * more records the zeros would outnumber the products, so such a layer unpacks).
   */
  function widePlan(
    w: OnnxTensor & { readonly data: Float32Array },
    bias: (OnnxTensor & { readonly data: Float32Array }) | undefined,
    from: Packing,
    o: number,
    c: number,
  ): (typeof plans)[number] {
    const { k } = from;
    const grouped = c % block === 0;
    // Block-diagonal weights multiply `k` times the products: measured a gain at k = 2 only.
    if (!grouped && (k !== 2 || (k * c) % block !== 0)) return undefined;
    const [kh, kw] = [w.dims[2]!, w.dims[3]!];
    const wName = fresh(`${w.name}_packed${k}`, taken);
    const constants = [
      grouped
        ? floatTensor(wName, [k * o, c, kh, kw], tiled(w.data, k))
        : floatTensor(wName, [k * o, k * c, kh, kw], blockDiagonal(w.data, w.dims, k)),
    ];
    const inputs = [from.name, wName];
    if (bias) {
      const bName = fresh(`${bias.name}_packed${k}`, taken);
      constants.push(floatTensor(bName, [k * o], tiled(bias.data, k)));
      inputs.push(bName);
    }
    return { k, channels: o, inputs, entries: [], constants, ...(grouped ? { group: k } : {}) };
  }

  function planNode(node: OnnxNode): (typeof plans)[number] {
    if (node.domain !== '' || node.outputs.length !== 1) return undefined;
    const op = node.opType;
    const inOf = (name: string | undefined) => (name ? packed.get(name) : undefined);
    if (op === 'Conv') {
      const w = floatInit(params, node.inputs[1]);
      const biasName = node.inputs[2];
      const bias = biasName ? floatInit(params, biasName) : undefined;
      if (w?.dims.length !== 4 || groupOf(node) !== 1 || (biasName && !bias)) return undefined;
      if (node.inputs.length > 3) return undefined;
      const [o, c] = w.dims as [number, number];
      const src = node.inputs[0]!;
      if (!fromData.has(src)) return undefined;
      const from = inOf(src);
      if (!(o < block && block % o === 0)) {
        return from && from.channels === c && o % block === 0
          ? widePlan(w, bias, from, o, c)
          : undefined;
      }
      const k = block / o;
      const constants: Uint8Array[] = [];
      const wName = fresh(`${w.name}_packed${k}`, taken);
      constants.push(
        floatTensor(
          wName,
          [k * o, k * c, w.dims[2]!, w.dims[3]!],
          blockDiagonal(w.data, w.dims, k),
        ),
      );
      const inputs = ['', wName];
      if (bias) {
        const bName = fresh(`${bias.name}_packed${k}`, taken);
        constants.push(floatTensor(bName, [k * o], tiled(bias.data, k)));
        inputs.push(bName);
      }
      const entries: Array<{ from: string; to: string; channels: number }> = [];
      if (from && from.k === k && from.channels === c) {
        inputs[0] = from.name;
      } else {
        const to = fresh(`${src}_pack${k}`, taken);
        entries.push({ from: src, to, channels: k * c });
        inputs[0] = to;
      }
      return { k, channels: o, inputs, entries, constants };
    }
    const first = inOf(node.inputs[0]);
    if (!first) return undefined;
    const { k, channels } = first;
    if (UNARY.has(op)) {
      // Extra inputs (Clip's bounds, PRelu's slope) must be scalars, read as they are.
      if (op === 'PRelu') {
        const slope = floatInit(params, node.inputs[1]);
        if (slope?.data.length !== 1) return undefined;
      }
      if (op === 'Dropout' && node.inputs.length > 1) return undefined;
      if (op === 'Clip') {
        for (const b of node.inputs.slice(1)) {
          if (b !== '' && (floatInit(params, b)?.data.length ?? 0) !== 1) return undefined;
        }
      }
      return {
        k,
        channels,
        inputs: [first.name, ...node.inputs.slice(1)],
        entries: [],
        constants: [],
      };
    }
    if (ELEMENTWISE.has(op)) {
      const all = node.inputs.map(inOf);
      if (all.some((p) => !p || p.k !== k || p.channels !== channels)) return undefined;
      return { k, channels, inputs: all.map((p) => p!.name), entries: [], constants: [] };
    }
    if (POOL.has(op)) {
      return { k, channels, inputs: [first.name], entries: [], constants: [] };
    }
    if (op === 'BatchNormalization' && node.inputs.length === 5) {
      const bn = node.inputs.slice(1).map((p) => floatInit(params, p));
      if (bn.some((p) => !p || p.data.length !== channels)) return undefined;
      const constants: Uint8Array[] = [];
      const names = bn.map((p) => {
        const name = fresh(`${p!.name}_packed${k}`, taken);
        constants.push(floatTensor(name, [k * channels], tiled(p!.data, k)));
        return name;
      });
      return { k, channels, inputs: [first.name, ...names], entries: [], constants };
    }
    return undefined;
  }

  // Pass 2: the packed tensors read unpacked (by other nodes or as graph outputs) get an exit.
  const unpackedReads = new Set<string>(model.outputs.map((o) => o.name));
  const isAlias = (node: OnnxNode) => aliases.has(node.outputs[0] ?? '');
  weights.nodes.forEach((node, i) => {
    const plan = plans[i];
    if (!plan) {
      if (!isAlias(node)) for (const input of node.inputs) unpackedReads.add(input);
    } else for (const e of plan.entries) unpackedReads.add(e.from);
  });
  // An alias that only packed nodes read as a parameter (now a repeated copy) leaves.
  const readByPlans = new Set(plans.flatMap((p) => p?.inputs ?? []));
  const dropped = new Set<number>();
  weights.nodes.forEach((node, i) => {
    if (plans[i] || !isAlias(node)) return;
    const out = node.outputs[0]!;
    if (unpackedReads.has(out) || readByPlans.has(out)) unpackedReads.add(node.inputs[0]!);
    else dropped.add(i);
  });

  const nodes: Uint8Array[] = [];
  const bodies = graphNodeBodies(bytes);
  if (bodies.length !== weights.nodes.length) return same;
  const reshape = (from: string, to: string, channels: number): Uint8Array =>
    NODE.encode(
      NODE.fromObject({
        name: fresh(`antidote_pack_${to}`, taken),
        opType: 'Reshape',
        input: [from, shapeOf(channels)],
        output: [to],
      }),
    ).finish();
  weights.nodes.forEach((node, i) => {
    const plan = plans[i];
    const body = bodies[i]!;
    if (dropped.has(i)) return;
    if (!plan) {
      nodes.push(body);
      return;
    }
    for (const e of plan.entries) nodes.push(reshape(e.from, e.to, e.channels));
    newConstants.push(...plan.constants);
    const outs = node.outputs.map((o) => packed.get(o)!.name);
    const io = withIo(body, plan.inputs, outs);
    nodes.push(plan.group === undefined ? io : withGroup(io, plan.group));
    for (const o of node.outputs) {
      if (unpackedReads.has(o)) nodes.push(reshape(packed.get(o)!.name, o, plan.channels));
    }
  });
  /** Tensors that no longer exist under their name: their value_info leaves too. */
  const gone = new Set([...packed.keys()].filter((o) => !unpackedReads.has(o)));
  for (const i of dropped) gone.add(weights.nodes[i]!.outputs[0]!);
  // The weights the packed nodes replaced leave when nothing else reads them (ONNX Runtime
  // warns of unused initializers).
  const stillRead = new Set<string>([...unpackedReads, ...readByPlans]);
  for (const i of model.inputs) stillRead.add(i.name);
  weights.nodes.forEach((node, i) => {
    if (!plans[i] && !dropped.has(i)) return;
    for (const input of node.inputs) if (inits.has(input) && !stillRead.has(input)) gone.add(input);
  });
  // An exit's batch is the input's: said in value_info, so that ONNX Runtime sees equal shapes
  // where the original graph had them (it fuses a residual Add into the convolution then).
  const batch = dataInputs[0]?.shape?.[0];
  const infos: Uint8Array[] = [];
  /** The exits given a value_info here (one stored before is replaced). */
  const exits = new Set<string>();
  if (typeof batch === 'string' && batch !== '') {
    weights.nodes.forEach((node, i) => {
      const plan = plans[i];
      if (!plan) return;
      for (const o of node.outputs) {
        if (!unpackedReads.has(o)) continue;
        exits.add(o);
        infos.push(
          VALUE_INFO.encode(
            VALUE_INFO.fromObject({
              name: o,
              type: {
                tensorType: {
                  elemType: ONNX_FLOAT,
                  shape: { dim: [{ dimParam: batch }, { dimValue: plan.channels }, {}, {}] },
                },
              },
            }),
          ).finish(),
        );
      }
    });
  }
  let first = true;
  const graphOf = (graph: Uint8Array): Uint8Array => {
    const parts: Uint8Array[] = [];
    if (first) for (const n of nodes) parts.push(lengthDelimited(GRAPH_NODE, n));
    for (const f of wireFields(graph)) {
      if (f.id === GRAPH_NODE) continue;
      if ((f.id === GRAPH_VALUE_INFO || f.id === GRAPH_INITIALIZER) && f.body) {
        if (f.id === GRAPH_VALUE_INFO) {
          const info = VALUE_INFO.toObject(VALUE_INFO.decode(f.body)) as { name?: string };
          if (info.name !== undefined && (gone.has(info.name) || exits.has(info.name))) continue;
        } else {
          const name = tensorName(f.body);
          if (name !== undefined && gone.has(name)) continue;
        }
      }
      parts.push(graph.subarray(f.start, f.end));
    }
    if (first) {
      for (const c of newConstants) parts.push(lengthDelimited(GRAPH_INITIALIZER, c));
      for (const v of infos) parts.push(lengthDelimited(GRAPH_VALUE_INFO, v));
    }
    first = false;
    return concatBytes(parts);
  };
  return { bytes: mapGraphFragments(bytes, graphOf), factor };
}

/** The stored bodies of the graph's nodes, in order, across the graph's fragments. */
function graphNodeBodies(bytes: Uint8Array): Uint8Array[] {
  return graphFields(bytes)
    .filter((f) => f.id === GRAPH_NODE && f.body)
    .map((f) => f.body!);
}

let blockSize: Promise<number> | undefined;

/**
 * The channel block of ONNX Runtime's NCHWc convolutions on this CPU (16 with AVX-512, 8 with
 * AVX2; 1 where the runtime has no NCHWc kernels), asked of the runtime once per process: a
 * one-channel `Conv` is optimised at level `all` into a temporary file, whose reordered weights
 * have the block's number of output channels. 1 if anything fails (no packing then).
 */
export function nchwcBlockSize(): Promise<number> {
  blockSize ??= probeBlockSize().catch(() => 1);
  return blockSize;
}

async function probeBlockSize(): Promise<number> {
  const info = (name: string) => ({
    name,
    type: {
      tensorType: {
        elemType: ONNX_FLOAT,
        shape: { dim: [1, 1, 4, 4].map((d) => ({ dimValue: d })) },
      },
    },
  });
  const probe = MODEL.encode(
    MODEL.fromObject({
      irVersion: 7,
      opsetImport: [{ domain: '', version: 13 }],
      graph: {
        name: 'probe',
        node: [{ opType: 'Conv', input: ['x', 'w'], output: ['y'], name: 'conv' }],
        initializer: [{ name: 'w', dims: [1, 1, 1, 1], dataType: ONNX_FLOAT, floatData: [1] }],
        input: [info('x')],
        output: [info('y')],
      },
    }),
  ).finish();
  const dir = await mkdtemp(join(tmpdir(), 'antidote-nchwc-'));
  try {
    const path = join(dir, 'probe.onnx');
    const session = await InferenceSession.create(probe, {
      graphOptimizationLevel: 'all',
      intraOpNumThreads: 1,
      interOpNumThreads: 1,
      optimizedModelFilePath: path,
      // The runtime warns that the optimised file is specific to this CPU: that is the point.
      logSeverityLevel: 3,
    });
    await session.release();
    const optimized = decodeOnnx(await readFile(path), path);
    const conv = optimized.nodes.find(
      (n) => n.domain === 'com.microsoft.nchwc' && n.opType === 'Conv',
    );
    const dims = conv ? optimized.initializers.get(conv.inputs[1] ?? '') : undefined;
    return dims?.[0] !== undefined && dims[0] > 1 ? dims[0] : 1;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
