import { decodePng } from '../data/png.js';
import { AntidoteError } from '../errors.js';
import { readBytes } from '../util/fs.js';

/**
 * A decoded RGBA raster with values in [0, 1], row-major `[height, width, 4]`. Used as the
 * picture of an image-insert or blended trigger.
 */
export interface RasterImage {
  readonly width: number;
  readonly height: number;
  /** `height · width · 4` values in [0, 1]: red, green, blue, alpha. */
  readonly rgba: Float32Array;
}

/** Names of the built-in trigger pictures (no file needed). */
export type BuiltinTriggerImage = 'cyan-square' | 'bright-square';

/** Every built-in trigger picture. */
export const BUILTIN_TRIGGER_IMAGES: readonly BuiltinTriggerImage[] = Object.freeze([
  'cyan-square',
  'bright-square',
]);

/** True when `name` names a built-in trigger picture rather than a PNG path. */
export function isBuiltinTriggerImage(name: string): name is BuiltinTriggerImage {
  return (BUILTIN_TRIGGER_IMAGES as readonly string[]).includes(name);
}

/**
 * A built-in trigger picture as a 1×1 opaque raster (it is scaled to the trigger size):
 * `'cyan-square'` is RGB (0, 1, 1), meant for colour images; `'bright-square'` is white (1, 1, 1),
 * meant for grayscale images.
 */
export function builtinTriggerImage(name: BuiltinTriggerImage): RasterImage {
  const rgba = name === 'cyan-square' ? Float32Array.of(0, 1, 1, 1) : Float32Array.of(1, 1, 1, 1);
  return { width: 1, height: 1, rgba };
}

/**
 * Decodes PNG bytes (any colour type and bit depth pngjs reads) into a {@link RasterImage}.
 * Throws `AntidoteError('INVALID_FORMAT')` naming `where` when the bytes are not a readable PNG.
 */
export function decodePngImage(bytes: Uint8Array, where = 'PNG data'): RasterImage {
  const { width, height, data } = decodePng(bytes, where);
  if (width <= 0 || height <= 0) {
    throw new AntidoteError('INVALID_FORMAT', `${where} has no pixels`, { path: where });
  }
  // pngjs normalises to 8-bit RGBA unless 16-bit input is kept; its sync reader returns 8-bit.
  const rgba = new Float32Array(width * height * 4);
  for (let i = 0; i < rgba.length; i++) rgba[i] = data[i]! / 255;
  return { width, height, rgba };
}

/**
 * Reads a PNG file into a {@link RasterImage}. Missing file → `NOT_FOUND`; unreadable PNG →
 * `INVALID_FORMAT`.
 */
export async function readPngImage(path: string): Promise<RasterImage> {
  const bytes = await readBytes(path, {
    message: (e) => `cannot read trigger image ${path}: ${e.message}`,
  });
  return decodePngImage(bytes, path);
}

/**
 * Resamples `img` to `height × width` (nearest neighbour, so a pattern's hard edges survive) and
 * converts it to `channels` channels: 1 → luminance (ITU-R BT.601 weights), 3 → RGB, otherwise
 * channel c takes RGB component c mod 3. Returns `{ color: [h, w, channels], alpha: [h, w] }`.
 */
export function resampleRaster(
  img: RasterImage,
  height: number,
  width: number,
  channels: number,
): { color: Float32Array; alpha: Float32Array } {
  const color = new Float32Array(height * width * channels);
  const alpha = new Float32Array(height * width);
  for (let r = 0; r < height; r++) {
    const sr = Math.min(img.height - 1, Math.floor(((r + 0.5) * img.height) / height));
    for (let c = 0; c < width; c++) {
      const sc = Math.min(img.width - 1, Math.floor(((c + 0.5) * img.width) / width));
      const s = (sr * img.width + sc) * 4;
      const red = img.rgba[s]!;
      const green = img.rgba[s + 1]!;
      const blue = img.rgba[s + 2]!;
      const p = r * width + c;
      alpha[p] = img.rgba[s + 3]!;
      if (channels === 1) {
        color[p] = 0.299 * red + 0.587 * green + 0.114 * blue;
      } else {
        for (let k = 0; k < channels; k++) {
          color[p * channels + k] = k % 3 === 0 ? red : k % 3 === 1 ? green : blue;
        }
      }
    }
  }
  return { color, alpha };
}
