/**
 * The ONNX ops the engine imports (`./onnx-tf-ops.ts` implements them), as plain data so that
 * loading a model can tell whether it gives gradients without loading TF.js.
 */
import { AntidoteError } from '../../errors.js';
import type { ProtoModel, ProtoNode } from './onnx-proto.js';

/** The ONNX op types (default domain) the importer runs, sorted (docs/onnx.md). */
export const IMPORTED_OPS: readonly string[] = [
  'Abs',
  'Add',
  'AveragePool',
  'BatchNormalization',
  'Cast',
  'Clip',
  'Concat',
  'Constant',
  'Conv',
  'ConvTranspose',
  'Div',
  'Dropout',
  'Elu',
  'Erf',
  'Exp',
  'Flatten',
  'Gather',
  'Gelu',
  'Gemm',
  'GlobalAveragePool',
  'GlobalMaxPool',
  'HardSigmoid',
  'Identity',
  'LeakyRelu',
  'Log',
  'LogSoftmax',
  'MatMul',
  'Max',
  'MaxPool',
  'Min',
  'Mul',
  'Neg',
  'Pad',
  'Pow',
  'Reciprocal',
  'ReduceMean',
  'ReduceSum',
  'Relu',
  'Reshape',
  'Shape',
  'Sigmoid',
  'Softmax',
  'Softplus',
  'Sqrt',
  'Squeeze',
  'Sub',
  'Tanh',
  'Transpose',
  'Unsqueeze',
];

const IMPORTED = new Set(IMPORTED_OPS);

type NodeRef = Pick<ProtoNode, 'opType' | 'domain' | 'name' | 'outputs'>;

/** The nodes the importer does not run (another domain, or an op outside {@link IMPORTED_OPS}). */
export function unsupportedNodes(nodes: readonly NodeRef[]): NodeRef[] {
  return nodes.filter(
    (n) => (n.domain !== '' && n.domain !== 'ai.onnx') || !IMPORTED.has(n.opType),
  );
}

/** What makes `model` not importable ("op X (node Y)"), or `undefined` when it is. */
export function notImportable(model: ProtoModel): string | undefined {
  const bad = unsupportedNodes(model.nodes)[0];
  if (!bad) return undefined;
  const op = bad.domain && bad.domain !== 'ai.onnx' ? `${bad.domain}.${bad.opType}` : bad.opType;
  return `op ${op} (node ${bad.name || bad.outputs[0] || '?'})`;
}

/** `INVALID_FORMAT` naming the first node of `model` the importer does not run. */
export function checkImportable(model: ProtoModel, where: string): void {
  const why = notImportable(model);
  if (!why) return;
  const bad = unsupportedNodes(model.nodes)[0]!;
  throw new AntidoteError(
    'INVALID_FORMAT',
    `${where}: Antidote cannot compute gradients through ${why}; the ops it imports are ${IMPORTED_OPS.join(', ')} (docs/onnx.md)`,
    { path: where, op: bad.opType, node: bad.name },
  );
}
