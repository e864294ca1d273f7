/**
 * What Antidote reads of an ONNX graph before running it: the data input, the classifier output
 * (probabilities or logits), the image layout (NCHW or NHWC), the representation layers, the op
 * counts; and the checks that refuse what it cannot run (custom-op domains, no classifier-like
 * output). Pure functions of a decoded {@link ProtoModel}.
 */
import { AntidoteError } from '../../errors.js';
import type { ProtoModel, ProtoNode, ProtoValueInfo } from './onnx-proto.js';

/** ONNX `TensorProto.DataType.FLOAT`. */
export const ONNX_FLOAT = 1;

/** ONNX `TensorProto.DataType.INT64`: the element type of token-id inputs (text models). */
export const ONNX_INT64 = 7;

/** Operator domains the default ONNX Runtime build runs without custom code. */
const STANDARD_DOMAINS = new Set(['', 'ai.onnx', 'ai.onnx.ml']);

/**
 * How an input tensor holds an image record: `nchw` (`[N, C, H, W]`, PyTorch), `nhwc`
 * (`[N, H, W, C]`, TensorFlow, Antidote's datasets) or `flat` (`[N, D]`: records flattened, in
 * CHW order as PyTorch's `flatten` of an NCHW tensor).
 */
export type OnnxLayout = 'nchw' | 'nhwc' | 'flat';

/** The graph's data input (initializers listed as inputs are not). */
export function dataInputs(model: ProtoModel): ProtoValueInfo[] {
  return model.inputs.filter((i) => !model.initializers.has(i.name));
}

/**
 * The layout of a record shape (the input shape without its batch dimension): rank 1 is
 * `flat`; rank 3 is `nchw` when its first dimension is 1 or 3 (channels) and its last is not,
 * `nhwc` otherwise. `null` for other ranks.
 */
export function layoutOf(recordShape: readonly number[]): OnnxLayout | null {
  if (recordShape.length === 1) return 'flat';
  if (recordShape.length !== 3) return null;
  const first = recordShape[0]!;
  const last = recordShape[2]!;
  const channels = (d: number) => d === 1 || d === 3 || d === 4;
  return channels(first) && !channels(last) ? 'nchw' : 'nhwc';
}

/** The producer of each tensor. */
export function producers(model: ProtoModel): Map<string, ProtoNode> {
  const m = new Map<string, ProtoNode>();
  for (const n of model.nodes) for (const o of n.outputs) m.set(o, n);
  return m;
}

/** The classifier output of the graph and whether it already holds probabilities. */
export interface ClassifierOutput {
  readonly name: string;
  /** Number of classes (the output's last dimension). */
  readonly numClasses: number;
  /** True when a final Softmax produces it (no softmax is applied again). */
  readonly probabilities: boolean;
}

/**
 * The first graph output of shape `[N, K]` with a known K ≥ 2 (float). `INVALID_FORMAT` naming
 * `where` and the outputs found when there is none.
 */
export function classifierOutput(model: ProtoModel, where: string): ClassifierOutput {
  const made = producers(model);
  for (const o of model.outputs) {
    const k = o.shape?.length === 2 ? o.shape[1] : undefined;
    if (o.elemType !== ONNX_FLOAT || typeof k !== 'number' || k < 2) continue;
    const last = made.get(o.name);
    return { name: o.name, numClasses: k, probabilities: last?.opType === 'Softmax' };
  }
  const found = model.outputs
    .map((o) => `${o.name} [${o.shape?.map((d) => d ?? '?').join(', ') ?? 'unknown shape'}]`)
    .join(', ');
  throw new AntidoteError(
    'INVALID_FORMAT',
    `${where} has no classifier-like output (a float tensor of shape [N, classes]); its outputs are ${found || 'none'}`,
    { path: where },
  );
}

/**
 * Refuses a graph with nodes outside the standard ONNX operator sets (custom ops would need
 * native code Antidote never loads): `INVALID_FORMAT` naming the node, op and domain.
 */
export function checkStandardOps(model: ProtoModel, where: string): void {
  const custom = model.nodes.find((n) => !STANDARD_DOMAINS.has(n.domain));
  if (custom) {
    throw new AntidoteError(
      'INVALID_FORMAT',
      `${where} uses the custom operator ${custom.domain}.${custom.opType} (node ${custom.name || custom.outputs[0] || '?'}); Antidote runs standard ONNX operators only`,
      { path: where, node: custom.name, op: custom.opType, domain: custom.domain },
    );
  }
}

const LAYER_OPS = new Set(['Gemm', 'MatMul', 'Conv']);

/**
 * Tensors whose activations make a representation, input to output: the data inputs of Gemm,
 * MatMul and Conv nodes and the outputs of Flatten nodes (never the graph input or a weight).
 */
export function candidateLayers(model: ProtoModel): string[] {
  const skip = new Set([...model.initializers.keys(), ...dataInputs(model).map((i) => i.name)]);
  const out: string[] = [];
  const add = (t: string | undefined) => {
    if (t && !skip.has(t) && !out.includes(t)) out.push(t);
  };
  for (const n of model.nodes) {
    if (LAYER_OPS.has(n.opType)) add(n.inputs[0]);
    if (n.opType === 'Flatten') add(n.outputs[0]);
  }
  return out;
}

/**
 * The default representation layer: the data input of the last Gemm or MatMul (the zoo's
 * penultimate layer), or `undefined` when that input is the graph input (a linear model).
 */
export function defaultLayer(model: ProtoModel): string | undefined {
  const skip = new Set([...model.initializers.keys(), ...dataInputs(model).map((i) => i.name)]);
  for (let i = model.nodes.length - 1; i >= 0; i--) {
    const n = model.nodes[i]!;
    if (n.opType !== 'Gemm' && n.opType !== 'MatMul') continue;
    const x = n.inputs.find((t) => !model.initializers.has(t));
    return x && !skip.has(x) ? x : undefined;
  }
  return undefined;
}

/** How many nodes of each op type the graph has (`domain.op` for non-default domains). */
export function opCounts(model: ProtoModel): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const n of model.nodes) {
    const key = n.domain && n.domain !== 'ai.onnx' ? `${n.domain}.${n.opType}` : n.opType;
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}

/** Every tensor a node produces (names that may be asked for as activations). */
export function tensorNames(model: ProtoModel): Set<string> {
  const s = new Set<string>();
  for (const n of model.nodes) for (const o of n.outputs) if (o) s.add(o);
  return s;
}
