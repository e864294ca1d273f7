import { PNG } from 'pngjs';
import { AntidoteError } from '../errors.js';

/** An 8-bit RGBA raster, row-major `[height, width, 4]`. */
export interface Rgba8Image {
  readonly width: number;
  readonly height: number;
  /** `width · height · 4` bytes. */
  readonly data: Uint8Array;
}

/** Encodes an RGBA raster as PNG bytes (pngjs, 8-bit RGBA, default zlib level). */
export function encodePng(img: Rgba8Image): Uint8Array {
  if (
    !Number.isInteger(img.width) ||
    !Number.isInteger(img.height) ||
    img.width <= 0 ||
    img.height <= 0 ||
    img.data.length !== img.width * img.height * 4
  ) {
    throw new AntidoteError(
      'SHAPE_MISMATCH',
      `a ${img.width}×${img.height} RGBA image needs ${img.width * img.height * 4} bytes, got ${img.data.length}`,
    );
  }
  const png = new PNG({ width: img.width, height: img.height });
  png.data = Buffer.from(img.data.buffer, img.data.byteOffset, img.data.byteLength);
  return new Uint8Array(PNG.sync.write(png));
}

/** Decodes PNG bytes to an 8-bit RGBA raster; unreadable bytes → `INVALID_FORMAT`. */
export function decodePng(bytes: Uint8Array, where = 'PNG data'): Rgba8Image {
  try {
    const png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    return { width: png.width, height: png.height, data: new Uint8Array(png.data) };
  } catch (e) {
    throw new AntidoteError(
      'INVALID_FORMAT',
      `${where} is not a readable PNG: ${(e as Error).message}`,
      { path: where },
      { cause: e },
    );
  }
}
