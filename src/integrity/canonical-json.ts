import { AntidoteError } from '../errors.js';

/** A JSON value as RFC 8785 accepts it (finite numbers, well-formed strings, plain objects). */
export type JsonValue =
  | null
  | boolean
  | number
  | string
  | readonly JsonValue[]
  | { readonly [key: string]: JsonValue | undefined };

/**
 * Serialises `value` with the JSON Canonicalization Scheme (RFC 8785, Rundgren, Jordan & Erdtman
 * 2020): object members sorted by the UTF-16 code units of their names, no whitespace, numbers in
 * the ECMAScript shortest round-trip form, strings with the minimal JSON escapes. The same value
 * always gives the same bytes, so digests over canonical JSON are stable.
 *
 * Object members whose value is `undefined` are omitted (as `JSON.stringify` does). Non-finite
 * numbers, lone surrogates, non-plain objects (Date, Map, typed arrays), bigints, functions and
 * cycles are rejected with an `INVALID_ARGUMENT` error naming the JSON path.
 */
export function canonicalJson(value: unknown): string {
  const out: string[] = [];
  write(value, out, '$', new Set());
  return out.join('');
}

/** {@link canonicalJson} as UTF-8 bytes. */
export function canonicalJsonBytes(value: unknown): Buffer {
  return Buffer.from(canonicalJson(value), 'utf8');
}

// A lone surrogate: a high surrogate not followed by a low one, or a low one not preceded by a high.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function fail(path: string, what: string): never {
  throw new AntidoteError('INVALID_ARGUMENT', `cannot canonicalise ${what} at ${path}`, {
    jsonPath: path,
  });
}

function writeString(s: string, out: string[], path: string): void {
  if (LONE_SURROGATE.test(s)) fail(path, 'a string with a lone surrogate');
  // JSON.stringify (ES2019+) emits exactly the RFC 8785 escapes for well-formed strings:
  // \" \\ \b \f \n \r \t and lowercase \u00xx for the other control characters.
  out.push(JSON.stringify(s));
}

function write(v: unknown, out: string[], path: string, seen: Set<object>): void {
  if (v === null) {
    out.push('null');
    return;
  }
  switch (typeof v) {
    case 'boolean':
      out.push(v ? 'true' : 'false');
      return;
    case 'number':
      if (!Number.isFinite(v)) fail(path, `the non-finite number ${v}`);
      // ECMAScript Number::toString is the RFC 8785 number form; -0 becomes "0".
      out.push(Object.is(v, -0) ? '0' : String(v));
      return;
    case 'string':
      writeString(v, out, path);
      return;
    case 'object':
      break;
    default:
      fail(path, `a value of type ${typeof v}`);
  }
  const obj = v as object;
  if (seen.has(obj)) fail(path, 'a cyclic structure');
  seen.add(obj);
  if (Array.isArray(obj)) {
    out.push('[');
    for (let i = 0; i < obj.length; i++) {
      if (i > 0) out.push(',');
      const item = obj[i];
      if (item === undefined) fail(`${path}[${i}]`, 'undefined');
      write(item, out, `${path}[${i}]`, seen);
    }
    out.push(']');
  } else {
    const proto = Object.getPrototypeOf(obj);
    if (proto !== Object.prototype && proto !== null) {
      fail(path, `a ${proto?.constructor?.name ?? 'non-plain'} object`);
    }
    const rec = obj as Record<string, unknown>;
    // Default string sort compares UTF-16 code units, which is what RFC 8785 §3.2.3 requires.
    const keys = Object.keys(rec)
      .filter((k) => rec[k] !== undefined)
      .sort();
    out.push('{');
    for (let i = 0; i < keys.length; i++) {
      if (i > 0) out.push(',');
      const k = keys[i]!;
      writeString(k, out, path);
      out.push(':');
      write(rec[k], out, `${path}.${k}`, seen);
    }
    out.push('}');
  }
  seen.delete(obj);
}
