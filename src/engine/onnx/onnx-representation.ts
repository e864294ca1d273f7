/**
 * The representation layer the detectors read by default from an ONNX classifier (issue 17): the
 * input of its dense classifier head, the features its convolutional or other extractor hands
 * the head, rather than a narrow hidden layer inside the head. Pure functions of a decoded
 * {@link ProtoModel}.
 *
 * Why: activation clustering (Chen et al. 2018, arXiv:1811.03728) and spectral signatures (Tran,
 * Li & Mądry 2018) look for the poison as a separate cluster or direction of one class's
 * representations. A head that squeezes the features through a few units before the classes
 * (PyTorch's `Linear(784, 32) → ReLU → Linear(32, 10)`) keeps little besides the class there: on
 * a PyTorch CNN trained on backdoored MNIST (`bench/onnx-backdoor.mjs`, three seeds) the default
 * scan's F1 was 0.96, 0.58 and 0.32 on that 32-unit layer and 0.90, 1.00 and 1.00 on the head's
 * input (the flattened convolution features); Antidote's own CNN gave 1.00 on its flattened
 * features too (docs/onnx.md). This refines ../shared/DESIGN.md's "the input of the last
 * Gemm/MatMul", which it still is for a head of one dense layer (a ResNet, a text model) and for
 * an MLP; fine-pruning keeps pruning the last Gemm/MatMul's input (`defaultLayer`).
 */
import { dataInputs, defaultLayer, producers } from './onnx-graph.js';
import type { ProtoModel, ProtoNode } from './onnx-proto.js';

/**
 * Widest head input (values per record) taken as the default representation: the detectors hold
 * `records × width` float32 values, so 60,000 records of 4,096 values take about 1 GB. A wider one
 * (VGG's 25,088 flattened features) gives way to the next layer of the head.
 */
export const MAX_REPRESENTATION_WIDTH = 4096;

/** Dense layers of a classifier head. */
const DENSE = new Set(['Gemm', 'MatMul']);

/**
 * One-input element-wise ops that may sit between two dense layers of a head (activations,
 * dropout, a 1-D batch norm); the walk back through the head passes them.
 */
const BETWEEN_DENSE = new Set([
  'Relu',
  'LeakyRelu',
  'PRelu',
  'Elu',
  'Selu',
  'Celu',
  'Sigmoid',
  'HardSigmoid',
  'HardSwish',
  'Tanh',
  'Softplus',
  'Softsign',
  'Gelu',
  'Clip',
  'Dropout',
  'Identity',
  'BatchNormalization',
]);

/** Binary element-wise ops that pass as {@link BETWEEN_DENSE} when one operand is a weight (a bias). */
const WITH_CONSTANT = new Set(['Add', 'Sub', 'Mul', 'Div']);

/**
 * The data input an op between two dense layers passes on: the input of a {@link BETWEEN_DENSE}
 * op, the non-weight operand of a bias {@link WITH_CONSTANT} op (TensorFlow exports a dense
 * layer as MatMul then Add); `undefined` for any other op.
 */
function passedOn(model: ProtoModel, p: ProtoNode): string | undefined {
  if (BETWEEN_DENSE.has(p.opType)) return p.inputs[0];
  if (!WITH_CONSTANT.has(p.opType) || p.inputs.length !== 2) return undefined;
  const [a, b] = p.inputs as [string, string];
  if (model.initializers.has(b) && !model.initializers.has(a)) return a;
  if (model.initializers.has(a) && !model.initializers.has(b)) return b;
  return undefined;
}

/** Ops that only reshape a tensor: a head input made by them from the graph input is raw data. */
const RESHAPE = new Set(['Flatten', 'Reshape', 'Transpose', 'Identity', 'Squeeze', 'Unsqueeze']);

/** The data input of a dense node (the operand that is not a weight), and its position. */
function denseData(model: ProtoModel, n: ProtoNode): { name: string; at: number } | undefined {
  const at = n.inputs.slice(0, 2).findIndex((t) => t !== '' && !model.initializers.has(t));
  const weight = n.inputs[at === 0 ? 1 : 0];
  // A dense layer of a head multiplies its data by a weight initializer.
  if (at < 0 || weight === undefined || !model.initializers.has(weight)) return undefined;
  return { name: n.inputs[at]!, at };
}

/**
 * Values per record of a dense node's data input, from its weight's shape: Gemm `A·B` reads
 * `B`'s first dimension (its second with `transB`), MatMul `x·W` reads `W`'s first. `undefined`
 * when the shape does not say (data as the right operand, `transA`, a weight of rank ≠ 2).
 */
function denseWidth(model: ProtoModel, n: ProtoNode, at: number): number | undefined {
  if (at !== 0 || n.attributes.transA === 1) return undefined;
  const dims = model.initializers.get(n.inputs[1]!);
  if (dims?.length !== 2) return undefined;
  return n.opType === 'Gemm' && n.attributes.transB === 1 ? dims[1] : dims[0];
}

/** True when `tensor` is the graph input itself or only a reshape of it. */
function isRawInput(model: ProtoModel, tensor: string, made: Map<string, ProtoNode>): boolean {
  const inputs = new Set(dataInputs(model).map((i) => i.name));
  let t: string | undefined = tensor;
  for (let guard = 0; t !== undefined && guard < model.nodes.length + 1; guard++) {
    if (inputs.has(t)) return true;
    const p = made.get(t);
    if (!p || !RESHAPE.has(p.opType)) return false;
    t = p.inputs[0];
  }
  return false;
}

/**
 * The dense layers of the classifier head, first to last: the last Gemm/MatMul with a weight
 * and, walking back from it, every Gemm/MatMul with a weight whose output reaches the next one
 * through element-wise ops only (activations, dropout, a bias `Add`: {@link passedOn}). Empty when the graph has no such node.
 */
export function classifierHead(model: ProtoModel): ProtoNode[] {
  const made = producers(model);
  let last: ProtoNode | undefined;
  for (let i = model.nodes.length - 1; i >= 0 && !last; i--) {
    const n = model.nodes[i]!;
    if (DENSE.has(n.opType) && denseData(model, n)) last = n;
  }
  const head: ProtoNode[] = [];
  for (let n = last; n && !head.includes(n); ) {
    head.unshift(n);
    let p = made.get(denseData(model, n)!.name);
    for (let t = p && passedOn(model, p); p && t !== undefined; t = p && passedOn(model, p)) {
      p = made.get(t);
    }
    n = p && DENSE.has(p.opType) && denseData(model, p) ? p : undefined;
  }
  return head;
}

/**
 * The default representation layer of an ONNX classifier: the input of its classifier head
 * ({@link classifierHead}), i.e. the first dense layer's input, unless that is the graph input
 * or a reshape of it (an MLP: raw records are no representation) or wider than
 * {@link MAX_REPRESENTATION_WIDTH}; then the next dense layer's input, and so on. Falls back to
 * the last Gemm/MatMul's input ({@link defaultLayer}), which is also where a graph whose head is a
 * single dense layer (a ResNet's pooled features, a text model's mean embedding) ends up.
 * `undefined` when the graph has no representation before its output (a linear model).
 */
export function representationLayer(model: ProtoModel): string | undefined {
  const made = producers(model);
  const initial = new Set(model.initializers.keys());
  for (const n of classifierHead(model)) {
    const data = denseData(model, n);
    if (!data || initial.has(data.name) || isRawInput(model, data.name, made)) continue;
    const width = denseWidth(model, n, data.at);
    if (width !== undefined && width <= MAX_REPRESENTATION_WIDTH) return data.name;
  }
  return defaultLayer(model);
}
