/**
 * The one home of PNG decoding and encoding (pngjs): 8-bit RGBA rasters in and out, unreadable
 * bytes as `INVALID_FORMAT` naming where they came from. PNG folders, trigger pictures, report
 * grids and the dashboard all go through here.
 */
import { PNG } from 'pngjs';
import { AntidoteError } from '../errors.js';
import { checkLimit } from '../util/limits.js';

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/**
 * `LIMIT_EXCEEDED` when the IHDR chunk of `bytes` declares more pixels than the `maxPixels` decode
 * limit: checked before the decoder allocates anything for them (a 69-byte PNG may declare
 * 65535 × 65535). Bytes that are no PNG are left to the decoder to refuse.
 */
function checkDeclaredPixels(bytes: Uint8Array, where: string): void {
  if (bytes.length < 24 || PNG_SIGNATURE.some((b, i) => bytes[i] !== b)) return;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(12) !== 0x49484452) return; // not IHDR first: the decoder refuses it
  const width = view.getUint32(16);
  const height = view.getUint32(20);
  checkLimit('maxPixels', width * height, `pixels (${width} × ${height})`, where);
}

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
 * PNG: REASON", or the message `unreadable` gives; a declared size above the `maxPixels` decode
 * limit → `LIMIT_EXCEEDED`, before anything is allocated for it.
 */
export function decodePng(
  bytes: Uint8Array,
  where = 'PNG data',
  unreadable: (reason: string) => string = (reason) => `${where} is not a readable PNG: ${reason}`,
): Rgba8Image {
  checkDeclaredPixels(bytes, where);
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
