/**
 * A reader for R's serialization format (XDR, versions 2 and 3), enough for data saved with
 * `save()` (`.rda` / `.RData`, magic `RDX2`/`RDX3`) and `saveRDS()`: numeric, integer, logical,
 * string, list and pairlist values with attributes (names, class, levels, row.names): data
 * frames and factors. Environments, closures, byte code, ALTREP and external pointers are refused
 * (`UNSUPPORTED_DTYPE`): nothing in a data file is ever executed.
 *
 * Format reference: R Internals, §1.8 "Serialization Formats", and `src/main/serialize.c`.
 * Compression: gzip is undone here (node:zlib); bzip2 and xz are not (Node has no decoder), so
 * such files are refused with a hint to decompress them first (`bzip2 -dk FILE`).
 */
import { gunzipSync } from 'node:zlib';
import { AntidoteError } from '../../errors.js';

/** An R value, as far as data files need. */
export type RValue =
  | { readonly type: 'null' }
  | { readonly type: 'symbol'; readonly name: string }
  | { readonly type: 'logical' | 'integer'; readonly data: Int32Array; readonly attributes: RAttrs }
  | { readonly type: 'double'; readonly data: Float64Array; readonly attributes: RAttrs }
  | {
      readonly type: 'character';
      readonly data: readonly (string | null)[];
      readonly attributes: RAttrs;
    }
  | { readonly type: 'list'; readonly items: readonly RValue[]; readonly attributes: RAttrs }
  | {
      readonly type: 'pairlist';
      readonly entries: readonly { readonly tag?: string; readonly value: RValue }[];
      readonly attributes: RAttrs;
    };

/** Attributes of an R value by name. */
export type RAttrs = ReadonlyMap<string, RValue>;

/** R's integer NA. */
export const R_NA_INTEGER = -2147483648;

const NO_ATTRS: RAttrs = new Map();

class Reader {
  private pos = 0;
  private readonly view: DataView;
  private readonly refs: RValue[] = [];
  constructor(
    private readonly bytes: Uint8Array,
    private readonly where: string,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  fail(msg: string, code: 'INVALID_FORMAT' | 'UNSUPPORTED_DTYPE' = 'INVALID_FORMAT'): never {
    throw new AntidoteError(code, `${this.where}: ${msg} (at byte ${this.pos})`, {
      path: this.where,
      offset: this.pos,
    });
  }
  need(n: number) {
    if (this.pos + n > this.bytes.length) this.fail('truncated R data');
  }
  int(): number {
    this.need(4);
    const v = this.view.getInt32(this.pos, false);
    this.pos += 4;
    return v;
  }
  double(): number {
    this.need(8);
    const v = this.view.getFloat64(this.pos, false);
    this.pos += 8;
    return v;
  }
  length(): number {
    const n = this.int();
    if (n === -1) {
      const hi = this.int();
      const lo = this.int();
      const big = hi * 2 ** 32 + (lo >>> 0);
      if (big > 2 ** 31) this.fail('vector too long');
      return big;
    }
    if (n < 0) this.fail(`negative length ${n}`);
    return n;
  }
  raw(n: number): Uint8Array {
    this.need(n);
    const b = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }
  header(): void {
    const h = new TextDecoder('latin1').decode(this.bytes.subarray(0, 5));
    if (h === 'RDX2\n' || h === 'RDX3\n') this.pos = 5;
    const fmt = new TextDecoder('latin1').decode(this.raw(2));
    if (fmt !== 'X\n') {
      this.fail(
        fmt === 'A\n' || fmt === 'B\n'
          ? 'only the XDR (binary, big-endian) serialization is supported'
          : 'not R serialized data (expected the XDR marker "X\\n")',
        fmt === 'A\n' || fmt === 'B\n' ? 'UNSUPPORTED_DTYPE' : 'INVALID_FORMAT',
      );
    }
    const version = this.int();
    this.int(); // writer's R version
    this.int(); // minimal reader version
    if (version === 3)
      this.raw(this.int()); // native encoding name
    else if (version !== 2) this.fail(`unsupported serialization version ${version}`);
  }
  charsxp(flags: number): string | null {
    const n = this.int();
    if (n === -1) return null;
    if (n < 0) this.fail(`negative string length ${n}`);
    const latin1 = (flags >> 12) & 4; // LATIN1_MASK in the levels field
    return new TextDecoder(latin1 ? 'latin1' : 'utf-8').decode(this.raw(n));
  }
  attrsOf(hasAttr: boolean): RAttrs {
    if (!hasAttr) return NO_ATTRS;
    const a = this.item();
    if (a.type !== 'pairlist') this.fail('attributes are not a pairlist');
    const m = new Map<string, RValue>();
    for (const e of a.entries) if (e.tag !== undefined) m.set(e.tag, e.value);
    return m;
  }
  item(depth = 0): RValue {
    if (depth > 200) this.fail('R data nested too deeply');
    const flags = this.int();
    const type = flags & 0xff;
    const hasAttr = (flags & (1 << 9)) !== 0;
    const hasTag = (flags & (1 << 10)) !== 0;
    switch (type) {
      case 254: // NILVALUE_SXP
        return { type: 'null' };
      case 255: {
        // REFSXP
        let i = flags >> 8;
        if (i === 0) i = this.int();
        const v = this.refs[i - 1];
        if (!v) this.fail(`reference ${i} to an unknown object`);
        return v;
      }
      case 1: {
        // SYMSXP
        const c = this.item(depth + 1);
        const name = c.type === 'character' ? (c.data[0] ?? 'NA') : '';
        const sym: RValue = { type: 'symbol', name };
        this.refs.push(sym);
        return sym;
      }
      case 9: // CHARSXP (as an item: wrap it as a one-element character vector)
        return { type: 'character', data: [this.charsxp(flags)], attributes: NO_ATTRS };
      case 2: {
        // LISTSXP: attributes, tag, car, then the cdr continues the list.
        const entries: { tag?: string; value: RValue }[] = [];
        let attributes: RAttrs = NO_ATTRS;
        let f = flags;
        let first = true;
        for (;;) {
          const a = this.attrsOf((f & (1 << 9)) !== 0);
          if (first) attributes = a;
          first = false;
          let tag: string | undefined;
          if ((f & (1 << 10)) !== 0) {
            const t = this.item(depth + 1);
            tag = t.type === 'symbol' ? t.name : undefined;
          }
          entries.push({ ...(tag !== undefined ? { tag } : {}), value: this.item(depth + 1) });
          f = this.int();
          if ((f & 0xff) === 254) break;
          if ((f & 0xff) !== 2) {
            this.pos -= 4;
            this.fail('improper pairlist (dotted pair) is not supported', 'UNSUPPORTED_DTYPE');
          }
        }
        return { type: 'pairlist', entries, attributes };
      }
      case 10:
      case 13: {
        // LGLSXP, INTSXP
        const n = this.length();
        this.need(4 * n);
        const data = new Int32Array(n);
        for (let i = 0; i < n; i++) data[i] = this.int();
        return {
          type: type === 10 ? 'logical' : 'integer',
          data,
          attributes: this.attrsOf(hasAttr),
        };
      }
      case 14: {
        // REALSXP
        const n = this.length();
        this.need(8 * n);
        const data = new Float64Array(n);
        for (let i = 0; i < n; i++) data[i] = this.double();
        return { type: 'double', data, attributes: this.attrsOf(hasAttr) };
      }
      case 16: {
        // STRSXP
        const n = this.length();
        const data: (string | null)[] = new Array(n);
        for (let i = 0; i < n; i++) {
          const f = this.int();
          if ((f & 0xff) !== 9) this.fail('a character vector holds a non-string');
          data[i] = this.charsxp(f);
        }
        return { type: 'character', data, attributes: this.attrsOf(hasAttr) };
      }
      case 19:
      case 20: {
        // VECSXP, EXPRSXP
        const n = this.length();
        const items: RValue[] = new Array(n);
        for (let i = 0; i < n; i++) items[i] = this.item(depth + 1);
        return { type: 'list', items, attributes: this.attrsOf(hasAttr) };
      }
      default: {
        const names: Record<number, string> = {
          3: 'closure',
          4: 'environment',
          5: 'promise',
          6: 'language object',
          15: 'complex vector',
          21: 'byte code',
          22: 'external pointer',
          24: 'raw vector',
          25: 'S4 object',
          238: 'ALTREP object',
          242: 'environment',
          253: 'environment',
        };
        void hasTag;
        return this.fail(
          `R ${names[type] ?? `type ${type}`} values are not supported in data files`,
          'UNSUPPORTED_DTYPE',
        );
      }
    }
  }
}

/** Undoes gzip; refuses bzip2 and xz with a hint. Returns uncompressed bytes unchanged. */
export function decompressRData(bytes: Uint8Array, where: string): Uint8Array {
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      return gunzipSync(bytes);
    } catch (e) {
      throw new AntidoteError(
        'INVALID_FORMAT',
        `${where}: corrupt gzip data`,
        { path: where },
        {
          cause: e,
        },
      );
    }
  }
  const magic = new TextDecoder('latin1').decode(bytes.subarray(0, 6));
  if (magic.startsWith('BZh') || magic === '\xfd7zXZ\x00') {
    throw new AntidoteError(
      'UNSUPPORTED_DTYPE',
      `${where}: ${magic.startsWith('BZh') ? 'bzip2' : 'xz'}-compressed R data; decompress it first (e.g. \`${magic.startsWith('BZh') ? 'bzip2' : 'xz'} -dk FILE\`), or use \`antidote datasets fetch\`, which stores it decompressed`,
      { path: where },
    );
  }
  return bytes;
}

/**
 * Parses R serialized data (`save()` / `saveRDS()` output, gzip or uncompressed). For `save()`
 * files returns the saved objects by name; for `saveRDS()` files a map with the single key `''`.
 */
export function parseRData(bytes: Uint8Array, where = '<rdata>'): Map<string, RValue> {
  const data = decompressRData(bytes, where);
  const head = new TextDecoder('latin1').decode(data.subarray(0, 5));
  const r = new Reader(data, where);
  r.header();
  const top = r.item();
  const out = new Map<string, RValue>();
  if (head.startsWith('RDX') && top.type === 'pairlist') {
    for (const e of top.entries) out.set(e.tag ?? '', e.value);
  } else {
    out.set('', top);
  }
  return out;
}

/** The names attribute of an R value, when it is a character vector. */
export function rNames(v: RValue): (string | null)[] | undefined {
  if (!('attributes' in v)) return undefined;
  const n = v.attributes.get('names');
  return n?.type === 'character' ? [...n.data] : undefined;
}

/** The class attribute of an R value (`[]` when none). */
export function rClass(v: RValue): string[] {
  if (!('attributes' in v)) return [];
  const c = v.attributes.get('class');
  return c?.type === 'character' ? c.data.map((s) => s ?? '') : [];
}
