/**
 * Neural Cleanse's second mitigation (Wang et al. 2019, §6.1): prune the penultimate-layer units
 * the reversed trigger activates most (largest mean activation gap between stamped and clean
 * inputs), until the reversed trigger no longer works.
 */
import type { TfClassifier } from '../engine/index.js';
import { AntidoteError } from '../errors.js';
import { type ReversedTrigger, stampReversedTrigger } from './neural-cleanse.js';
import { denseUnits, pruneDenseUnits } from './pruning.js';

/** Options of {@link pruneTriggerNeurons}. */
export interface TriggerPruningOptions {
  /** Dense layer to prune; default the model's penultimate layer. */
  readonly layer?: string;
  /** Stop once the reversed trigger's success rate on stamped clean inputs is at most this; default 0.05. */
  readonly targetAsr?: number;
  /** Share of units pruned per step; default 0.02. */
  readonly step?: number;
  /** Never prune more than this share; default 0.5. */
  readonly maxFraction?: number;
}

/** What {@link pruneTriggerNeurons} did. */
export interface TriggerPruningResult {
  readonly layer: string;
  /** Pruned units, most trigger-activated first. */
  readonly pruned: readonly number[];
  readonly fraction: number;
  /** Reversed-trigger success rate on the stamped clean inputs before and after. */
  readonly asrBefore: number;
  readonly asrAfter: number;
}

/**
 * Prunes, in place, the units of `layer` most activated by `trigger` (stamped on the `n` clean
 * records of `x`) until the trigger's success rate at sending them to its class is ≤ `targetAsr`.
 */
export async function pruneTriggerNeurons(
  model: TfClassifier,
  x: Float32Array,
  n: number,
  trigger: Pick<ReversedTrigger, 'mask' | 'pattern' | 'classIndex'>,
  options: TriggerPruningOptions = {},
): Promise<TriggerPruningResult> {
  const layer = options.layer ?? model.defaultLayer;
  const targetAsr = options.targetAsr ?? 0.05;
  const step = options.step ?? 0.02;
  const maxFraction = options.maxFraction ?? 0.5;
  if (
    !(targetAsr >= 0 && targetAsr < 1) ||
    !(step > 0 && step <= 1) ||
    !(maxFraction > 0 && maxFraction <= 1)
  ) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `trigger pruning needs targetAsr in [0, 1), step in (0, 1], maxFraction in (0, 1]; got ${targetAsr}, ${step}, ${maxFraction}`,
    );
  }
  if (n < 1) throw new AntidoteError('INVALID_ARGUMENT', 'trigger pruning needs clean records');
  const units = denseUnits(model.model, layer);
  const stamped = stampReversedTrigger(x, n, trigger);
  const clean = await model.activations(x, n, layer);
  const trig = await model.activations(stamped, n, layer);
  const gap = new Float64Array(clean.dim);
  for (let i = 0; i < clean.data.length; i++) gap[i % clean.dim]! += trig.data[i]! - clean.data[i]!;
  const order = Array.from({ length: units }, (_, j) => j).sort(
    (a, b) => gap[b]! - gap[a]! || a - b,
  );
  const asr = async () => {
    const pred = await model.predict(stamped, n);
    let hit = 0;
    for (const p of pred) if (p === trigger.classIndex) hit++;
    return hit / n;
  };
  const asrBefore = await asr();
  let after = asrBefore;
  const perStep = Math.max(1, Math.round(step * units));
  const limit = Math.floor(maxFraction * units);
  let count = 0;
  while (after > targetAsr && count < limit) {
    const next = Math.min(limit, count + perStep);
    pruneDenseUnits(model.model, layer, order.slice(count, next));
    count = next;
    after = await asr();
  }
  return {
    layer,
    pruned: order.slice(0, count),
    fraction: count / units,
    asrBefore,
    asrAfter: after,
  };
}
