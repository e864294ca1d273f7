import { crc32, deflateRawSync, inflateRawSync } from 'node:zlib';
import { AntidoteError } from '../errors.js';
import { checkLimit, decodeLimits } from '../util/limits.js';

/**
 * A small ZIP reader and writer (PKWARE APPNOTE 6.3.x): stored and deflated entries, CRC-32
 * checked, ZIP64 sizes and offsets. Enough for NumPy's `.npz` files; no encryption, no
 * multi-disk archives, nothing is ever extracted to disk.
 */

/** One file inside a ZIP archive. */
export interface ZipEntry {
  /** The entry's name (path inside the archive, `/`-separated). */
  readonly name: string;
  /** The uncompressed content. */
  readonly data: Uint8Array;
}

/** Options for {@link writeZip}. */
export interface WriteZipOptions {
  /** Deflate entries (default) or store them uncompressed. */
  readonly compress?: boolean;
  /** zlib level 0–9 when compressing (default 6). */
  readonly level?: number;
  /** Write ZIP64 records even when sizes do not need them (for tests and tools that expect it). */
  readonly forceZip64?: boolean;
}

const LOCAL_SIG = 0x04034b50;
const CENTRAL_SIG = 0x02014b50;
const EOCD_SIG = 0x06054b50;
const ZIP64_EOCD_SIG = 0x06064b50;
const ZIP64_LOCATOR_SIG = 0x07064b50;
const U32_MAX = 0xffffffff;
const U16_MAX = 0xffff;
/** MS-DOS date of 1980-01-01 (time 00:00:00): fixed so that equal content gives equal bytes. */
const DOS_DATE = (0 << 9) | (1 << 5) | 1;
const DOS_TIME = 0;

function fail(where: string, message: string, offset?: number): never {
  throw new AntidoteError(
    'INVALID_FORMAT',
    `${where}: ${message}${offset === undefined ? '' : ` (at byte ${offset})`}`,
    offset === undefined ? { path: where } : { path: where, offset },
  );
}

/**
 * Reads every entry of a ZIP archive via its central directory, inflating deflated entries
 * (bounded by the recorded size, so a "zip bomb" cannot grow past it) and checking each CRC-32.
 * Directory entries are skipped. `where` names the archive in error messages. A stored entry's
 * `data` is a view into `bytes` (no copy): copy it before changing either.
 *
 * Before anything is inflated or allocated, the declared sizes are checked against the decode
 * limits (`util/limits.ts`): the entry count (`maxZipEntries`), each entry's declared ratio of
 * inflated to compressed bytes (`maxCompressionRatio`) and the archive's declared total
 * (`maxDecompressedBytes`, stored entries included); entries whose data overlap (many directory
 * records pointing at one entry) are refused. Inflation stops at the declared size.
 *
 * Errors: `INVALID_FORMAT` for anything malformed, truncated, encrypted, compressed with another
 * method, overlapping or failing its CRC; `LIMIT_EXCEEDED` for a declared size above a limit.
 */
export function readZip(bytes: Uint8Array, where = '<zip>'): ZipEntry[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const u16 = (o: number): number => view.getUint16(o, true);
  const u32 = (o: number): number => view.getUint32(o, true);
  const u64 = (o: number): number => {
    const v = view.getBigUint64(o, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) fail(where, `64-bit field too large`, o);
    return Number(v);
  };
  const need = (o: number, n: number, what: string): void => {
    if (o < 0 || o + n > bytes.length) fail(where, `truncated ${what}`, o);
  };

  // End of central directory: the last signature within the final 22 + 65535 bytes.
  let eocd = -1;
  for (let o = bytes.length - 22; o >= Math.max(0, bytes.length - 22 - U16_MAX); o--) {
    if (u32(o) === EOCD_SIG) {
      eocd = o;
      break;
    }
  }
  if (eocd < 0) fail(where, 'not a ZIP archive (no end-of-central-directory record)');
  let count = u16(eocd + 10);
  let cdSize = u32(eocd + 12);
  let cdOffset = u32(eocd + 16);
  if (count === U16_MAX || cdSize === U32_MAX || cdOffset === U32_MAX) {
    const loc = eocd - 20;
    if (loc >= 0 && u32(loc) === ZIP64_LOCATOR_SIG) {
      const z = u64(loc + 8);
      need(z, 56, 'ZIP64 end-of-central-directory record');
      if (u32(z) !== ZIP64_EOCD_SIG) fail(where, 'bad ZIP64 end-of-central-directory record', z);
      count = u64(z + 32);
      cdSize = u64(z + 40);
      cdOffset = u64(z + 48);
    }
  }
  need(cdOffset, cdSize, 'central directory');
  checkLimit('maxZipEntries', count, 'entries', where);
  const limits = decodeLimits();
  let declaredTotal = 0;
  /** [start, end) of each entry's data, to refuse overlapping entries. */
  const spans: [number, number][] = [];
  const pending: {
    name: string;
    method: number;
    crc: number;
    size: number;
    start: number;
    compSize: number;
  }[] = [];

  const entries: ZipEntry[] = [];
  const names = new Set<string>();
  let p = cdOffset;
  for (let e = 0; e < count; e++) {
    need(p, 46, 'central directory entry');
    if (u32(p) !== CENTRAL_SIG) fail(where, `bad central directory entry ${e}`, p);
    const flags = u16(p + 8);
    const method = u16(p + 10);
    const crc = u32(p + 16);
    let compSize = u32(p + 20);
    let size = u32(p + 24);
    const nameLen = u16(p + 28);
    const extraLen = u16(p + 30);
    const commentLen = u16(p + 32);
    let localOffset = u32(p + 42);
    need(p + 46, nameLen + extraLen + commentLen, 'central directory entry');
    const nameBytes = bytes.subarray(p + 46, p + 46 + nameLen);
    const name = new TextDecoder(flags & 0x800 ? 'utf-8' : 'latin1').decode(nameBytes);
    // ZIP64 extended information: only the fields whose 32-bit value is saturated, in order.
    let x = p + 46 + nameLen;
    const extraEnd = x + extraLen;
    while (x + 4 <= extraEnd) {
      const id = u16(x);
      const len = u16(x + 2);
      if (id === 0x0001) {
        let f = x + 4;
        if (size === U32_MAX) {
          size = u64(f);
          f += 8;
        }
        if (compSize === U32_MAX) {
          compSize = u64(f);
          f += 8;
        }
        if (localOffset === U32_MAX) localOffset = u64(f);
      }
      x += 4 + len;
    }
    p = extraEnd + commentLen;
    if (name.endsWith('/')) continue;
    if (flags & 0x1) fail(where, `entry "${name}" is encrypted`);
    if (method !== 0 && method !== 8) {
      fail(where, `entry "${name}" uses compression method ${method} (only stored and deflate)`);
    }
    if (names.has(name)) fail(where, `entry "${name}" appears twice`);
    names.add(name);
    need(localOffset, 30, `local header of "${name}"`);
    if (u32(localOffset) !== LOCAL_SIG) fail(where, `bad local header of "${name}"`, localOffset);
    const start = localOffset + 30 + u16(localOffset + 26) + u16(localOffset + 28);
    need(start, compSize, `data of "${name}"`);
    declaredTotal += size;
    checkLimit('maxDecompressedBytes', declaredTotal, 'inflated bytes in all', where);
    if (method === 8 && size > Math.max(compSize, 1) * limits.maxCompressionRatio) {
      throw new AntidoteError(
        'LIMIT_EXCEEDED',
        `${where}: entry "${name}" declares ${size} bytes from ${compSize} compressed, a ratio above the limit of ${limits.maxCompressionRatio} (maxCompressionRatio)`,
        { path: where, limit: 'maxCompressionRatio', entry: name },
      );
    }
    spans.push([localOffset, start + compSize]);
    pending.push({ name, method, crc, size, start, compSize });
  }
  // Every declared size is checked and no two entries share bytes: only now inflate.
  spans.sort((a, b) => a[0] - b[0]);
  for (let k = 1; k < spans.length; k++) {
    if (spans[k]![0] < spans[k - 1]![1]) {
      fail(where, 'entries overlap (several directory records point into one entry)', spans[k]![0]);
    }
  }
  for (const { name, method, crc, size, start, compSize } of pending) {
    const raw = bytes.subarray(start, start + compSize);
    let data: Uint8Array;
    if (method === 0) {
      if (compSize !== size) fail(where, `stored entry "${name}" has mismatched sizes`, start);
      data = raw;
    } else {
      try {
        data = inflateRawSync(raw, { maxOutputLength: Math.max(size, 1) });
      } catch (err) {
        fail(where, `cannot inflate "${name}": ${(err as Error).message}`, start);
      }
      if (data.length !== size) {
        fail(where, `entry "${name}" inflates to ${data.length} bytes, expected ${size}`, start);
      }
    }
    if (crc32(data) >>> 0 !== crc) {
      fail(where, `CRC-32 mismatch in entry "${name}" (corrupted archive)`, start);
    }
    entries.push({ name, data });
  }
  return entries;
}

/**
 * Writes entries as a ZIP archive with deterministic bytes: fixed timestamps (1980-01-01), fixed
 * attributes, entries in the given order. ZIP64 records are added when a size, offset or the
 * entry count needs them (or when `forceZip64` is set).
 */
export function writeZip(entries: readonly ZipEntry[], options: WriteZipOptions = {}): Uint8Array {
  const compress = options.compress ?? true;
  const chunks: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  const seen = new Set<string>();
  for (const entry of entries) {
    if (seen.has(entry.name)) {
      throw new AntidoteError('INVALID_ARGUMENT', `duplicate ZIP entry name "${entry.name}"`);
    }
    seen.add(entry.name);
    const name = Buffer.from(entry.name, 'utf8');
    const utf8 = /[^\x20-\x7e]/.test(entry.name) ? 0x800 : 0;
    const crc = crc32(entry.data) >>> 0;
    const method = compress ? 8 : 0;
    const body = compress ? deflateRawSync(entry.data, { level: options.level ?? 6 }) : entry.data;
    const size = entry.data.length;
    const compSize = body.length;
    const zip64 = options.forceZip64 || size >= U32_MAX || compSize >= U32_MAX || offset >= U32_MAX;
    const version = zip64 ? 45 : 20;

    const localExtra = zip64 ? zip64Extra([size, compSize]) : new Uint8Array(0);
    const local = new Uint8Array(30 + name.length + localExtra.length);
    const lv = new DataView(local.buffer);
    lv.setUint32(0, LOCAL_SIG, true);
    lv.setUint16(4, version, true);
    lv.setUint16(6, utf8, true);
    lv.setUint16(8, method, true);
    lv.setUint16(10, DOS_TIME, true);
    lv.setUint16(12, DOS_DATE, true);
    lv.setUint32(14, crc, true);
    lv.setUint32(18, zip64 ? U32_MAX : compSize, true);
    lv.setUint32(22, zip64 ? U32_MAX : size, true);
    lv.setUint16(26, name.length, true);
    lv.setUint16(28, localExtra.length, true);
    local.set(name, 30);
    local.set(localExtra, 30 + name.length);

    const cdExtra = zip64 ? zip64Extra([size, compSize, offset]) : new Uint8Array(0);
    const cd = new Uint8Array(46 + name.length + cdExtra.length);
    const cv = new DataView(cd.buffer);
    cv.setUint32(0, CENTRAL_SIG, true);
    cv.setUint16(4, (3 << 8) | version, true); // made by: Unix
    cv.setUint16(6, version, true);
    cv.setUint16(8, utf8, true);
    cv.setUint16(10, method, true);
    cv.setUint16(12, DOS_TIME, true);
    cv.setUint16(14, DOS_DATE, true);
    cv.setUint32(16, crc, true);
    cv.setUint32(20, zip64 ? U32_MAX : compSize, true);
    cv.setUint32(24, zip64 ? U32_MAX : size, true);
    cv.setUint16(28, name.length, true);
    cv.setUint16(30, cdExtra.length, true);
    cv.setUint32(38, (0o100644 << 16) >>> 0, true); // regular file, rw-r--r--
    cv.setUint32(42, zip64 ? U32_MAX : offset, true);
    cd.set(name, 46);
    cd.set(cdExtra, 46 + name.length);

    chunks.push(local, body);
    central.push(cd);
    offset += local.length + body.length;
  }
  const cdOffset = offset;
  const cdSize = central.reduce((s, c) => s + c.length, 0);
  const count = entries.length;
  const zip64 = options.forceZip64 || count >= U16_MAX || cdOffset >= U32_MAX || cdSize >= U32_MAX;
  const tail: Uint8Array[] = [];
  if (zip64) {
    const rec = new Uint8Array(56);
    const rv = new DataView(rec.buffer);
    rv.setUint32(0, ZIP64_EOCD_SIG, true);
    rv.setBigUint64(4, 44n, true);
    rv.setUint16(12, (3 << 8) | 45, true);
    rv.setUint16(14, 45, true);
    rv.setBigUint64(24, BigInt(count), true);
    rv.setBigUint64(32, BigInt(count), true);
    rv.setBigUint64(40, BigInt(cdSize), true);
    rv.setBigUint64(48, BigInt(cdOffset), true);
    const loc = new Uint8Array(20);
    const locv = new DataView(loc.buffer);
    locv.setUint32(0, ZIP64_LOCATOR_SIG, true);
    locv.setBigUint64(8, BigInt(cdOffset + cdSize), true);
    locv.setUint32(16, 1, true);
    tail.push(rec, loc);
  }
  const eocd = new Uint8Array(22);
  const ev = new DataView(eocd.buffer);
  ev.setUint32(0, EOCD_SIG, true);
  ev.setUint16(8, zip64 ? U16_MAX : count, true);
  ev.setUint16(10, zip64 ? U16_MAX : count, true);
  ev.setUint32(12, zip64 ? U32_MAX : cdSize, true);
  ev.setUint32(16, zip64 ? U32_MAX : cdOffset, true);
  tail.push(eocd);
  return concatBytes([...chunks, ...central, ...tail]);
}

function zip64Extra(values: readonly number[]): Uint8Array {
  const out = new Uint8Array(4 + 8 * values.length);
  const v = new DataView(out.buffer);
  v.setUint16(0, 0x0001, true);
  v.setUint16(2, 8 * values.length, true);
  for (let i = 0; i < values.length; i++) v.setBigUint64(4 + 8 * i, BigInt(values[i]!), true);
  return out;
}

function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  const total = parts.reduce((s, p) => s + p.length, 0);
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
