/**
 * An imported ONNX graph (`./onnx-tf-graph.ts`) as a {@link Classifier} with what the inference
 * session cannot give: input gradients of the loss, activations and logits as TF.js tensors for
 * PGD and Neural Cleanse, fine-tuning of the imported weights (Adam or SGD, seeded shuffling;
 * batch normalization in training mode by default, {@link OnnxTfClassifier.batchNorm}), and the
 * fine-tuned model written back as an ONNX file ({@link OnnxTfClassifier.saveOnnx}).
 */
import { existsSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { type Dataset, numRecords, recordShape, recordSize } from '../../data/dataset.js';
import { AntidoteError } from '../../errors.js';
import { writeFileAtomic } from '../../util/fs.js';
import { Rng } from '../../util/rng.js';
import { FusedAdam } from '../data-parallel-step.js';
import type { LayeredModel, LogitsModel } from '../differentiable.js';
import { crossEntropySum } from '../loss.js';
import type { DisposableClassifier } from '../model-interface.js';
import { checkDatasetFits, resolveTrainOptions, type TrainOptions } from '../train.js';
import { candidateLayers, defaultLayer, type OnnxLayout } from './onnx-graph.js';
import type { ProtoModel } from './onnx-proto.js';
import { onnxUnitPruner, type UnitPruner } from './onnx-prune.js';
import type { OnnxNormalization } from './onnx-sidecar.js';
import { type BatchNormMode, OnnxTfGraph } from './onnx-tf-graph.js';

/** Records per forward pass. */
const BATCH = 256;

/**
 * How batch normalization runs while {@link OnnxTfClassifier.fit} fine-tunes, unless told
 * otherwise: `'train'`, as PyTorch users fine-tuning after `model.train()` expect (docs/onnx.md
 * says when `'frozen'` is the better choice).
 */
export const DEFAULT_BATCH_NORM: BatchNormMode = 'train';

/** Options of {@link OnnxTfClassifier.fit}. */
export interface FineTuneOptions
  extends Pick<TrainOptions, 'seed' | 'epochs' | 'batchSize' | 'learningRate' | 'onProgress'> {
  /** Batch normalization while training; default {@link OnnxTfClassifier.batchNorm}. */
  readonly batchNorm?: BatchNormMode;
  /**
   * `'adam'` (default; β₁ 0.9, β₂ 0.999, ε 1e-7) or `'sgd'`: plain gradient descent,
   * `w ← w − learningRate·∇w` (PyTorch's `torch.optim.SGD` without momentum).
   */
  readonly optimizer?: 'adam' | 'sgd';
}

/** Per-epoch loss and accuracy of {@link OnnxTfClassifier.fit}. */
export interface FineTuneHistory {
  readonly epochs: ReadonlyArray<{ epoch: number; loss: number; accuracy: number }>;
  readonly seconds: number;
}

/** The imported graph of an ONNX model as a classifier (see the module comment). */
export class OnnxTfClassifier implements DisposableClassifier {
  readonly inputShape: readonly number[];
  readonly numClasses: number;
  /** The graph as a differentiable model of records in the model's input layout. */
  readonly model: LogitsModel;
  /**
   * How batch normalization runs when {@link fit} is not told (`FineTuneOptions.batchNorm`):
   * what the defenses that fine-tune in place (fine-pruning, unlearning) get. Default
   * {@link DEFAULT_BATCH_NORM}; copied by {@link clone}. Inference is never affected.
   */
  batchNorm: BatchNormMode = DEFAULT_BATCH_NORM;

  constructor(
    /** The imported graph (owned: disposed with the classifier). */
    readonly graph: OnnxTfGraph,
    /** Tensors whose activations may be asked for, input to output. */
    readonly layerNames: readonly string[],
    /** The default of {@link activations} (the input of the last Gemm or MatMul). */
    readonly defaultLayer: string | undefined,
  ) {
    this.inputShape = graph.inputShape;
    this.numClasses = graph.numClasses;
    this.model = { apply: (x) => graph.logits(x) };
  }

  private check(x: Float32Array, n: number): number {
    const size = this.inputShape.reduce((a, b) => a * b, 1);
    if (!Number.isInteger(n) || n < 0 || x.length !== n * size) {
      throw new AntidoteError(
        'SHAPE_MISMATCH',
        `expected ${n} records of shape [${this.inputShape.join(', ')}] (${n * size} values), got ${x.length} values`,
      );
    }
    return size;
  }

  /** `f` over batches of the records, its `[m, dim]` results concatenated. */
  private batched(
    x: Float32Array,
    n: number,
    f: (xb: tf.Tensor, from: number, m: number) => tf.Tensor,
  ): { data: Float32Array; dim: number } {
    const size = this.check(x, n);
    let out: Float32Array | undefined;
    let dim = 0;
    for (let from = 0; from < n; from += BATCH) {
      const m = Math.min(BATCH, n - from);
      const r = tf.tidy(() => {
        const xb = tf.tensor(x.subarray(from * size, (from + m) * size), [m, ...this.inputShape]);
        return f(xb, from, m);
      });
      const data = r.dataSync() as Float32Array;
      r.dispose();
      dim = data.length / m;
      out ??= new Float32Array(n * dim);
      out.set(data, from * dim);
    }
    return { data: out ?? new Float32Array(0), dim };
  }

  async predictProba(x: Float32Array, n: number): Promise<Float32Array> {
    return this.batched(x, n, (xb) => tf.softmax(this.graph.logits(xb))).data;
  }

  async predict(x: Float32Array, n: number): Promise<Int32Array> {
    const p = await this.predictProba(x, n);
    const k = this.numClasses;
    return Int32Array.from({ length: n }, (_, i) => {
      let best = 0;
      for (let j = 1; j < k; j++) if (p[i * k + j]! > p[i * k + best]!) best = j;
      return best;
    });
  }

  /** Activations of the tensor `layer` (default {@link defaultLayer}), `[n, dim]`. */
  async activations(
    x: Float32Array,
    n: number,
    layer?: string,
  ): Promise<{ data: Float32Array; dim: number }> {
    const name = layer ?? this.defaultLayer ?? this.graph.logitsName;
    return this.batched(x, n, (xb) => {
      const t = this.graph.run(xb, name);
      return tf.reshape(t, [t.shape[0] ?? 1, -1]);
    });
  }

  /** Gradient of the summed cross-entropy with respect to the records, in their layout. */
  async lossGradient(x: Float32Array, y: Int32Array): Promise<Float32Array> {
    return this.batched(x, y.length, (xb, from, m) => {
      const labels = tf.tensor1d(y.subarray(from, from + m), 'int32');
      const loss = (v: tf.Tensor) => crossEntropySum(this.graph.logits(v), labels, this.numClasses);
      return tf.grad(loss)(xb);
    }).data;
  }

  /**
   * Fine-tunes the graph's weights on `ds` (records in the model's layout) in place, with Adam
   * (or SGD, `options.optimizer`): `epochs` passes over seeded shuffles, mean cross-entropy per
   * batch. Batch normalization as `options.batchNorm` (default {@link batchNorm}) says: in
   * `'train'` mode each batch is normalised by its own statistics and the running mean and
   * variance are updated after every step by the node's momentum (PyTorch's `model.train()`);
   * `'frozen'` keeps the running statistics. The loss and accuracy reported are those of the
   * training-mode forward passes. The same weights, data and seed give the same result, bit for
   * bit, on the same backend. `INVALID_ARGUMENT` for bad options, `SHAPE_MISMATCH` for bad
   * records.
   */
  async fit(ds: Dataset, options: FineTuneOptions): Promise<FineTuneHistory> {
    const o = resolveTrainOptions(options);
    const batchNorm = options.batchNorm ?? this.batchNorm;
    const optimizer = options.optimizer ?? 'adam';
    if (!['train', 'frozen'].includes(batchNorm) || (optimizer !== 'adam' && optimizer !== 'sgd')) {
      throw new AntidoteError(
        'INVALID_ARGUMENT',
        `fine-tuning takes batchNorm 'train' or 'frozen' and optimizer 'adam' or 'sgd' (got ${String(batchNorm)}, ${String(optimizer)})`,
        { field: ['train', 'frozen'].includes(batchNorm) ? 'optimizer' : 'batchNorm' },
      );
    }
    checkDatasetFits(ds, this.inputShape, this.numClasses);
    const started = performance.now();
    const n = numRecords(ds);
    if (n === 0) throw new AntidoteError('INVALID_ARGUMENT', 'cannot train on an empty dataset');
    const shape = recordShape(ds);
    const size = recordSize(ds);
    const rng = new Rng(o.seed).fork('shuffle');
    const vars = this.graph.trainable;
    const adam = optimizer === 'adam' ? new FusedAdam(o.learningRate) : undefined;
    const xBuf = new Float32Array(o.batchSize * size);
    const yBuf = new Int32Array(o.batchSize);
    const batches = Math.ceil(n / o.batchSize);
    const epochs: Array<{ epoch: number; loss: number; accuracy: number }> = [];
    try {
      for (let epoch = 1; epoch <= o.epochs; epoch++) {
        const order = rng.permutation(n);
        let lossSum = 0;
        let hits = 0;
        for (let b = 0; b < batches; b++) {
          const from = b * o.batchSize;
          const m = Math.min(o.batchSize, n - from);
          for (let i = 0; i < m; i++) {
            const r = order[from + i]!;
            xBuf.set(ds.x.subarray(r * size, (r + 1) * size), i * size);
            yBuf[i] = ds.y[r]!;
          }
          const [loss, correct] = tf.tidy(() => {
            const xb = tf.tensor(xBuf.subarray(0, m * size), [m, ...shape]);
            const yb = tf.tensor1d(yBuf.subarray(0, m), 'int32');
            let logits: tf.Tensor2D | undefined;
            const { value, grads } = tf.variableGrads(() => {
              logits = tf.keep(this.graph.logits(xb, { batchNorm }));
              return tf.div(crossEntropySum(logits, yb, this.numClasses), m) as tf.Scalar;
            }, vars as tf.Variable[]);
            if (adam) {
              // A weight the loss does not reach (e.g. a clip bound) gets a zero gradient.
              const parts = vars.map(
                (v) => (grads[v.name]?.dataSync() ?? new Float32Array(v.size)) as Float32Array,
              );
              adam.apply(vars, (i) => [parts[i]!]);
            } else {
              for (const v of vars) {
                const g = grads[v.name];
                if (g) v.assign(tf.sub(v, tf.mul(g, o.learningRate)));
              }
            }
            // Pruned weights (onnx-prune.ts) stay zero; the running statistics follow the batch.
            this.graph.applyMasks();
            this.graph.updateRunningStatistics();
            const ok = tf.sum(tf.cast(tf.equal(tf.argMax(logits!, 1), yb), 'int32'));
            const result: [number, number] = [value.dataSync()[0]!, ok.dataSync()[0]!];
            logits!.dispose();
            return result;
          });
          lossSum += loss * m;
          hits += correct;
          o.onProgress?.({
            epoch,
            epochs: o.epochs,
            batch: b + 1,
            batches,
            loss: lossSum / Math.min(n, from + m),
            accuracy: hits / Math.min(n, from + m),
            epochEnd: b === batches - 1,
          });
        }
        epochs.push({ epoch, loss: lossSum / n, accuracy: hits / n });
        await new Promise((resolve) => setImmediate(resolve));
      }
    } finally {
      adam?.dispose();
    }
    return { epochs, seconds: (performance.now() - started) / 1000 };
  }

  /**
   * Writes the model with its current weights to `path` (an `.onnx` file; the loaded file's
   * bytes with new initializer values, `OnnxTfGraph.toOnnx`) and, when given, the sidecar's
   * text as `path.json`. `ALREADY_EXISTS` unless `overwrite`.
   */
  async saveOnnx(
    path: string,
    options: { overwrite?: boolean; sidecar?: string } = {},
  ): Promise<void> {
    const sidecar = `${path}.json`;
    const taken = [path, sidecar].find((p) => existsSync(p));
    if (taken && !options.overwrite) {
      throw new AntidoteError(
        'ALREADY_EXISTS',
        `${taken} already exists; refusing to replace it (choose another path, or allow overwriting)`,
        { path: taken },
      );
    }
    await writeFileAtomic(path, this.graph.toOnnx());
    if (options.sidecar !== undefined) {
      await writeFileAtomic(sidecar, options.sidecar);
    }
  }

  /**
   * A pruner of the units of `layer` (default {@link defaultLayer}): it zeroes their weights in the
   * Gemm/MatMul reading them, and they stay zero while {@link fit} trains (`./onnx-prune.ts`).
   * `INVALID_ARGUMENT` for a layer read by anything else than one such node.
   */
  unitPruner(layer: string | undefined = this.defaultLayer): UnitPruner {
    if (layer === undefined) {
      throw new AntidoteError(
        'INVALID_ARGUMENT',
        `${this.graph.where} has no Gemm or MatMul after its input: no layer to prune`,
        { field: 'layer' },
      );
    }
    return onnxUnitPruner(this.graph, layer, this.graph.where);
  }

  /** A copy with weights of its own (the same values now), e.g. to fine-tune apart. */
  clone(): OnnxTfClassifier {
    const copy = new OnnxTfClassifier(this.graph.clone(), this.layerNames, this.defaultLayer);
    copy.batchNorm = this.batchNorm;
    return copy;
  }

  dispose(): void {
    this.graph.dispose();
  }
}

/**
 * Imports the ONNX model `bytes` (decoded as `proto`) into the engine as a classifier: the layers
 * and default layer of `OnnxClassifier` (`./onnx-graph.ts`). `INVALID_FORMAT` naming `where`
 * for an op or a weight the importer does not read.
 */
export async function importOnnxClassifier(
  bytes: Uint8Array,
  proto: ProtoModel,
  where: string,
): Promise<OnnxTfClassifier> {
  const graph = await OnnxTfGraph.import(bytes, proto, where);
  return new OnnxTfClassifier(graph, candidateLayers(proto), defaultLayer(proto));
}

/**
 * The imported graph as a differentiable model of raw image records (HWC, the dataset's scale),
 * the preprocessing of `OnnxModel.featurize` done in TF.js so that gradients reach the pixels:
 * normalised per channel, then fed NHWC (an NCHW model's first convolution reads them without a
 * transpose) or flattened in C·H·W order (a flat input). Its layers are the classifier's.
 */
export function pixelModel(
  classifier: OnnxTfClassifier,
  layout: OnnxLayout,
  normalization: OnnxNormalization | undefined,
  rawShape: readonly number[],
  classes: readonly string[],
): LayeredModel {
  const graph = classifier.graph;
  const channels = rawShape.length === 3 ? rawShape[2]! : 1;
  const norm = (x: tf.Tensor): tf.Tensor => {
    if (!normalization) return x;
    const pick = (v: readonly number[]) =>
      Array.from({ length: channels }, (_, k) => v[k] ?? v[0]!);
    const mean = tf.tensor1d(pick(normalization.mean));
    const std = tf.tensor1d(pick(normalization.std));
    return tf.div(tf.sub(tf.mul(x, normalization.scale), mean), std);
  };
  const run = (x: tf.Tensor, fetch: string): tf.Tensor => {
    const n = x.shape[0]!;
    if (layout === 'nhwc') return graph.run(norm(x), fetch);
    if (layout === 'nchw') return graph.run(norm(x), fetch, { nhwc: true });
    const v = norm(x);
    const chw = rawShape.length === 3 && channels > 1 ? tf.transpose(v, [0, 3, 1, 2]) : v;
    return graph.run(tf.reshape(chw, [n, -1]), fetch);
  };
  const apply = (x: tf.Tensor) => run(x, graph.logitsName) as tf.Tensor2D;
  const size = rawShape.reduce((a, b) => a * b, 1);
  const predict = async (x: Float32Array, n: number): Promise<Int32Array> => {
    const out = new Int32Array(n);
    for (let from = 0; from < n; from += BATCH) {
      const m = Math.min(BATCH, n - from);
      const best = tf.tidy(() =>
        tf.argMax(
          apply(tf.tensor(x.subarray(from * size, (from + m) * size), [m, ...rawShape])),
          1,
        ),
      );
      out.set(best.dataSync() as Int32Array, from);
      best.dispose();
    }
    return out;
  };
  return {
    model: { apply },
    inputShape: rawShape,
    numClasses: graph.numClasses,
    classes,
    predict,
    layerNames: classifier.layerNames,
    defaultLayer: classifier.defaultLayer ?? graph.logitsName,
    layerOutput: (x, layer) => {
      if (!classifier.layerNames.includes(layer) && layer !== graph.logitsName) {
        throw new AntidoteError(
          'INVALID_ARGUMENT',
          `the model has no layer "${layer}" (layers: ${classifier.layerNames.join(', ')})`,
          { field: 'layer' },
        );
      }
      return run(x, layer);
    },
  };
}
