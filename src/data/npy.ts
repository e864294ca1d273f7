import { endianness } from 'node:os';
import { AntidoteError } from '../errors.js';
import { readBytes, writeFileAtomic } from '../util/fs.js';
import { checkLimit, decodeLimits } from '../util/limits.js';

/**
 * NumPy `.npy` files, format versions 1.0, 2.0 and 3.0, as specified in NumPy's
 * `numpy/lib/format.py` (NEP 1, "A simple file format for NumPy arrays").
 */

/** The NumPy dtypes Antidote reads and writes. */
export type NpyDtype =
  | 'float32'
  | 'float64'
  | 'uint8'
  | 'int8'
  | 'int16'
  | 'uint16'
  | 'int32'
  | 'uint32'
  | 'int64'
  | 'uint64'
  | 'bool';

/** The typed array holding the values of each {@link NpyDtype} (bool as 0/1 bytes). */
export interface NpyDataMap {
  float32: Float32Array;
  float64: Float64Array;
  uint8: Uint8Array;
  int8: Int8Array;
  int16: Int16Array;
  uint16: Uint16Array;
  int32: Int32Array;
  uint32: Uint32Array;
  int64: BigInt64Array;
  uint64: BigUint64Array;
  bool: Uint8Array;
}

/**
 * An n-dimensional array in C (row-major) order: a dtype, a shape and the matching typed array.
 * A discriminated union on `dtype`, so `data`'s type follows from it. 64-bit integers are kept
 * exact as `BigInt64Array` / `BigUint64Array`; {@link ndToNumbers} converts them with a
 * safe-integer check.
 */
export type NdArray<D extends NpyDtype = NpyDtype> = {
  [K in D]: { readonly dtype: K; readonly shape: readonly number[]; readonly data: NpyDataMap[K] };
}[D];

interface DtypeInfo {
  readonly kind: 'f' | 'i' | 'u' | 'b';
  readonly size: number;
  readonly make: (buffer: ArrayBuffer, length: number) => NpyDataMap[NpyDtype];
}

const DTYPES: Record<NpyDtype, DtypeInfo> = {
  float32: { kind: 'f', size: 4, make: (b, n) => new Float32Array(b, 0, n) },
  float64: { kind: 'f', size: 8, make: (b, n) => new Float64Array(b, 0, n) },
  uint8: { kind: 'u', size: 1, make: (b, n) => new Uint8Array(b, 0, n) },
  int8: { kind: 'i', size: 1, make: (b, n) => new Int8Array(b, 0, n) },
  int16: { kind: 'i', size: 2, make: (b, n) => new Int16Array(b, 0, n) },
  uint16: { kind: 'u', size: 2, make: (b, n) => new Uint16Array(b, 0, n) },
  int32: { kind: 'i', size: 4, make: (b, n) => new Int32Array(b, 0, n) },
  uint32: { kind: 'u', size: 4, make: (b, n) => new Uint32Array(b, 0, n) },
  int64: { kind: 'i', size: 8, make: (b, n) => new BigInt64Array(b, 0, n) },
  uint64: { kind: 'u', size: 8, make: (b, n) => new BigUint64Array(b, 0, n) },
  bool: { kind: 'b', size: 1, make: (b, n) => new Uint8Array(b, 0, n) },
};

/** Every dtype Antidote reads, in a stable order. */
export const NPY_DTYPES: readonly NpyDtype[] = Object.keys(DTYPES) as NpyDtype[];

/** Bytes per element of `dtype`. */
export function dtypeSize(dtype: NpyDtype): number {
  return DTYPES[dtype].size;
}

/** Number of elements of an array of `shape` (1 for a 0-d array). */
export function shapeSize(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/**
 * Builds an {@link NdArray} after checking that `data` holds exactly `shape`'s element count and
 * is the typed array of `dtype`.
 */
export function ndarray<D extends NpyDtype>(
  dtype: D,
  shape: readonly number[],
  data: NpyDataMap[D],
): NdArray<D> {
  if (shape.some((d) => !Number.isSafeInteger(d) || d < 0)) {
    throw new AntidoteError('SHAPE_MISMATCH', `invalid array shape [${shape.join(', ')}]`);
  }
  if (data.length !== shapeSize(shape)) {
    throw new AntidoteError(
      'SHAPE_MISMATCH',
      `array of shape [${shape.join(', ')}] needs ${shapeSize(shape)} values, got ${data.length}`,
    );
  }
  const probe = DTYPES[dtype].make(new ArrayBuffer(0), 0);
  if (Object.getPrototypeOf(probe) !== Object.getPrototypeOf(data)) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `dtype ${dtype} needs a ${probe.constructor.name}, got ${data.constructor.name}`,
    );
  }
  return { dtype, shape: [...shape], data } as unknown as NdArray<D>;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

function fail(where: string, message: string, extra: Record<string, unknown> = {}): never {
  throw new AntidoteError('INVALID_FORMAT', `${where}: ${message}`, { path: where, ...extra });
}

/** Parsed header of a `.npy` file. */
export interface NpyHeader {
  /** Format major version (1, 2 or 3). */
  readonly version: number;
  /** The dtype descriptor as written, e.g. `'<f4'`. */
  readonly descr: string;
  readonly fortranOrder: boolean;
  readonly shape: readonly number[];
  /** Byte offset of the array data. */
  readonly dataOffset: number;
}

/**
 * Parses the magic and header of a `.npy` file. `where` names the file in error messages.
 * Throws `INVALID_FORMAT` for a bad magic, unknown version or malformed header.
 */
export function parseNpyHeader(bytes: Uint8Array, where = '<npy>'): NpyHeader {
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) {
    fail(where, 'not a NumPy .npy file (bad magic; expected \\x93NUMPY)', { offset: 0 });
  }
  const major = bytes[6];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let headerLen: number;
  let start: number;
  if (major === 1) {
    headerLen = view.getUint16(8, true);
    start = 10;
  } else if (major === 2 || major === 3) {
    if (bytes.length < 12) fail(where, 'truncated header', { offset: 8 });
    headerLen = view.getUint32(8, true);
    start = 12;
  } else {
    fail(where, `unsupported .npy format version ${major}.${bytes[7]}`, { offset: 6 });
  }
  if (start + headerLen > bytes.length) {
    fail(where, `truncated header: needs ${headerLen} bytes from offset ${start}`, {
      offset: start,
    });
  }
  const raw = bytes.subarray(start, start + headerLen);
  const text = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(raw);
  let dict: unknown;
  try {
    dict = parsePyLiteral(text);
  } catch (e) {
    fail(where, `malformed header ${JSON.stringify(text.trim())}: ${(e as Error).message}`, {
      offset: start,
    });
  }
  if (typeof dict !== 'object' || dict === null || Array.isArray(dict)) {
    fail(where, `header is not a dict: ${JSON.stringify(text.trim())}`, { offset: start });
  }
  const h = dict as Record<string, unknown>;
  for (const key of ['descr', 'fortran_order', 'shape']) {
    if (!(key in h)) fail(where, `header lacks '${key}'`, { offset: start });
  }
  const { descr, fortran_order: fortranOrder, shape } = h;
  if (typeof descr !== 'string') {
    throw new AntidoteError(
      'UNSUPPORTED_DTYPE',
      `${where}: structured dtype ${JSON.stringify(descr)} is not supported`,
      { path: where, dtype: descr },
    );
  }
  if (typeof fortranOrder !== 'boolean') fail(where, `'fortran_order' must be True or False`);
  if (
    !Array.isArray(shape) ||
    shape.some((d) => typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0)
  ) {
    fail(where, `'shape' must be a tuple of non-negative integers`);
  }
  return {
    version: major,
    descr,
    fortranOrder,
    shape: shape as number[],
    dataOffset: start + headerLen,
  };
}

/**
 * Resolves a NumPy dtype descriptor (`'<f4'`, `'>i8'`, `'|b1'`, ...) to a dtype and byte order.
 * Anything else (complex, object, unicode, bytes, datetime, float16, structured) throws
 * `UNSUPPORTED_DTYPE` naming the descriptor and file.
 */
export function parseDescr(
  descr: string,
  where = '<npy>',
): { dtype: NpyDtype; littleEndian: boolean } {
  const m = /^([<>|=]?)([a-zA-Z])(\d+)$/.exec(descr);
  const unsupported = (): never => {
    throw new AntidoteError(
      'UNSUPPORTED_DTYPE',
      `${where}: dtype '${descr}' is not supported (supported: float32, float64, int8/16/32/64, uint8/16/32/64, bool)`,
      { path: where, dtype: descr },
    );
  };
  if (!m) return unsupported();
  const [, order, kind, sizeText] = m;
  const size = Number(sizeText);
  const dtype = NPY_DTYPES.find((d) => DTYPES[d].kind === kind && DTYPES[d].size === size);
  if (!dtype) return unsupported();
  const littleEndian = order === '>' ? false : order === '=' ? endianness() === 'LE' : true;
  return { dtype, littleEndian };
}

/** The NumPy descriptor Antidote writes for `dtype` (always little endian). */
export function descrOf(dtype: NpyDtype): string {
  const { kind, size } = DTYPES[dtype];
  return `${size === 1 ? '|' : '<'}${kind}${size}`;
}

/**
 * Decodes a `.npy` file (versions 1–3) into an {@link NdArray} in C order: Fortran-ordered
 * arrays are transposed, big-endian data is byte-swapped, bools become 0/1 bytes.
 *
 * Errors: `INVALID_FORMAT` for a bad magic, malformed header, truncated data or trailing bytes;
 * `UNSUPPORTED_DTYPE` for dtypes outside {@link NpyDtype}; `LIMIT_EXCEEDED` for a shape of more
 * elements than the `maxElements` decode limit (checked before anything is allocated).
 */
export function decodeNpy(bytes: Uint8Array, where = '<npy>'): NdArray {
  const header = parseNpyHeader(bytes, where);
  const { dtype, littleEndian } = parseDescr(header.descr, where);
  const { size } = DTYPES[dtype];
  const count = shapeSize(header.shape);
  checkLimit('maxElements', count, `elements (shape [${header.shape.join(', ')}])`, where);
  const byteLength = count * size;
  const available = bytes.length - header.dataOffset;
  if (available < byteLength) {
    fail(
      where,
      `truncated data: shape [${header.shape.join(', ')}] of ${dtype} needs ${byteLength} bytes from offset ${header.dataOffset}, file has ${available}`,
      { offset: header.dataOffset + available },
    );
  }
  if (available > byteLength) {
    fail(where, `${available - byteLength} unexpected bytes after the array data`, {
      offset: header.dataOffset + byteLength,
    });
  }
  // A fresh, aligned copy (Buffer#slice would return a view into Node's pool).
  const copy = new Uint8Array(byteLength);
  copy.set(bytes.subarray(header.dataOffset, header.dataOffset + byteLength));
  if (size > 1 && littleEndian !== (endianness() === 'LE')) swapBytes(copy, size);
  if (dtype === 'bool') {
    for (let i = 0; i < copy.length; i++) copy[i] = copy[i] === 0 ? 0 : 1;
  }
  let data = DTYPES[dtype].make(copy.buffer, count);
  if (header.fortranOrder && header.shape.length > 1) data = fortranToC(data, header.shape);
  return { dtype, shape: [...header.shape], data } as NdArray;
}

/**
 * Encodes an array as a `.npy` file: format 1.0 (2.0 when the header needs it), little endian,
 * C order, header padded to a multiple of 64 bytes, exactly like `np.save`.
 */
export function encodeNpy(array: NdArray): Uint8Array {
  const { dtype, shape, data } = ndarray(array.dtype, array.shape, array.data as never) as NdArray;
  const shapeText =
    shape.length === 1 ? `(${shape[0]},)` : `(${shape.map((d) => String(d)).join(', ')})`;
  const dict = `{'descr': '${descrOf(dtype)}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  let version = 1;
  let prefix = 10;
  let total = Math.ceil((prefix + dict.length + 1) / 64) * 64;
  if (total - prefix > 0xffff) {
    version = 2;
    prefix = 12;
    total = Math.ceil((prefix + dict.length + 1) / 64) * 64;
  }
  const headerLen = total - prefix;
  const out = new Uint8Array(total + data.byteLength);
  out.set(MAGIC, 0);
  out[6] = version;
  out[7] = 0;
  const view = new DataView(out.buffer);
  if (version === 1) view.setUint16(8, headerLen, true);
  else view.setUint32(8, headerLen, true);
  const header = dict.padEnd(headerLen - 1, ' ') + '\n';
  for (let i = 0; i < header.length; i++) out[prefix + i] = header.charCodeAt(i);
  const raw = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  out.set(raw, total);
  if (DTYPES[dtype].size > 1 && endianness() !== 'LE') {
    swapBytes(out.subarray(total), DTYPES[dtype].size);
  }
  return out;
}

/** Reads a `.npy` file from disk (see {@link decodeNpy}). `NOT_FOUND` when it does not exist. */
export async function readNpy(path: string): Promise<NdArray> {
  return decodeNpy(await readBytes(path), path);
}

/** Writes `array` to `path` as a `.npy` file, atomically (see {@link encodeNpy}). */
export async function writeNpy(path: string, array: NdArray): Promise<void> {
  await writeFileAtomic(path, encodeNpy(array));
}

/**
 * The values of `array` as a `Float64Array`. 64-bit integers must be safe integers
 * (|v| ≤ 2^53 − 1), else `INVALID_FORMAT` naming the element.
 */
export function ndToNumbers(array: NdArray, where = '<array>'): Float64Array {
  const out = new Float64Array(array.data.length);
  if (array.dtype === 'int64' || array.dtype === 'uint64') {
    const d = array.data;
    for (let i = 0; i < d.length; i++) {
      const v = d[i]!;
      if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) {
        fail(where, `element ${i} (${v}) of the ${array.dtype} array is not a safe integer`, {
          index: i,
        });
      }
      out[i] = Number(v);
    }
  } else {
    out.set(array.data);
  }
  return out;
}

/** The values of `array` as a `Float32Array` (rounded to float32; 64-bit integers checked). */
export function ndToFloat32(array: NdArray, where = '<array>'): Float32Array {
  if (array.dtype === 'float32') return array.data;
  if (array.dtype === 'int64' || array.dtype === 'uint64') {
    return Float32Array.from(ndToNumbers(array, where));
  }
  const out = new Float32Array(array.data.length);
  out.set(array.data);
  return out;
}

/**
 * The values of an integer or bool array as an `Int32Array`, each checked to fit int32
 * (`INVALID_FORMAT` naming the element otherwise). Float arrays are refused with
 * `UNSUPPORTED_DTYPE`.
 */
export function ndToInt32(array: NdArray, where = '<array>'): Int32Array {
  if (array.dtype === 'float32' || array.dtype === 'float64') {
    throw new AntidoteError(
      'UNSUPPORTED_DTYPE',
      `${where}: expected an integer array, got ${array.dtype}`,
      { path: where, dtype: array.dtype },
    );
  }
  if (array.dtype === 'int32') return array.data;
  const values = ndToNumbers(array, where);
  const out = new Int32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (v > 2147483647 || v < -2147483648) {
      fail(where, `element ${i} (${v}) does not fit in int32`, { index: i });
    }
    out[i] = v;
  }
  return out;
}

function swapBytes(bytes: Uint8Array, size: number): void {
  for (let i = 0; i < bytes.length; i += size) {
    for (let a = i, b = i + size - 1; a < b; a++, b--) {
      const t = bytes[a]!;
      bytes[a] = bytes[b]!;
      bytes[b] = t;
    }
  }
}

/**
 * Reorders the values of a Fortran-order (column-major) array of `shape` into C order.
 */
export function fortranToC<T extends NpyDataMap[NpyDtype]>(data: T, shape: readonly number[]): T {
  const out = new (data.constructor as new (n: number) => T)(data.length);
  const nd = shape.length;
  const fStrides = new Array<number>(nd);
  let s = 1;
  for (let k = 0; k < nd; k++) {
    fStrides[k] = s;
    s *= shape[k]!;
  }
  const idx = new Array<number>(nd).fill(0);
  let src = 0;
  const src2 = out as unknown as { [i: number]: unknown };
  const from = data as unknown as { [i: number]: unknown };
  for (let c = 0; c < data.length; c++) {
    src2[c] = from[src];
    // Advance the C-order odometer (last axis fastest) and the Fortran offset with it.
    for (let k = nd - 1; k >= 0; k--) {
      idx[k]!++;
      src += fStrides[k]!;
      if (idx[k]! < shape[k]!) break;
      src -= fStrides[k]! * shape[k]!;
      idx[k] = 0;
    }
  }
  return out;
}

/**
 * A parser for the Python literal subset used by `.npy` headers: dicts, tuples, lists, quoted
 * strings, integers, `True`, `False` and `None`. It evaluates nothing. Anything else, or
 * containers nested deeper than the `maxDepth` decode limit, is `INVALID_FORMAT` ("unexpected
 * 'x' at 12"), naming `where` when given.
 */
export function parsePyLiteral(text: string, where?: string): unknown {
  try {
    return pyLiteral(text);
  } catch (e) {
    if (e instanceof AntidoteError) throw e;
    const message = (e as Error).message;
    throw new AntidoteError('INVALID_FORMAT', where ? `${where}: ${message}` : message, {
      ...(where ? { path: where } : {}),
    });
  }
}

/** {@link parsePyLiteral}'s parser; throws plain errors, which it types. */
function pyLiteral(text: string): unknown {
  const maxDepth = decodeLimits().maxDepth;
  let depth = 0;
  let i = 0;
  const ws = (): void => {
    while (i < text.length && /\s/.test(text[i]!)) i++;
  };
  const enter = (): void => {
    if (++depth > maxDepth) throw new Error(`nested more than ${maxDepth} deep at ${i}`);
  };
  const value = (): unknown => {
    ws();
    const c = text[i];
    if (c === '{') {
      enter();
      i++;
      const obj: Record<string, unknown> = {};
      for (;;) {
        ws();
        if (text[i] === '}') {
          i++;
          depth--;
          return obj;
        }
        const key = value();
        if (typeof key !== 'string') throw new Error(`dict key at ${i} is not a string`);
        ws();
        if (text[i] !== ':') throw new Error(`expected ':' at ${i}`);
        i++;
        obj[key] = value();
        ws();
        if (text[i] === ',') i++;
        else if (text[i] !== '}') throw new Error(`expected ',' or '}' at ${i}`);
      }
    }
    if (c === '(' || c === '[') {
      enter();
      const close = c === '(' ? ')' : ']';
      i++;
      const items: unknown[] = [];
      for (;;) {
        ws();
        if (text[i] === close) {
          i++;
          depth--;
          return items;
        }
        items.push(value());
        ws();
        if (text[i] === ',') i++;
        else if (text[i] !== close) throw new Error(`expected ',' or '${close}' at ${i}`);
      }
    }
    if (c === "'" || c === '"') {
      const end = text.indexOf(c, i + 1);
      if (end < 0) throw new Error(`unterminated string at ${i}`);
      const s = text.slice(i + 1, end);
      i = end + 1;
      return s;
    }
    const m = /^(-?\d+)L?|^(True|False|None)\b/.exec(text.slice(i));
    if (m) {
      i += m[0].length;
      if (m[1] !== undefined) return Number(m[1]);
      return m[2] === 'True' ? true : m[2] === 'False' ? false : null;
    }
    throw new Error(`unexpected ${c === undefined ? 'end' : `'${c}'`} at ${i}`);
  };
  const v = value();
  ws();
  if (i !== text.length) throw new Error(`unexpected '${text[i]}' at ${i}`);
  return v;
}
