/**
 * Neuron pruning for model-level backdoor mitigation: switch off units of a dense layer by zeroing
 * their incoming weights and bias (so a ReLU unit outputs 0) and their outgoing weights in the
 * next dense layer. A zeroed ReLU unit gets no gradient, so fine-tuning afterwards keeps it pruned.
 * Used by fine-pruning (Liu, Dolan-Gavitt & Garg 2018, "Fine-Pruning: Defending Against Backdooring
 * Attacks on Deep Neural Networks", RAID) and by Neural Cleanse's neuron pruning (Wang et al. 2019).
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { UnitPruner } from '../engine/onnx/onnx-prune.js';
import { AntidoteError } from '../errors.js';

interface DenseLike {
  readonly name: string;
  getWeights(): tf.Tensor[];
  setWeights(w: tf.Tensor[]): void;
  getClassName(): string;
}

function denseLayer(model: tfl.LayersModel, name: string): DenseLike {
  let layer: DenseLike;
  try {
    layer = model.getLayer(name) as unknown as DenseLike;
  } catch (e) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `the model has no layer "${name}" (layers: ${model.layers.map((l) => l.name).join(', ')})`,
      { field: 'layer' },
      { cause: e },
    );
  }
  if (layer.getClassName() !== 'Dense') {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `layer "${name}" is a ${layer.getClassName()}; pruning works on Dense layers`,
      { field: 'layer' },
    );
  }
  return layer;
}

/** Number of units of the dense layer `name`. */
export function denseUnits(model: tfl.LayersModel, name: string): number {
  const w = denseLayer(model, name).getWeights();
  return w[0]!.shape[1] as number;
}

/**
 * Prunes `units` of the dense layer `layer` in place: their kernel columns and biases become 0,
 * and so do their rows in the kernel of the dense layer that follows (when there is one).
 */
export function pruneDenseUnits(
  model: tfl.LayersModel,
  layer: string,
  units: readonly number[],
): void {
  const dense = denseLayer(model, layer);
  const n = denseUnits(model, layer);
  for (const u of units) {
    if (!Number.isInteger(u) || u < 0 || u >= n) {
      throw new AntidoteError('INVALID_ARGUMENT', `unit ${u} is outside [0, ${n}) of "${layer}"`, {
        field: 'units',
      });
    }
  }
  const keep = new Float32Array(n).fill(1);
  for (const u of units) keep[u] = 0;
  const [kernel, bias] = dense.getWeights();
  if (!kernel || !bias) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `"${layer}" has no bias: only units of a dense layer with a bias can be pruned`,
      { field: 'layer' },
    );
  }
  const newWeights = tf.tidy(() => {
    const k = tf.tensor1d(keep);
    return [tf.mul(kernel!, k), tf.mul(bias!, k)];
  });
  dense.setWeights(newWeights);
  for (const t of newWeights) t.dispose();
  const idx = model.layers.findIndex((l) => l.name === layer);
  const next = model.layers[idx + 1];
  if (next && next.getClassName() === 'Dense') {
    const [nk, nb] = next.getWeights();
    if (!nk || !nb) {
      throw new AntidoteError(
        'INVALID_ARGUMENT',
        `the dense layer after "${layer}" has no bias: its rows of the pruned units cannot be cleared`,
        { field: 'layer' },
      );
    }
    const nkNew = tf.tidy(() => tf.mul(nk, tf.reshape(tf.tensor1d(keep), [n, 1])));
    next.setWeights([nkNew, nb]);
    nkNew.dispose();
  }
}

/**
 * A {@link UnitPruner} of the dense layer `layer` of `model` ({@link pruneDenseUnits}; it saves the
 * weights of the layer and of the dense layer after it, to reset them).
 */
export function denseUnitPruner(model: tfl.LayersModel, layer: string): UnitPruner {
  const units = denseUnits(model, layer);
  const original = model
    .getLayer(layer)
    .getWeights()
    .map((t) => t.clone());
  const nextLayer = model.layers[model.layers.findIndex((l) => l.name === layer) + 1];
  const originalNext = nextLayer?.getWeights().map((t) => t.clone()) ?? [];
  return {
    layer,
    units,
    prune: (u) => pruneDenseUnits(model, layer, u),
    reset(u) {
      model.getLayer(layer).setWeights(original);
      if (nextLayer) nextLayer.setWeights(originalNext);
      pruneDenseUnits(model, layer, u);
    },
    dispose() {
      for (const t of [...original, ...originalNext]) t.dispose();
    },
  };
}
