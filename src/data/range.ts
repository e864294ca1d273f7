/**
 * The value range of image records: uint8-style data (0–255) is recognised and divided by 255,
 * with a notice, where datasets enter the audit, the scan and training (issue 16, item 4).
 * Antidote's image models (the zoo) read pixels in [0, 1], and its loaders of PNG folders and
 * MNIST produce [0, 1]; a `.npz` written from uint8 arrays would otherwise be scanned at 255×
 * the scale the models expect, and nothing would be found.
 */
import { type Dataset, recordShape } from './dataset.js';

/** What {@link inspectRange} found. */
export interface RangeInfo {
  readonly min: number;
  readonly max: number;
  /**
   * Whether the records look like 0–255 pixel values: image records (height, width, channels)
   * with no negative value and a largest value above 1 and at most 255.
   */
  readonly looksUint8: boolean;
}

/**
 * The value range of record arrays already measured (or known from a cached outline of the
 * dataset, `jobs/dataset-outline.ts`), by array: record arrays are never written in place once
 * loaded, so a range measured once holds for the array's life. Held weakly.
 */
const knownRanges = new WeakMap<Float32Array, readonly [number, number]>();

/**
 * Records that `x`'s smallest and largest values (NaN left out) are `min` and `max`, so that
 * {@link valueRange} need not read it. The caller vouches for them: they come from a pass over
 * these very values, or over the values they were computed from by a monotone map.
 */
export function rememberValueRange(x: Float32Array, min: number, max: number): void {
  knownRanges.set(x, [min, max]);
}

/**
 * The smallest and largest value of `x`, NaN left out (±Infinity for an empty or all-NaN array):
 * remembered ({@link rememberValueRange}) or measured once and remembered.
 */
export function valueRange(x: Float32Array): readonly [number, number] {
  let r = knownRanges.get(x);
  if (!r) {
    r = minMax(x);
    knownRanges.set(x, r);
  }
  return r;
}

/** The smallest and largest feature value of `ds`, and whether it looks like 0–255 images. */
export function inspectRange(ds: Pick<Dataset, 'x' | 'shape' | 'text'>): RangeInfo {
  const x = ds.x;
  let [min, max] = valueRange(x);
  if (x.length === 0) {
    min = 0;
    max = 0;
  }
  const image = recordShape(ds).length === 3 && !ds.text;
  return { min, max, looksUint8: image && min >= 0 && max > 1 && max <= 255 };
}

/**
 * Smallest and largest value of `x`, NaN left out. Branch-free `Math.min`/`Math.max` first (about
 * twice the speed of comparisons on 47 million MNIST values: the scan's load stage); they let a
 * NaN through, so an array holding one is scanned again with comparisons, which skip it.
 */
function minMax(x: Float32Array): readonly [number, number] {
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    min = Math.min(min, v);
    max = Math.max(max, v);
  }
  if (!Number.isNaN(min) && !Number.isNaN(max)) return [min, max];
  min = Number.POSITIVE_INFINITY;
  max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return [min, max];
}

/** Result of {@link normalizeRange}. */
export interface RangeCheck {
  /** `ds`, or a copy divided by 255 when it looked like 0–255 images. */
  readonly dataset: Dataset;
  readonly range: RangeInfo;
  /** What was done and why, for the report and the CLI; absent when the data was left as is. */
  readonly notice?: string;
}

/**
 * Divides image records that look like 0–255 values ({@link inspectRange}) by 255, so they
 * match the [0, 1] scale every Antidote image model is trained on (`antidote train` goes
 * through this too), and says so in `notice`; any other data is returned unchanged. `where`
 * names the data in the notice. A model given with such data must have been trained on the
 * [0, 1] scale (an ONNX model expecting 0–255 says so with `normalization.scale: 255`).
 */
export function normalizeRange(ds: Dataset, where: string): RangeCheck {
  const range = inspectRange(ds);
  if (!range.looksUint8) return { dataset: ds, range };
  const x = new Float32Array(ds.x.length);
  for (let i = 0; i < x.length; i++) x[i] = ds.x[i]! / 255;
  // Division by 255 then rounding to float32 is monotone: the extremes map to the extremes.
  rememberValueRange(x, Math.fround(range.min / 255), Math.fround(range.max / 255));
  return {
    dataset: { ...ds, x },
    range,
    notice: `${where}: pixel values span ${fmt(range.min)}–${fmt(range.max)}, not [0, 1]: read as 0–255 and divided by 255 (Antidote's image models read [0, 1]; a model given must have been trained on that scale)`,
  };
}

const fmt = (v: number) => (Number.isInteger(v) ? String(v) : v.toFixed(3));
