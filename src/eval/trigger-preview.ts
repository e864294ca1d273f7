import type { Trigger } from '../attacks/triggers.js';
import { type Dataset, numRecords, recordShape, recordSize } from '../data/dataset.js';
import { AntidoteError } from '../errors.js';
import type { Rng } from '../util/rng.js';

/** One image and its shape (what an image grid draws). */
export interface PreviewImage {
  readonly data: Float32Array;
  readonly shape: readonly number[];
  /** The record id. */
  readonly id: string;
}

/** Clean examples and the same examples with the trigger applied, index-aligned. */
export interface TriggerPreview {
  readonly clean: PreviewImage[];
  readonly triggered: PreviewImage[];
}

/**
 * Picks `count` records (one per class in turn, the first of each class in dataset order, so
 * the preview is stable) and pairs each with its triggered version, for a clean-vs-triggered
 * image grid. Random trigger positions come from `rng`.
 */
export function triggerPreview(
  ds: Dataset,
  trigger: Trigger,
  count: number,
  rng: Rng,
): TriggerPreview {
  if (!Number.isInteger(count) || count < 1) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `preview count must be a positive integer, got ${count}`,
    );
  }
  const shape = recordShape(ds);
  const size = recordSize(ds);
  const byClass: number[][] = ds.classes.map(() => []);
  for (let i = 0; i < numRecords(ds); i++) byClass[ds.y[i]!]!.push(i);
  const picked: number[] = [];
  for (let round = 0; picked.length < count; round++) {
    let any = false;
    for (const list of byClass) {
      if (round < list.length && picked.length < count) {
        picked.push(list[round]!);
        any = true;
      }
    }
    if (!any) break;
  }
  const clean: PreviewImage[] = [];
  const triggered: PreviewImage[] = [];
  for (const i of picked) {
    const data = ds.x.slice(i * size, (i + 1) * size);
    clean.push({ data, shape, id: ds.ids[i]! });
    triggered.push({ data: trigger.apply(data, shape, rng), shape, id: ds.ids[i]! });
  }
  return { clean, triggered };
}
