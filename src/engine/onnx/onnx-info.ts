/**
 * What `antidote info model.onnx` shows: an ONNX file described from its protobuf alone (no
 * inference session, so it starts fast and reads models ONNX Runtime would refuse).
 */
import { AntidoteError } from '../../errors.js';
import { readBytes } from '../../util/fs.js';
import {
  type ClassifierOutput,
  candidateLayers,
  classifierOutput,
  dataInputs,
  defaultLayer,
  layoutOf,
  ONNX_INT64,
  type OnnxLayout,
  opCounts,
} from './onnx-graph.js';
import { decodeOnnx, type ProtoDim } from './onnx-proto.js';
import { representationLayer } from './onnx-representation.js';
import { type OnnxNormalization, type OnnxTextSidecar, readSidecar } from './onnx-sidecar.js';

/** One graph input or output: name, ONNX element type and shape (`null`: not recorded). */
export interface OnnxTensorInfo {
  readonly name: string;
  readonly elemType: number;
  readonly shape: readonly ProtoDim[] | null;
}

/** The description of an ONNX model file (see {@link describeOnnx}). */
export interface OnnxInfo {
  readonly path: string;
  readonly producer: string;
  readonly irVersion: number;
  /** Operator sets, `domain -> version` (`''` is `ai.onnx`). */
  readonly opsets: Readonly<Record<string, number>>;
  /** Data inputs (weights listed as inputs left out). */
  readonly inputs: readonly OnnxTensorInfo[];
  readonly outputs: readonly OnnxTensorInfo[];
  /**
   * Layout of the first data input, when it is one Antidote reads (`tokens`: int64 token ids of
   * a text model).
   */
  readonly layout: OnnxLayout | 'tokens' | null;
  /** The classifier output, or why there is none. */
  readonly classifier: ClassifierOutput | { readonly error: string };
  /** Tensors whose activations can be asked for (`--layer`). */
  readonly layers: readonly string[];
  /**
   * The default representation layer, what `scan` and `audit` read: the input of the classifier
   * head (see `representationLayer` in `./onnx-representation.ts`).
   */
  readonly defaultLayer: string | null;
  /** The layer fine-pruning prunes by default: the input of the last Gemm/MatMul. */
  readonly pruneLayer: string | null;
  readonly nodes: number;
  readonly weights: number;
  readonly ops: Readonly<Record<string, number>>;
  /** The sidecar JSON read beside the model, if any. */
  readonly sidecar: string | null;
  readonly classes: readonly string[] | null;
  /** The sidecar's normalisation, if any. */
  readonly normalization: OnnxNormalization | null;
  /** The sidecar's tokenisation of a text model, if any. */
  readonly text: OnnxTextSidecar | null;
}

/**
 * Describes the ONNX model at `path` from its protobuf. `NOT_FOUND` for a missing file,
 * `INVALID_FORMAT` for one that is not an ONNX model or has a malformed sidecar.
 */
export async function describeOnnx(path: string): Promise<OnnxInfo> {
  const model = decodeOnnx(await readBytes(path), path);
  const inputs = dataInputs(model);
  const first = inputs[0]?.shape?.slice(1);
  let classifier: OnnxInfo['classifier'];
  try {
    classifier = classifierOutput(model, path);
  } catch (e) {
    if (!(e instanceof AntidoteError)) throw e;
    classifier = { error: e.message };
  }
  const { sidecar, path: sidecarPath } = await readSidecar(path);
  let weights = 0;
  for (const dims of model.initializers.values()) weights += dims.reduce((a, b) => a * b, 1);
  return {
    path,
    producer: model.producer,
    irVersion: model.irVersion,
    opsets: model.opsets,
    inputs,
    outputs: model.outputs,
    layout:
      inputs[0]?.elemType === ONNX_INT64
        ? 'tokens'
        : first?.every((d): d is number => typeof d === 'number')
          ? layoutOf(first)
          : null,
    classifier,
    layers: candidateLayers(model),
    defaultLayer: representationLayer(model) ?? null,
    pruneLayer: defaultLayer(model) ?? null,
    nodes: model.nodes.length,
    weights,
    ops: opCounts(model),
    sidecar: sidecarPath ?? null,
    classes: sidecar.classes ?? null,
    normalization: sidecar.normalization ?? null,
    text: sidecar.text ?? null,
  };
}
