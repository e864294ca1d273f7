import { open } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';
import { AntidoteError } from '../errors.js';
import { readBytes } from '../util/fs.js';
import { inflateBudget } from '../util/limits.js';
import type { NdArray, NpyDtype } from './npy.js';

/**
 * The IDX file format of the MNIST database (LeCun, Bottou, Bengio & Haffner 1998;
 * http://yann.lecun.com/exdb/mnist/): two zero bytes, a type byte, the number of dimensions,
 * one big-endian uint32 per dimension, then the values, big endian, row-major.
 * Fashion-MNIST (Xiao, Rasul & Vollgraf 2017) uses the same format, usually gzipped.
 */

/** The IDX type byte of each dtype. */
export const IDX_TYPES: Readonly<Record<number, { dtype: NpyDtype; size: number }>> = {
  8: { dtype: 'uint8', size: 1 },
  9: { dtype: 'int8', size: 1 },
  11: { dtype: 'int16', size: 2 },
  12: { dtype: 'int32', size: 4 },
  13: { dtype: 'float32', size: 4 },
  14: { dtype: 'float64', size: 8 },
};

/** Options for {@link decodeIdx} / {@link readIdx}. */
export interface IdxReadOptions {
  /** Read only the first `limit` records (along the first dimension). */
  readonly limit?: number;
}

/** The parsed header of an IDX file. */
export interface IdxHeader {
  readonly dtype: NpyDtype;
  /** Bytes per value. */
  readonly size: number;
  readonly shape: readonly number[];
  /** Byte offset of the first value. */
  readonly dataOffset: number;
}

function fail(where: string, message: string, offset: number): never {
  throw new AntidoteError('INVALID_FORMAT', `${where}: ${message} (at byte ${offset})`, {
    path: where,
    offset,
  });
}

/** True when `bytes` start with the gzip magic `1f 8b`. */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/**
 * Parses the magic and dimensions of an IDX file. `INVALID_FORMAT` (with the file and the byte
 * offset) for a wrong magic, an unknown type byte or truncated dimensions.
 */
export function parseIdxHeader(bytes: Uint8Array, where = '<idx>'): IdxHeader {
  if (bytes.length < 4) fail(where, `file too short for an IDX header (${bytes.length} bytes)`, 0);
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    fail(
      where,
      `not an IDX file: magic starts ${hex(bytes[0]!)} ${hex(bytes[1]!)}, expected 0x00 0x00`,
      0,
    );
  }
  // The four magic bytes exist: the length was checked above.
  const typeByte = bytes[2]!;
  const type = IDX_TYPES[typeByte];
  if (!type) fail(where, `unknown IDX type byte ${hex(typeByte)}`, 2);
  const nd = bytes[3]!;
  if (nd === 0) fail(where, 'IDX file declares 0 dimensions', 3);
  const dataOffset = 4 + 4 * nd;
  if (bytes.length < dataOffset) {
    fail(where, `truncated header: ${nd} dimensions need ${dataOffset} bytes`, bytes.length);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const shape = Array.from({ length: nd }, (_, i) => view.getUint32(4 + 4 * i, false));
  return { dtype: type.dtype, size: type.size, shape, dataOffset };
}

function expectedBytes(header: IdxHeader): number {
  return header.dataOffset + header.shape.reduce((a, b) => a * b, 1) * header.size;
}

/**
 * Decodes IDX bytes (plain or gzip-compressed) into an {@link NdArray}. `INVALID_FORMAT` with the
 * file and byte offset for a wrong magic, unknown type, truncated header or data, or trailing
 * bytes.
 */
export function decodeIdx(
  input: Uint8Array,
  where = '<idx>',
  options: IdxReadOptions = {},
): NdArray {
  let bytes = input;
  if (isGzip(input)) {
    const budget = inflateBudget(input.length);
    try {
      bytes = gunzipSync(input, { maxOutputLength: budget });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
        throw new AntidoteError(
          'LIMIT_EXCEEDED',
          `${where}: gzip data inflates past ${budget} bytes (maxCompressionRatio, maxDecompressedBytes)`,
          { path: where },
        );
      }
      fail(where, `corrupt or truncated gzip data: ${(e as Error).message}`, 0);
    }
  }
  const header = parseIdxHeader(bytes, where);
  const total = expectedBytes(header);
  if (bytes.length < total) {
    fail(
      where,
      `truncated: shape [${header.shape.join(', ')}] of ${header.dtype} needs ${total} bytes, the file has ${bytes.length}`,
      bytes.length,
    );
  }
  if (bytes.length > total) fail(where, `${bytes.length - total} unexpected trailing bytes`, total);
  return decodeValues(header, bytes.subarray(header.dataOffset), options.limit, where);
}

function checkLimit(limit: number | undefined, where: string): void {
  if (limit !== undefined && (!Number.isSafeInteger(limit) || limit < 0)) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `limit must be a non-negative integer, got ${limit}`,
      { path: where },
    );
  }
}

function decodeValues(
  header: IdxHeader,
  data: Uint8Array,
  limit: number | undefined,
  where: string,
): NdArray {
  checkLimit(limit, where);
  // parseIdxHeader refuses 0 dimensions, so shape[0] exists.
  const n0 = header.shape[0]!;
  const n = limit === undefined ? n0 : Math.min(limit, n0);
  const shape = [n, ...header.shape.slice(1)];
  const count = shape.reduce((a, b) => a * b, 1);
  const raw = data.subarray(0, count * header.size);
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  switch (header.dtype) {
    case 'uint8':
      return { dtype: 'uint8', shape, data: new Uint8Array(raw) };
    case 'int8':
      return {
        dtype: 'int8',
        shape,
        data: new Int8Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + count)),
      };
    case 'int16': {
      const out = new Int16Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getInt16(2 * i, false);
      return { dtype: 'int16', shape, data: out };
    }
    case 'int32': {
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getInt32(4 * i, false);
      return { dtype: 'int32', shape, data: out };
    }
    case 'float32': {
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat32(4 * i, false);
      return { dtype: 'float32', shape, data: out };
    }
    case 'float64': {
      const out = new Float64Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat64(8 * i, false);
      return { dtype: 'float64', shape, data: out };
    }
    default:
      throw new AntidoteError('UNSUPPORTED_DTYPE', `${where}: IDX dtype ${header.dtype}`, {
        path: where,
      });
  }
}

/**
 * Reads an IDX file (plain or `.gz`, detected by its magic). With `limit` on a plain file only the
 * header and the first `limit` records are read from disk, after checking the file's size
 * matches its header (so a truncated file is still reported).
 */
export async function readIdx(path: string, options: IdxReadOptions = {}): Promise<NdArray> {
  checkLimit(options.limit, path);
  if (options.limit === undefined) return decodeIdx(await readBytes(path), path, options);
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, 'r');
  } catch {
    return decodeIdx(await readBytes(path), path, options); // maps ENOENT etc.
  }
  try {
    const { size } = await handle.stat();
    const head = new Uint8Array(Math.min(size, 4 + 4 * 255));
    await handle.read(head, 0, head.length, 0);
    if (isGzip(head)) return decodeIdx(await readBytes(path), path, options);
    const header = parseIdxHeader(head, path);
    const total = expectedBytes(header);
    if (size < total) {
      fail(
        path,
        `truncated: shape [${header.shape.join(', ')}] of ${header.dtype} needs ${total} bytes, the file has ${size}`,
        size,
      );
    }
    if (size > total) fail(path, `${size - total} unexpected trailing bytes`, total);
    const n = Math.min(options.limit, header.shape[0]!);
    const recordBytes = header.shape.slice(1).reduce((a, b) => a * b, 1) * header.size;
    const data = new Uint8Array(n * recordBytes);
    if (data.length > 0) await handle.read(data, 0, data.length, header.dataOffset);
    return decodeValues(header, data, n, path);
  } catch (e) {
    if (e instanceof AntidoteError) throw e;
    throw new AntidoteError(
      'IO_ERROR',
      `cannot read ${path}: ${(e as Error).message}`,
      { path },
      { cause: e },
    );
  } finally {
    await handle.close();
  }
}

/**
 * Encodes an array as (uncompressed) IDX bytes; dtypes outside {@link IDX_TYPES} are refused
 * with `UNSUPPORTED_DTYPE`. Mainly for tests and for exporting small datasets.
 */
export function encodeIdx(array: NdArray): Uint8Array {
  const entry = Object.entries(IDX_TYPES).find(([, t]) => t.dtype === array.dtype);
  if (!entry) {
    throw new AntidoteError('UNSUPPORTED_DTYPE', `IDX cannot hold dtype ${array.dtype}`, {
      dtype: array.dtype,
    });
  }
  const [code, { size }] = entry;
  const nd = array.shape.length;
  const out = new Uint8Array(4 + 4 * nd + array.data.length * size);
  const view = new DataView(out.buffer);
  out[2] = Number(code);
  out[3] = nd;
  array.shape.forEach((d, i) => {
    view.setUint32(4 + 4 * i, d, false);
  });
  const o = 4 + 4 * nd;
  const values = array.data as ArrayLike<number>;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (size === 1) view.setUint8(o + i, v & 0xff);
    else if (array.dtype === 'int16') view.setInt16(o + 2 * i, v, false);
    else if (array.dtype === 'int32') view.setInt32(o + 4 * i, v, false);
    else if (array.dtype === 'float32') view.setFloat32(o + 4 * i, v, false);
    else view.setFloat64(o + 8 * i, v, false);
  }
  return out;
}

function hex(b: number): string {
  return `0x${b.toString(16).padStart(2, '0')}`;
}
