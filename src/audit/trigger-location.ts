import { type Dataset, recordShape } from '../data/dataset.js';

/** Where flagged images differ from the rest, if in one compact region. */
export interface TriggerLocation {
  /** Inclusive bounding box in pixels. */
  readonly rows: readonly [number, number];
  readonly cols: readonly [number, number];
  /** e.g. `bottom-right corner`. */
  readonly where: string;
  /** Mean |flagged − unflagged| inside the box, relative to the image's value range. */
  readonly strength: number;
  /** Whether the flagged images are brighter there than the others. */
  readonly brighter: boolean;
}

function describe(r: number, c: number, h: number, w: number): string {
  const v = r < h / 3 ? 'top' : r >= (2 * h) / 3 ? 'bottom' : 'middle';
  const hz = c < w / 3 ? 'left' : c >= (2 * w) / 3 ? 'right' : 'centre';
  if (v === 'middle' && hz === 'centre') return 'centre';
  if (v === 'middle') return `${hz} edge`;
  if (hz === 'centre') return `${v} edge`;
  return `${v}-${hz} corner`;
}

/**
 * Looks for a trigger: the pixels where the mean of the `flagged` images differs most from the
 * mean of the others. Returns the bounding box of the pixels above half the largest difference
 * when it is compact (at most a sixteenth of the image) and clearly stronger than elsewhere, and
 * `undefined` otherwise (or for non-image data).
 */
export function locateTrigger(ds: Dataset, flagged: Uint8Array): TriggerLocation | undefined {
  const shape = recordShape(ds);
  if (shape.length !== 3) return undefined;
  const [h, w, c] = shape as [number, number, number];
  const size = h * w * c;
  const n = ds.y.length;
  const sumF = new Float64Array(h * w);
  const sumO = new Float64Array(h * w);
  let nf = 0;
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < n; i++) {
    const target = flagged[i] ? sumF : sumO;
    if (flagged[i]) nf++;
    const base = i * size;
    for (let p = 0; p < h * w; p++) {
      let v = 0;
      for (let ch = 0; ch < c; ch++) {
        const x = ds.x[base + p * c + ch]!;
        v += x;
        if (x < lo) lo = x;
        if (x > hi) hi = x;
      }
      target[p]! += v / c;
    }
  }
  if (nf === 0 || nf === n) return undefined;
  const diff = new Float64Array(h * w);
  let max = 0;
  let total = 0;
  for (let p = 0; p < h * w; p++) {
    diff[p] = sumF[p]! / nf - sumO[p]! / (n - nf);
    total += Math.abs(diff[p]!);
    if (Math.abs(diff[p]!) > max) max = Math.abs(diff[p]!);
  }
  if (max === 0) return undefined;
  let r0 = h;
  let r1 = -1;
  let c0 = w;
  let c1 = -1;
  let inside = 0;
  let signed = 0;
  let count = 0;
  for (let p = 0; p < h * w; p++) {
    if (Math.abs(diff[p]!) < max / 2) continue;
    const r = Math.floor(p / w);
    const col = p % w;
    r0 = Math.min(r0, r);
    r1 = Math.max(r1, r);
    c0 = Math.min(c0, col);
    c1 = Math.max(c1, col);
  }
  for (let r = r0; r <= r1; r++) {
    for (let col = c0; col <= c1; col++) {
      inside += Math.abs(diff[r * w + col]!);
      signed += diff[r * w + col]!;
      count++;
    }
  }
  const boxArea = (r1 - r0 + 1) * (c1 - c0 + 1);
  const meanInside = inside / count;
  const meanOutside = (total - inside) / Math.max(h * w - count, 1);
  if (boxArea > (h * w) / 16 || meanInside < 3 * meanOutside) return undefined;
  return {
    rows: [r0, r1],
    cols: [c0, c1],
    where: describe((r0 + r1) / 2, (c0 + c1) / 2, h, w),
    strength: meanInside / Math.max(hi - lo, 1e-12),
    brighter: signed > 0,
  };
}
