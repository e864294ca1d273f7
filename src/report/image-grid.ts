import { encodePng, type Rgba8Image } from '../data/png.js';
import { AntidoteError } from '../errors.js';

/** One image of a grid: HWC (`[H, W]`, `[H, W, 1]` grayscale, `[H, W, 3]` RGB). */
export interface GridImage {
  readonly data: Float32Array;
  readonly shape: readonly number[];
}

/** Options of {@link renderImageGrid}. */
export interface ImageGridOptions {
  /** Integer upscaling factor (nearest neighbour, so pixels stay crisp); default 4. */
  readonly scale?: number;
  /** Gap between cells and around the grid, in output pixels; default 2. */
  readonly padding?: number;
  /** Gap colour as gray level in [0, 1]; default 1 (white). */
  readonly background?: number;
  /** Value range mapped to black..white (clamped); default `[0, 1]`. */
  readonly range?: readonly [number, number];
}

function dims(shape: readonly number[]): [number, number, number] {
  if (
    (shape.length !== 2 && shape.length !== 3) ||
    shape.some((d) => !Number.isInteger(d) || d <= 0)
  ) {
    throw new AntidoteError(
      'SHAPE_MISMATCH',
      `grid images must be [H, W] or [H, W, C], got [${shape.join(', ')}]`,
    );
  }
  const [h, w, c = 1] = shape as readonly [number, number, number?];
  if (c !== 1 && c !== 3 && c !== 4) {
    throw new AntidoteError('SHAPE_MISMATCH', `grid images need 1, 3 or 4 channels, got ${c}`);
  }
  return [h, w, c];
}

/**
 * Lays images out in rows (e.g. row 0 clean examples, row 1 the same images triggered), upscales
 * them and returns the raster. All images must share one shape; rows may differ in length.
 */
export function imageGridRaster(
  rows: readonly (readonly GridImage[])[],
  options: ImageGridOptions = {},
): Rgba8Image {
  const scale = options.scale ?? 4;
  const pad = options.padding ?? 2;
  const [lo, hi] = options.range ?? [0, 1];
  if (!Number.isInteger(scale) || scale < 1 || scale > 64) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `scale must be an integer in [1, 64], got ${scale}`,
    );
  }
  if (!Number.isInteger(pad) || pad < 0) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `padding must be a non-negative integer, got ${pad}`,
    );
  }
  if (!(hi > lo))
    throw new AntidoteError('INVALID_ARGUMENT', `range must have max > min, got [${lo}, ${hi}]`);
  const first = rows.find((r) => r.length > 0)?.[0];
  if (!first) throw new AntidoteError('INVALID_ARGUMENT', 'an image grid needs at least one image');
  const [h, w, c] = dims(first.shape);
  const cols = Math.max(...rows.map((r) => r.length));
  const cellW = w * scale;
  const cellH = h * scale;
  const width = cols * cellW + (cols + 1) * pad;
  const height = rows.length * cellH + (rows.length + 1) * pad;
  const data = new Uint8Array(width * height * 4);
  const bg = Math.round(Math.min(1, Math.max(0, options.background ?? 1)) * 255);
  for (let i = 0; i < width * height; i++) {
    data[i * 4] = data[i * 4 + 1] = data[i * 4 + 2] = bg;
    data[i * 4 + 3] = 255;
  }
  const byte = (v: number) => Math.round(Math.min(1, Math.max(0, (v - lo) / (hi - lo))) * 255);
  rows.forEach((row, r) => {
    row.forEach((img, col) => {
      const [ih, iw, ic] = dims(img.shape);
      if (ih !== h || iw !== w || ic !== c || img.data.length !== h * w * c) {
        throw new AntidoteError(
          'SHAPE_MISMATCH',
          `grid image at row ${r}, column ${col} is [${img.shape.join(', ')}] with ${img.data.length} values; expected [${h}, ${w}, ${c}]`,
        );
      }
      const x0 = pad + col * (cellW + pad);
      const y0 = pad + r * (cellH + pad);
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          const s = (y * w + x) * c;
          const r = byte(img.data[s]!);
          const g = c === 1 ? r : byte(img.data[s + 1]!);
          const b = c === 1 ? r : byte(img.data[s + 2]!);
          for (let dy = 0; dy < scale; dy++) {
            for (let dx = 0; dx < scale; dx++) {
              const o = ((y0 + y * scale + dy) * width + x0 + x * scale + dx) * 4;
              data[o] = r;
              data[o + 1] = g;
              data[o + 2] = b;
            }
          }
        }
      }
    });
  });
  return { width, height, data };
}

/** {@link imageGridRaster} encoded as PNG bytes — e.g. clean vs triggered examples for a report. */
export function renderImageGrid(
  rows: readonly (readonly GridImage[])[],
  options: ImageGridOptions = {},
): Uint8Array {
  return encodePng(imageGridRaster(rows, options));
}
