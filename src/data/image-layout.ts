import { AntidoteError } from '../errors.js';

/**
 * The memory layout of the records of a NumPy array: `HW` (grayscale `[N, H, W]`), `HWC`
 * (`[N, H, W, C]`, Antidote's own) or `CHW` (`[N, C, H, W]`, PyTorch's). Flat feature rows
 * (`[N, D]`) have none.
 */
export type ImageLayout = 'hw' | 'hwc' | 'chw';

/** Every {@link ImageLayout}, as `--data-layout` takes them. */
export const IMAGE_LAYOUTS: readonly ImageLayout[] = ['hw', 'hwc', 'chw'];

/** What {@link toHwc} did. */
export interface LayoutResult {
  /** The records in HWC order (the input itself when nothing changed). */
  readonly x: Float32Array;
  /** `[N, H, W, C]`, or the input shape for feature rows. */
  readonly shape: number[];
  /** The layout the records were read as; undefined for `[N, D]` feature rows. */
  readonly layout?: ImageLayout;
  /** Set when the layout was inferred and the records were reshaped or reordered, or when the
   * inference was a guess: says which layout was assumed and how to ask for another. */
  readonly notice?: string;
}

/** Channel counts of images: grayscale, RGB, RGBA. */
const CHANNELS = new Set([1, 3, 4]);

/**
 * The layout of records of shape `record` (the array's shape without N): rank 2 is `hw`; rank 3
 * is `hwc` when its last axis looks like channels (1, 3 or 4), else `chw` when its first does;
 * otherwise `hwc` (a guess, `guessed` true). Rank 1 (feature rows) has none; higher ranks are
 * `SHAPE_MISMATCH`.
 */
export function inferLayout(
  record: readonly number[],
  where: string,
): { layout?: ImageLayout; guessed: boolean } {
  if (record.length <= 1) return { guessed: false };
  if (record.length === 2) return { layout: 'hw', guessed: false };
  if (record.length === 3) {
    const first = CHANNELS.has(record[0]!);
    const last = CHANNELS.has(record[2]!);
    if (last) return { layout: 'hwc', guessed: first };
    if (first) return { layout: 'chw', guessed: false };
    return { layout: 'hwc', guessed: true };
  }
  throw new AntidoteError(
    'SHAPE_MISMATCH',
    `${where}: records of shape [${record.join(', ')}] are neither feature rows [D] nor images ([H, W], [H, W, C] or [C, H, W])`,
    { path: where },
  );
}

/**
 * Puts image records in HWC order, the layout Antidote's image models read: `[N, H, W]` gets a
 * channel axis, `[N, C, H, W]` is transposed to `[N, H, W, C]`. `layout` forces a layout (the
 * CLI's `--data-layout`); without it the layout is inferred ({@link inferLayout}) and a notice
 * says what was done. `SHAPE_MISMATCH` when a forced layout does not fit the rank.
 */
export function toHwc(
  x: Float32Array,
  shape: readonly number[],
  where: string,
  layout?: ImageLayout,
): LayoutResult {
  const record = shape.slice(1);
  let chosen = layout;
  let guessed = false;
  if (chosen === undefined) {
    const inferred = inferLayout(record, where);
    chosen = inferred.layout;
    guessed = inferred.guessed;
  } else if (record.length !== (chosen === 'hw' ? 2 : 3)) {
    throw new AntidoteError(
      'SHAPE_MISMATCH',
      `${where}: layout ${chosen.toUpperCase()} needs records of rank ${chosen === 'hw' ? 2 : 3}, got [${record.join(', ')}]`,
      { path: where },
    );
  }
  const n = shape[0]!;
  if (chosen === undefined) return { x, shape: [...shape] };
  // Rank-3 records are HWC or CHW: the notice names the other; rank-2 records can only be HW.
  const other = chosen === 'hwc' ? 'chw' : 'hwc';
  const tell = (what: string) =>
    layout === undefined
      ? `${where}: records [${record.join(', ')}] read as ${what}${chosen === 'hw' ? '' : `; pass --data-layout ${other} if that is wrong`}`
      : undefined;
  if (chosen === 'hw') {
    const [h, w] = record as [number, number];
    const notice = tell(`HW grayscale images: shape [${n}, ${h}, ${w}, 1]`);
    return { x, shape: [n, h, w, 1], layout: 'hw', ...(notice ? { notice } : {}) };
  }
  if (chosen === 'hwc') {
    const notice = guessed ? tell('HWC images (height, width, channels)') : undefined;
    return { x, shape: [...shape], layout: 'hwc', ...(notice ? { notice } : {}) };
  }
  const [c, h, w] = record as [number, number, number];
  const out = new Float32Array(x.length);
  const size = c * h * w;
  for (let i = 0; i < n; i++) {
    const base = i * size;
    for (let k = 0; k < c; k++) {
      for (let p = 0; p < h * w; p++) out[base + p * c + k] = x[base + k * h * w + p]!;
    }
  }
  const notice = tell(
    `CHW images (channels first), transposed to HWC: shape [${n}, ${h}, ${w}, ${c}]`,
  );
  return { x: out, shape: [n, h, w, c], layout: 'chw', ...(notice ? { notice } : {}) };
}
