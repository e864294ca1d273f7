/**
 * The one home of PNG decoding and encoding (pngjs): 8-bit RGBA rasters in and out, unreadable
 * bytes as `INVALID_FORMAT` naming where they came from. PNG folders, trigger pictures, report
 * grids and the dashboard all go through here.
 */
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

/**
 * Decodes PNG bytes (any colour type and bit depth pngjs reads; 16-bit is scaled to 8-bit) to an
 * 8-bit RGBA raster. Unreadable bytes → `INVALID_FORMAT` naming `where`: "WHERE is not a readable
 * PNG: REASON", or the message `unreadable` gives.
 */
export function decodePng(
  bytes: Uint8Array,
  where = 'PNG data',
  unreadable: (reason: string) => string = (reason) => `${where} is not a readable PNG: ${reason}`,
): Rgba8Image {
  let png: PNG;
  try {
    png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  } catch (e) {
    throw new AntidoteError(
      'INVALID_FORMAT',
      unreadable((e as Error).message),
      { path: where },
      { cause: e },
    );
  }
  return { width: png.width, height: png.height, data: new Uint8Array(png.data) };
}
