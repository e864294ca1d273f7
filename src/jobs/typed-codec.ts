/**
 * A lossless binary encoding of plain data holding typed arrays (issue 22): what a worker's
 * per-class scan phase returns (splits, projections, whitened spaces) travels through the shared
 * filesystem in it. JSON for the structure, the typed arrays' bytes after it; numbers JSON cannot
 * hold exactly (NaN, ±Infinity, −0) are tagged, so every value decodes to the same bits and the
 * coordinator's cross-class phase computes what the single process computes.
 *
 * Layout: `ATC1`, the JSON's byte length (uint32 LE), the JSON (UTF-8), zero padding to a
 * multiple of 8, then each typed array's bytes at the offset its JSON placeholder names.
 */
import { AntidoteError } from '../errors.js';

const MAGIC = 'ATC1';
const TAG = '$atc';

const ARRAYS = {
  f32: Float32Array,
  f64: Float64Array,
  i32: Int32Array,
  u8: Uint8Array,
} as const;
type ArrayKind = keyof typeof ARRAYS;

function kindOf(v: unknown): ArrayKind | undefined {
  if (v instanceof Float32Array) return 'f32';
  if (v instanceof Float64Array) return 'f64';
  if (v instanceof Int32Array) return 'i32';
  if (v instanceof Uint8Array) return 'u8';
  return undefined;
}

const align8 = (n: number) => Math.ceil(n / 8) * 8;

/**
 * Encodes `value` (plain objects, arrays, strings, booleans, null, numbers, and Float32Array,
 * Float64Array, Int32Array, Uint8Array; `undefined` fields are dropped as in JSON).
 * `INVALID_ARGUMENT` for anything else (functions, other classes).
 */
export function encodeTyped(value: unknown): Uint8Array {
  const chunks: { offset: number; bytes: Uint8Array }[] = [];
  let size = 0;
  const walk = (v: unknown): unknown => {
    if (typeof v === 'number') {
      if (Number.isNaN(v)) return { [TAG]: 'NaN' };
      if (v === Number.POSITIVE_INFINITY) return { [TAG]: 'Infinity' };
      if (v === Number.NEGATIVE_INFINITY) return { [TAG]: '-Infinity' };
      if (Object.is(v, -0)) return { [TAG]: '-0' };
      return v;
    }
    if (v === null || typeof v === 'string' || typeof v === 'boolean') return v;
    const kind = kindOf(v);
    if (kind) {
      const a = v as ArrayBufferView;
      const offset = size;
      chunks.push({ offset, bytes: new Uint8Array(a.buffer, a.byteOffset, a.byteLength) });
      size = align8(size + a.byteLength);
      return { [TAG]: kind, offset, length: a.byteLength / ARRAYS[kind].BYTES_PER_ELEMENT };
    }
    if (Array.isArray(v)) return v.map((x) => (x === undefined ? null : walk(x)));
    if (typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v as object)) if (x !== undefined) out[k] = walk(x);
      return out;
    }
    throw new AntidoteError('INVALID_ARGUMENT', `cannot encode a value of type ${typeof v}`);
  };
  const json = new TextEncoder().encode(JSON.stringify(walk(value)));
  const head = align8(8 + json.length);
  const out = new Uint8Array(head + size);
  out.set(new TextEncoder().encode(MAGIC), 0);
  new DataView(out.buffer).setUint32(4, json.length, true);
  out.set(json, 8);
  for (const c of chunks) out.set(c.bytes, head + c.offset);
  return out;
}

/** Decodes what {@link encodeTyped} wrote (typed arrays are fresh copies); `INVALID_FORMAT` otherwise. */
export function decodeTyped(bytes: Uint8Array): unknown {
  const bad = (why: string) => new AntidoteError('INVALID_FORMAT', `typed data: ${why}`);
  if (bytes.length < 8 || new TextDecoder().decode(bytes.subarray(0, 4)) !== MAGIC) {
    throw bad('not an encoded value');
  }
  const jsonLength = new DataView(bytes.buffer, bytes.byteOffset).getUint32(4, true);
  if (8 + jsonLength > bytes.length) throw bad('truncated');
  const head = align8(8 + jsonLength);
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + jsonLength)));
  } catch {
    throw bad('its structure is not JSON');
  }
  const walk = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(walk);
    if (v === null || typeof v !== 'object') return v;
    const o = v as Record<string, unknown>;
    const tag = o[TAG];
    if (tag === undefined) {
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(o)) out[k] = walk(x);
      return out;
    }
    if (tag === 'NaN') return Number.NaN;
    if (tag === 'Infinity') return Number.POSITIVE_INFINITY;
    if (tag === '-Infinity') return Number.NEGATIVE_INFINITY;
    if (tag === '-0') return -0;
    if (typeof tag !== 'string' || !Object.hasOwn(ARRAYS, tag)) throw bad(`unknown tag ${tag}`);
    const Ctor = ARRAYS[tag as ArrayKind];
    const offset = o.offset;
    const length = o.length;
    if (!Number.isInteger(offset) || !Number.isInteger(length) || (offset as number) < 0) {
      throw bad('bad array placeholder');
    }
    const start = head + (offset as number);
    const end = start + (length as number) * Ctor.BYTES_PER_ELEMENT;
    if ((length as number) < 0 || end > bytes.length) throw bad('array out of range');
    // A copy (a Node Buffer's slice() is a view into its pool, not a copy), aligned for Ctor.
    const copy = new Uint8Array(end - start);
    copy.set(bytes.subarray(start, end));
    return new Ctor(copy.buffer, 0, length as number);
  };
  return walk(parsed);
}
