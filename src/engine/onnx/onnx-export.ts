/**
 * Writes Antidote's own TF.js models (the zoo's `logistic`, `mlp` and `cnn`, and any chain of the
 * same layer kinds) as an ONNX graph, so that ONNX Runtime can run them (the scan's fast forward
 * pass, issue 16's speed target) and a model trained or mitigated in Antidote can be deployed
 * elsewhere (`antidote export`).
 *
 * The graph reads the records as TF.js does, `[N, ...inputShape]` (HWC images, NHWC batches), and
 * outputs the layer asked for (default: the last one, the logits) in TF.js's layout, so that its
 * flattened rows equal the engine's activations. Inside, convolutions and pools run in ONNX's NCHW
 * layout: a `Transpose` enters it before the first of them and one leaves it before a `Flatten`
 * (whose order is then TF.js's, so the dense weights stay as they are) or at the output.
 *
 * Layers written: `Conv2D` (channels-last, any kernel, strides, dilation, `same`/`valid`
 * padding), `MaxPooling2D` and `AveragePooling2D` (`same`/`valid`), `Flatten`, `Dense` (on flat
 * rows), `Activation`, `Dropout` (the identity at inference), with the activations `linear`,
 * `relu`, `sigmoid`, `tanh`, `elu` and `softmax` (on flat rows). Anything else (another layer
 * kind, a branching graph) is reported by {@link exportUnsupported}; {@link exportLayersModel}
 * refuses it with `INVALID_ARGUMENT` naming the layer. Opset 13 (ONNX operators,
 * https://onnx.ai/onnx/operators/).
 */
import type * as tfl from '@tensorflow/tfjs-layers';
import { AntidoteError } from '../../errors.js';
import { ONNX_FLOAT } from './onnx-graph.js';
import { ONNX_ROOT } from './onnx-proto.js';

const MODEL = ONNX_ROOT.lookupType('onnx.ModelProto');

/** The ONNX operator set the exported graphs declare. */
export const EXPORT_OPSET = 13;

/** ONNX `AttributeProto.AttributeType` values used here. */
const ATTR = { float: 1, int: 2, ints: 7 } as const;

/** The name of the exported graph's input. */
export const EXPORT_INPUT = 'input';

/** Options of {@link exportLayersModel}. */
export interface ExportOptions {
  /**
   * The layer whose output the graph ends with (the graph output is named after it); default the
   * model's last layer (a zoo model's logits).
   */
  readonly output?: string;
  /** Append a `Softmax` to the output (class probabilities from logits); default false. */
  readonly softmax?: boolean;
  /**
   * A layer whose output is a second graph output (named after it), beside `output`: one run then
   * gives a representation and the class probabilities. Only a layer laid out as in TF.js (not a
   * convolution's NCHW tensor) and before `output`; else `INVALID_ARGUMENT`.
   */
  readonly alsoOutput?: string;
  /** The graph's name (default: the model's). */
  readonly name?: string;
  /** Recorded as the model's `doc_string`-free producer version (default none). */
  readonly producerVersion?: string;
}

/** How a tensor of the graph is laid out: as TF.js holds it, or transposed to NCHW. */
type Layout = 'tf' | 'nchw';

/** A tensor being built: its name, layout and TF.js shape (without the batch dimension). */
interface Value {
  readonly name: string;
  readonly layout: Layout;
  readonly shape: readonly number[];
}

type Attribute = Record<string, unknown>;
type Node = Record<string, unknown>;
type Initializer = Record<string, unknown>;

/** One layer's config values, read loosely (TF.js configs are plain objects). */
type Config = Record<string, unknown>;

function pair(v: unknown, fallback: number): [number, number] {
  if (typeof v === 'number') return [v, v];
  if (Array.isArray(v) && v.length === 2 && v.every((d) => typeof d === 'number')) {
    return [v[0] as number, v[1] as number];
  }
  return [fallback, fallback];
}

/** TF's `same` padding of one spatial axis: `[before, after]` (the extra one after, as TF). */
function samePads(
  size: number,
  kernel: number,
  stride: number,
  dilation: number,
): [number, number] {
  const out = Math.ceil(size / stride);
  const effective = (kernel - 1) * dilation + 1;
  const total = Math.max((out - 1) * stride + effective - size, 0);
  const before = Math.floor(total / 2);
  return [before, total - before];
}

/** Output size of one spatial axis. */
function outSize(size: number, kernel: number, stride: number, dilation: number, same: boolean) {
  if (same) return Math.ceil(size / stride);
  return Math.floor((size - ((kernel - 1) * dilation + 1)) / stride) + 1;
}

const ACTIVATIONS: Readonly<Record<string, string | null>> = {
  linear: null,
  relu: 'Relu',
  sigmoid: 'Sigmoid',
  tanh: 'Tanh',
  elu: 'Elu',
  softmax: 'Softmax',
};

/** Why `layer` cannot be written, or `undefined` when it can. */
function layerProblem(layer: tfl.layers.Layer): string | undefined {
  const kind = layer.getClassName();
  const c = layer.getConfig() as Config;
  const activation = typeof c.activation === 'string' ? c.activation : 'linear';
  if (['Conv2D', 'Dense', 'Activation'].includes(kind) && !(activation in ACTIVATIONS)) {
    return `layer ${layer.name} (${kind}) has the activation ${activation}, which the ONNX export does not write`;
  }
  if (
    ['Conv2D', 'MaxPooling2D', 'AveragePooling2D'].includes(kind) &&
    c.dataFormat !== undefined &&
    c.dataFormat !== 'channelsLast'
  ) {
    return `layer ${layer.name} (${kind}) is channels-first, which the ONNX export does not write`;
  }
  if (['Conv2D', 'MaxPooling2D', 'AveragePooling2D'].includes(kind)) {
    if (c.padding !== 'same' && c.padding !== 'valid') {
      return `layer ${layer.name} (${kind}) has padding ${String(c.padding)}`;
    }
    return undefined;
  }
  if (['Dense', 'Flatten', 'Activation', 'Dropout', 'InputLayer'].includes(kind)) return undefined;
  return `layer ${layer.name} is a ${kind}, which the ONNX export does not write`;
}

/**
 * The layers of `model` in order, when they form one chain from its input to its output;
 * otherwise why not.
 */
function chain(model: tfl.LayersModel): tfl.layers.Layer[] | string {
  if (model.inputs.length !== 1 || model.outputs.length !== 1) {
    return 'the model has several inputs or outputs';
  }
  const layers = model.layers;
  for (let i = 0; i < layers.length; i++) {
    const layer = layers[i]!;
    if (layer.getClassName() === 'InputLayer') continue;
    const nodes = layer.inboundNodes;
    const inbound = nodes.length === 1 ? nodes[0]!.inboundLayers : [];
    const prev = layers.slice(0, i).findLast((l) => l.getClassName() !== 'InputLayer');
    const ok =
      inbound.length === 1 &&
      (prev ? inbound[0] === prev : inbound[0]!.getClassName() === 'InputLayer');
    if (!ok) return `layer ${layer.name} is not fed by the layer before it (a branching graph)`;
  }
  return layers;
}

/**
 * Why `model` cannot be written as ONNX by {@link exportLayersModel} (the first layer or
 * structure it does not write), or `undefined` when it can.
 */
export function exportUnsupported(model: tfl.LayersModel): string | undefined {
  const layers = chain(model);
  if (typeof layers === 'string') return layers;
  for (const layer of layers) {
    const problem = layerProblem(layer);
    if (problem) return problem;
  }
  return shapeProblem(model, layers);
}

/** Shape constraints checked while building (dense on flat rows, pools on images...). */
function shapeProblem(model: tfl.LayersModel, layers: tfl.layers.Layer[]): string | undefined {
  try {
    new GraphBuilder(model, layers).build(undefined, false);
    return undefined;
  } catch (e) {
    if (e instanceof AntidoteError) return e.message;
    throw e;
  }
}

/** Builds the nodes and initializers of one exported graph (see the module comment). */
class GraphBuilder {
  readonly nodes: Node[] = [];
  readonly initializers: Initializer[] = [];
  /** Each appended layer's output value, by layer name (for {@link ExportOptions.alsoOutput}). */
  readonly values = new Map<string, Value>();
  private counter = 0;

  constructor(
    private readonly model: tfl.LayersModel,
    private readonly layers: readonly tfl.layers.Layer[],
    private readonly withWeights = false,
  ) {}

  private fresh(base: string): string {
    return `${base}__${this.counter++}`;
  }

  private node(op: string, inputs: string[], output: string, attrs: Attribute[] = []): string {
    this.nodes.push({
      opType: op,
      name: this.fresh(op.toLowerCase()),
      input: inputs,
      output: [output],
      attribute: attrs,
    });
    return output;
  }

  private weight(name: string, dims: number[], values: () => Float32Array): string {
    if (this.withWeights) {
      const data = values();
      const raw = new Uint8Array(data.byteLength);
      raw.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
      this.initializers.push({ name, dims, dataType: ONNX_FLOAT, rawData: raw });
    }
    return name;
  }

  private toNchw(v: Value, layer: tfl.layers.Layer): Value {
    if (v.layout === 'nchw') return v;
    if (v.shape.length !== 3) {
      throw new AntidoteError(
        'INVALID_ARGUMENT',
        `layer ${layer.name} (${layer.getClassName()}) reads [${v.shape.join(', ')}] records; the ONNX export writes it for images [H, W, C] only`,
      );
    }
    const name = this.node('Transpose', [v.name], this.fresh('nchw'), [ints('perm', [0, 3, 1, 2])]);
    return { name, layout: 'nchw', shape: v.shape };
  }

  private toTf(v: Value): Value {
    if (v.layout === 'tf') return v;
    const name = this.node('Transpose', [v.name], this.fresh('nhwc'), [ints('perm', [0, 2, 3, 1])]);
    return { name, layout: 'tf', shape: v.shape };
  }

  private activate(v: Value, activation: string, layer: tfl.layers.Layer, out: string): Value {
    const op = ACTIVATIONS[activation];
    if (op === undefined) throw new AntidoteError('INVALID_ARGUMENT', layerProblem(layer) ?? '');
    if (op === null)
      return v.name === out ? v : { ...v, name: this.node('Identity', [v.name], out) };
    if (op === 'Softmax') {
      if (v.shape.length !== 1) {
        throw new AntidoteError(
          'INVALID_ARGUMENT',
          `layer ${layer.name} applies softmax to [${v.shape.join(', ')}] records; the ONNX export writes it on flat rows only`,
        );
      }
      return { ...v, name: this.node('Softmax', [v.name], out, [int('axis', -1)]) };
    }
    const attrs = op === 'Elu' ? [float('alpha', 1)] : [];
    return { ...v, name: this.node(op, [v.name], out, attrs) };
  }

  /** The layer's bias as an initializer input (none when it has no bias). */
  private bias(layer: tfl.layers.Layer, c: Config, size: number): string[] {
    if (c.useBias === false) return [];
    const weights = layer.getWeights();
    return [
      this.weight(`${layer.name}/bias`, [size], () =>
        Float32Array.from(weights[1]!.dataSync() as Float32Array),
      ),
    ];
  }

  /**
   * The layer's activation, and the name of the tensor before it: the layer's own output name
   * when the activation is linear (nothing follows), a fresh one otherwise.
   */
  private preActivation(
    layer: tfl.layers.Layer,
    c: Config,
    out: string,
    what: string,
  ): [string, string] {
    const activation = typeof c.activation === 'string' ? c.activation : 'linear';
    return [
      activation,
      ACTIVATIONS[activation] === null ? out : this.fresh(`${layer.name}/${what}`),
    ];
  }

  private conv(v: Value, layer: tfl.layers.Layer, c: Config, out: string): Value {
    const x = this.toNchw(v, layer);
    const [h, w, cin] = x.shape as [number, number, number];
    const [kh, kw] = pair(c.kernelSize, 1);
    const [sh, sw] = pair(c.strides, 1);
    const [dh, dw] = pair(c.dilationRate, 1);
    const same = c.padding === 'same';
    const filters = c.filters as number;
    const [ph0, ph1] = same ? samePads(h, kh, sh, dh) : [0, 0];
    const [pw0, pw1] = same ? samePads(w, kw, sw, dw) : [0, 0];
    const weights = layer.getWeights();
    const kernel = this.weight(`${layer.name}/kernel`, [filters, cin, kh, kw], () => {
      // TF.js [kh, kw, cin, cout] → ONNX [cout, cin, kh, kw].
      const k = weights[0]!.dataSync() as Float32Array;
      const o = new Float32Array(k.length);
      for (let y = 0; y < kh; y++)
        for (let xx = 0; xx < kw; xx++)
          for (let i = 0; i < cin; i++)
            for (let f = 0; f < filters; f++)
              o[((f * cin + i) * kh + y) * kw + xx] = k[((y * kw + xx) * cin + i) * filters + f]!;
      return o;
    });
    const inputs = [x.name, kernel, ...this.bias(layer, c, filters)];
    const [activation, convOut] = this.preActivation(layer, c, out, 'conv');
    const name = this.node('Conv', inputs, convOut, [
      ints('kernel_shape', [kh, kw]),
      ints('strides', [sh, sw]),
      ints('dilations', [dh, dw]),
      ints('pads', [ph0, pw0, ph1, pw1]),
    ]);
    const shape = [outSize(h, kh, sh, dh, same), outSize(w, kw, sw, dw, same), filters];
    return this.activate({ name, layout: 'nchw', shape }, activation, layer, out);
  }

  private pool(v: Value, layer: tfl.layers.Layer, c: Config, out: string): Value {
    const x = this.toNchw(v, layer);
    const [h, w, ch] = x.shape as [number, number, number];
    const [kh, kw] = pair(c.poolSize, 2);
    const [sh, sw] = pair(c.strides ?? c.poolSize, 2);
    const same = c.padding === 'same';
    const [ph0, ph1] = same ? samePads(h, kh, sh, 1) : [0, 0];
    const [pw0, pw1] = same ? samePads(w, kw, sw, 1) : [0, 0];
    const op = layer.getClassName() === 'MaxPooling2D' ? 'MaxPool' : 'AveragePool';
    const name = this.node(op, [x.name], out, [
      ints('kernel_shape', [kh, kw]),
      ints('strides', [sh, sw]),
      ints('pads', [ph0, pw0, ph1, pw1]),
    ]);
    return {
      name,
      layout: 'nchw',
      shape: [outSize(h, kh, sh, 1, same), outSize(w, kw, sw, 1, same), ch],
    };
  }

  private dense(v: Value, layer: tfl.layers.Layer, c: Config, out: string): Value {
    if (v.shape.length !== 1) {
      throw new AntidoteError(
        'INVALID_ARGUMENT',
        `layer ${layer.name} (Dense) reads [${v.shape.join(', ')}] records; the ONNX export writes it on flat rows only`,
      );
    }
    const units = c.units as number;
    const inDim = v.shape[0]!;
    const weights = layer.getWeights();
    const inputs = [
      v.name,
      this.weight(`${layer.name}/kernel`, [inDim, units], () =>
        Float32Array.from(weights[0]!.dataSync() as Float32Array),
      ),
      ...this.bias(layer, c, units),
    ];
    const [activation, gemmOut] = this.preActivation(layer, c, out, 'gemm');
    const name = this.node('Gemm', inputs, gemmOut);
    return this.activate({ name, layout: 'tf', shape: [units] }, activation, layer, out);
  }

  private flatten(v: Value, out: string): Value {
    const x = this.toTf(v);
    const size = x.shape.reduce((a, b) => a * b, 1);
    return {
      name: this.node('Flatten', [x.name], out, [int('axis', 1)]),
      layout: 'tf',
      shape: [size],
    };
  }

  /** Renames the tensor `from` to `to` in every node. */
  private rename(from: string, to: string): void {
    for (const n of this.nodes) {
      n.input = (n.input as string[]).map((t) => (t === from ? to : t));
      n.output = (n.output as string[]).map((t) => (t === from ? to : t));
    }
  }

  /** Appends `layer` to the graph, reading `v`; its output is named after the layer. */
  private layer(v: Value, layer: tfl.layers.Layer): Value {
    const problem = layerProblem(layer);
    if (problem) throw new AntidoteError('INVALID_ARGUMENT', problem);
    const c = layer.getConfig() as Config;
    const out = layer.name;
    switch (layer.getClassName()) {
      case 'Conv2D':
        return this.conv(v, layer, c, out);
      case 'MaxPooling2D':
      case 'AveragePooling2D':
        return this.pool(v, layer, c, out);
      case 'Dense':
        return this.dense(v, layer, c, out);
      case 'Flatten':
        return this.flatten(v, out);
      case 'Activation':
        return this.activate(v, c.activation as string, layer, out);
      default:
        // Dropout (and an input layer): the identity at inference.
        return { ...v, name: this.node('Identity', [v.name], out) };
    }
  }

  /**
   * Builds the graph up to `output` (default the last layer); returns the output value, in
   * TF.js's layout.
   */
  build(output: string | undefined, softmax: boolean): Value {
    const inputShape = (this.model.inputs[0]!.shape as (number | null)[]).slice(1);
    if (inputShape.some((d) => d === null)) {
      throw new AntidoteError(
        'INVALID_ARGUMENT',
        `the model's input shape [${inputShape.join(', ')}] is not fixed; the ONNX export needs one`,
      );
    }
    const layers = this.layers.filter((l) => l.getClassName() !== 'InputLayer');
    const last = output ?? layers[layers.length - 1]?.name;
    const end = layers.findIndex((l) => l.name === last);
    if (end < 0) {
      throw new AntidoteError(
        'NOT_FOUND',
        `the model has no layer "${String(last)}" (layers: ${layers.map((l) => l.name).join(', ')})`,
      );
    }
    let v: Value = { name: EXPORT_INPUT, layout: 'tf', shape: inputShape as number[] };
    for (const layer of layers.slice(0, end + 1)) {
      v = this.layer(v, layer);
      this.values.set(layer.name, v);
    }
    if (v.layout === 'nchw') {
      // The graph's output keeps the layer's name: its NCHW tensor is renamed.
      const final = v.name;
      this.rename(final, `${final}/nchw`);
      v = { ...this.toTf({ ...v, name: `${final}/nchw` }), name: final };
      const transpose = this.nodes[this.nodes.length - 1]!;
      transpose.output = [final];
    }
    if (softmax) {
      if (v.shape.length !== 1) {
        throw new AntidoteError(
          'INVALID_ARGUMENT',
          `softmax over [${v.shape.join(', ')}] outputs is not written; ask for a flat layer`,
        );
      }
      v = { ...v, name: this.node('Softmax', [v.name], 'probabilities', [int('axis', -1)]) };
    }
    return v;
  }
}

function int(name: string, i: number): Attribute {
  return { name, type: ATTR.int, i };
}

function float(name: string, f: number): Attribute {
  return { name, type: ATTR.float, f };
}

function ints(name: string, values: number[]): Attribute {
  return { name, type: ATTR.ints, ints: values };
}

function valueInfo(name: string, shape: readonly number[]): Record<string, unknown> {
  return {
    name,
    type: {
      tensorType: {
        elemType: ONNX_FLOAT,
        shape: { dim: [{ dimParam: 'N' }, ...shape.map((d) => ({ dimValue: d }))] },
      },
    },
  };
}

/** An exported graph: the ONNX bytes and the name and record shape of its output. */
export interface ExportedGraph {
  /** The `.onnx` file's bytes. */
  readonly bytes: Uint8Array;
  /** The graph output's name. */
  readonly output: string;
  /** One record's output shape (TF.js layout). */
  readonly outputShape: readonly number[];
}

/**
 * Writes `model` (its current weights) as an ONNX model (see the module comment). Throws
 * `INVALID_ARGUMENT` naming the first layer the export does not write (see
 * {@link exportUnsupported}), and `NOT_FOUND` for an `output` layer the model does not have.
 */
export function exportLayersModel(
  model: tfl.LayersModel,
  options: ExportOptions = {},
): ExportedGraph {
  const layers = chain(model);
  if (typeof layers === 'string') {
    throw new AntidoteError('INVALID_ARGUMENT', `cannot export the model to ONNX: ${layers}`);
  }
  const builder = new GraphBuilder(model, layers, true);
  const out = builder.build(options.output, options.softmax ?? false);
  const also =
    options.alsoOutput === undefined ? undefined : builder.values.get(options.alsoOutput);
  if (options.alsoOutput !== undefined && (also?.layout !== 'tf' || also.name === out.name)) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `layer "${options.alsoOutput}" cannot be a second output: it must come before the graph's output and be laid out as in TF.js`,
    );
  }
  const inputShape = (model.inputs[0]!.shape as number[]).slice(1);
  const proto = MODEL.fromObject({
    irVersion: 8,
    producerName: 'antidote',
    ...(options.producerVersion ? { producerVersion: options.producerVersion } : {}),
    opsetImport: [{ domain: '', version: EXPORT_OPSET }],
    graph: {
      name: options.name ?? model.name,
      node: builder.nodes,
      initializer: builder.initializers,
      input: [valueInfo(EXPORT_INPUT, inputShape)],
      output: [valueInfo(out.name, out.shape), ...(also ? [valueInfo(also.name, also.shape)] : [])],
    },
  });
  return { bytes: MODEL.encode(proto).finish(), output: out.name, outputShape: out.shape };
}
