/**
 * Pruning the input units of a linear layer of an imported ONNX graph, for fine-pruning (Liu,
 * Dolan-Gavitt & Garg 2018, "Fine-Pruning: Defending Against Backdooring Attacks on Deep Neural
 * Networks", RAID) of models Antidote did not build: a unit of the tensor `layer` (by default the
 * input of the last Gemm/MatMul, the penultimate layer) is switched off by zeroing the weights of
 * the Gemm/MatMul that reads it (a column of a PyTorch `Linear` weight, exported `transB = 1`; a
 * row otherwise). The zeros are a mask the graph keeps while fine-tuning (`OnnxTfGraph.setMask`),
 * so the unit stays pruned, and the model is written back as ONNX with the same graph.
 */
import * as tf from '@tensorflow/tfjs-core';
import { AntidoteError } from '../../errors.js';
import type { ProtoNode } from './onnx-proto.js';
import type { OnnxTfGraph } from './onnx-tf-graph.js';

/** Where the units of a layer meet their outgoing weights. */
export interface OnnxLinearInput {
  /** The Gemm or MatMul node reading the layer. */
  readonly node: ProtoNode;
  /** Its weight (a 2-D float initializer). */
  readonly weight: string;
  /** The weight's axis indexed by the layer's units (0: rows, 1: columns). */
  readonly axis: 0 | 1;
  /** How many units the layer has. */
  readonly units: number;
}

/**
 * Switches units of one layer off, whatever the model: the Gemm/MatMul input of an imported ONNX
 * graph ({@link onnxUnitPruner}) or the dense layers of a zoo model (defenses/pruning.ts).
 */
export interface UnitPruner {
  readonly layer: string;
  /** How many units the layer has. */
  readonly units: number;
  /** Prunes `units` besides those pruned before. `INVALID_ARGUMENT` for a unit out of range. */
  prune(units: readonly number[]): void;
  /** Restores the weights as they were when the pruner was made, then prunes exactly `units`. */
  reset(units: readonly number[]): void;
  /** Frees the saved weights (an ONNX graph keeps its mask). */
  dispose(): void;
}

const intAttr = (n: ProtoNode, name: string): number => {
  const a = n.attributes[name];
  return typeof a === 'number' ? a : 0;
};

/**
 * The Gemm/MatMul that reads `layer` with a 2-D float initializer as its weight. `INVALID_ARGUMENT`
 * when `layer` is read by anything else too (a residual branch, a second head: zeroing one reader
 * would not switch the unit off) or by no such node.
 */
export function linearInput(graph: OnnxTfGraph, layer: string, where: string): OnnxLinearInput {
  const readers = graph.proto.nodes.filter((n) => n.inputs.includes(layer));
  const refuse = (why: string) =>
    new AntidoteError(
      'INVALID_ARGUMENT',
      `${where}: cannot prune the units of ${layer}: ${why}; pruning needs a layer read only by one Gemm or MatMul with a weight initializer`,
      { path: where, field: 'layer' },
    );
  const node = readers[0];
  if (!node || readers.length !== 1) {
    throw refuse(
      readers.length
        ? `it is read by ${readers.length} nodes (${readers.map((n) => `${n.opType} ${n.name}`).join(', ')})`
        : 'no node reads it',
    );
  }
  const gemm = node.opType === 'Gemm';
  if (
    (!gemm && node.opType !== 'MatMul') ||
    node.inputs[0] !== layer ||
    (gemm && intAttr(node, 'transA') !== 0)
  ) {
    throw refuse(
      `it is read by ${node.opType} ${node.name}, not as the data input of a Gemm or MatMul`,
    );
  }
  const weight = node.inputs[1] ?? '';
  const w = graph.variable(weight);
  if (w?.rank !== 2) {
    throw refuse(
      `the weight ${weight} of ${node.opType} ${node.name} is not a 2-D float initializer`,
    );
  }
  const axis = gemm && intAttr(node, 'transB') === 1 ? 1 : 0;
  return { node, weight, axis, units: w.shape[axis]! };
}

/** A pruner of the units of `layer` of `graph` (see {@link linearInput} for what it refuses). */
export function onnxUnitPruner(graph: OnnxTfGraph, layer: string, where: string): UnitPruner {
  const lin = linearInput(graph, layer, where);
  const v = graph.variable(lin.weight)!;
  const saved = v.clone();
  const pruned = new Set<number>();
  const apply = () => {
    const keep = new Float32Array(lin.units).fill(1);
    for (const u of pruned) keep[u] = 0;
    const shape: [number, number] = lin.axis === 0 ? [lin.units, 1] : [1, lin.units];
    graph.setMask(lin.weight, tf.tensor2d(keep, shape));
  };
  const add = (units: readonly number[]) => {
    for (const u of units) {
      if (!Number.isInteger(u) || u < 0 || u >= lin.units) {
        throw new AntidoteError(
          'INVALID_ARGUMENT',
          `unit ${u} is outside [0, ${lin.units}) of "${layer}"`,
          { field: 'units' },
        );
      }
    }
    for (const u of units) pruned.add(u);
  };
  return {
    layer,
    units: lin.units,
    prune(units) {
      add(units);
      apply();
    },
    reset(units) {
      graph.setMask(lin.weight, undefined);
      v.assign(saved);
      pruned.clear();
      add(units);
      apply();
    },
    dispose: () => saved.dispose(),
  };
}
