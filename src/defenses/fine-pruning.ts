/**
 * Fine-pruning (Liu, Dolan-Gavitt & Garg 2018, "Fine-Pruning: Defending Against Backdooring
 * Attacks on Deep Neural Networks", RAID): backdoor behaviour tends to live in neurons that clean
 * inputs leave dormant. Prune the units of the penultimate layer in increasing order of their mean
 * activation on clean data, as far as the clean validation accuracy allows, then fine-tune on
 * clean data (pruned units stay off, see {@link pruneDenseUnits}). A zoo model's dense layer, or an
 * imported ONNX graph's penultimate layer (the input of its last Gemm/MatMul, whose weights of the
 * pruned units are zeroed and kept zero: engine/onnx/onnx-prune.ts).
 */
import type { Dataset } from '../data/dataset.js';
import type { TfClassifier } from '../engine/index.js';
import type { UnitPruner } from '../engine/onnx/onnx-prune.js';
import type { OnnxTfClassifier } from '../engine/onnx/onnx-tf-classifier.js';
import { AntidoteError } from '../errors.js';
import type { DetectionProgress } from './detector.js';
import { denseUnitPruner, pruneDenseUnits } from './pruning.js';

/** A model {@link finePrune} repairs: a zoo classifier, or an ONNX graph imported into the engine. */
export type PrunableClassifier = TfClassifier | OnnxTfClassifier;

/** Options of {@link finePrune}. */
export interface FinePruningOptions {
  readonly seed: number;
  /**
   * Layer to prune: a dense layer of a zoo model, or a tensor of an ONNX graph read by one
   * Gemm/MatMul; default the model's penultimate layer.
   */
  readonly layer?: string;
  /** Largest tolerated drop of validation accuracy (absolute); default 0.04 (the paper's 4%). */
  readonly maxAccuracyDrop?: number;
  /** Share of the layer's units pruned per step; default 0.05. */
  readonly step?: number;
  /** Never prune more than this share of units; default 0.95. */
  readonly maxFraction?: number;
  /** Fine-tuning epochs on `clean` after pruning (0 = prune only); default 2. */
  readonly fineTuneEpochs?: number;
  readonly batchSize?: number;
  readonly learningRate?: number;
  readonly onProgress?: (p: DetectionProgress) => void;
}

/** What {@link finePrune} did. */
export interface FinePruningResult {
  readonly layer: string;
  /** Units pruned, in the order pruned (most dormant first). */
  readonly pruned: readonly number[];
  /** Share of the layer's units pruned. */
  readonly fraction: number;
  /** Mean clean activation per unit (the ranking). */
  readonly meanActivation: readonly number[];
  readonly accuracyBefore: number;
  readonly accuracyAfterPruning: number;
  /** After fine-tuning (equals accuracyAfterPruning without fine-tuning). */
  readonly accuracyAfter: number;
  /** Validation accuracy at each pruning step tried. */
  readonly steps: ReadonlyArray<{ fraction: number; accuracy: number }>;
}

async function accuracyOn(model: PrunableClassifier, ds: Dataset): Promise<number> {
  const n = ds.shape[0]!;
  if (n === 0) return 0;
  const pred = await model.predict(ds.x, n);
  let ok = 0;
  for (let i = 0; i < n; i++) if (pred[i] === ds.y[i]) ok++;
  return ok / n;
}

/**
 * Fine-prunes `model` in place. `clean` ranks the units and is the fine-tuning set; `validation`
 * (clean, disjoint from `clean`) bounds the accuracy drop. Records are in the model's input layout
 * (an ONNX model's featurized records). `INVALID_ARGUMENT` for bad options or a layer that cannot
 * be pruned.
 */
export async function finePrune(
  model: PrunableClassifier,
  clean: Dataset,
  validation: Dataset,
  options: FinePruningOptions,
): Promise<FinePruningResult> {
  const layer = options.layer ?? model.defaultLayer;
  const maxDrop = options.maxAccuracyDrop ?? 0.04;
  const step = options.step ?? 0.05;
  const maxFraction = options.maxFraction ?? 0.95;
  const epochs = options.fineTuneEpochs ?? 2;
  const bad = (field: string, v: unknown, what: string) =>
    new AntidoteError('INVALID_ARGUMENT', `fine-pruning ${field} must be ${what}, got ${v}`, {
      field,
    });
  if (!(maxDrop >= 0 && maxDrop < 1)) throw bad('maxAccuracyDrop', maxDrop, 'in [0, 1)');
  if (!(step > 0 && step <= 1)) throw bad('step', step, 'in (0, 1]');
  if (!(maxFraction > 0 && maxFraction < 1)) throw bad('maxFraction', maxFraction, 'in (0, 1)');
  if (!Number.isInteger(epochs) || epochs < 0)
    throw bad('fineTuneEpochs', epochs, 'an integer ≥ 0');
  if (clean.shape[0]! < 1 || validation.shape[0]! < 1) {
    throw new AntidoteError('INVALID_ARGUMENT', 'fine-pruning needs clean and validation records');
  }
  if (layer === undefined) {
    throw new AntidoteError('INVALID_ARGUMENT', 'fine-pruning needs a layer: the model has none', {
      field: 'layer',
    });
  }
  const pruner: UnitPruner =
    'unitPruner' in model ? model.unitPruner(layer) : denseUnitPruner(model.model, layer);
  const units = pruner.units;
  const { data, dim } = await model.activations(clean.x, clean.shape[0]!, layer);
  if (dim !== units) {
    pruner.dispose();
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `layer "${layer}" has ${dim} values per record but ${units} prunable units`,
      { field: 'layer' },
    );
  }
  const mean = new Float64Array(dim);
  for (let i = 0; i < data.length; i++) mean[i % dim]! += data[i]!;
  for (let j = 0; j < dim; j++) mean[j]! /= clean.shape[0]!;
  const order = Array.from({ length: units }, (_, j) => j).sort(
    (a, b) => mean[a]! - mean[b]! || a - b,
  );
  const accuracyBefore = await accuracyOn(model, validation);
  const perStep = Math.max(1, Math.round(step * units));
  const limit = Math.floor(maxFraction * units);
  const steps: Array<{ fraction: number; accuracy: number }> = [];
  let kept = 0;
  let keptAccuracy = accuracyBefore;
  try {
    for (let count = perStep; count <= limit; count += perStep) {
      pruner.prune(order.slice(kept, count));
      const acc = await accuracyOn(model, validation);
      steps.push({ fraction: count / units, accuracy: acc });
      options.onProgress?.({ stage: 'prune', done: count, total: limit });
      if (acc < accuracyBefore - maxDrop) {
        // Undo the last step: restore the weights and prune the accepted prefix again.
        pruner.reset(order.slice(0, kept));
        break;
      }
      kept = count;
      keptAccuracy = acc;
    }
  } finally {
    pruner.dispose();
  }
  const pruned = order.slice(0, kept);
  let accuracyAfter = keptAccuracy;
  if (epochs > 0) {
    options.onProgress?.({ stage: 'fine-tune', done: 0, total: epochs });
    await model.fit(clean, {
      seed: options.seed,
      epochs,
      batchSize: options.batchSize ?? 32,
      learningRate: options.learningRate ?? 0.001,
    });
    // Pruned ReLU units get no gradient (an ONNX graph keeps its pruned weights masked);
    // re-zero a zoo model's anyway so rounding can never revive them.
    if (!('unitPruner' in model)) pruneDenseUnits(model.model, layer, pruned);
    accuracyAfter = await accuracyOn(model, validation);
  }
  return {
    layer,
    pruned,
    fraction: pruned.length / units,
    meanActivation: Array.from(mean),
    accuracyBefore,
    accuracyAfterPruning: keptAccuracy,
    accuracyAfter,
    steps,
  };
}
