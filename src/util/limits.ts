/**
 * Resource limits where untrusted input is decoded (issue 19, item 2): every declared size (an
 * image's pixels, an array's elements, a file's bytes, a ZIP's entries and inflated bytes, a
 * document's nesting depth) is checked against these caps before anything is allocated for it,
 * so a 69-byte PNG cannot ask for 8.5 GB. The caps are process-wide and configurable
 * ({@link setDecodeLimits}); a declared size above one is `LIMIT_EXCEEDED`.
 */
import { AntidoteError } from '../errors.js';

/** The caps on what one decoded input may declare. */
export interface DecodeLimits {
  /** Largest file read into memory, in bytes (default 2 GiB − 1, Node's largest buffer read). */
  readonly maxFileBytes: number;
  /** Most pixels of one image, width × height (default 4096² = 16,777,216). */
  readonly maxPixels: number;
  /** Most elements of one array (default 2^28: 1 GiB of float32). */
  readonly maxElements: number;
  /** Most entries of one ZIP archive (default 10,000). */
  readonly maxZipEntries: number;
  /** Most bytes all entries of one ZIP archive inflate to, together (default 1 GiB). */
  readonly maxDecompressedBytes: number;
  /**
   * Largest declared ratio of inflated to compressed bytes of one ZIP entry (default 1,100:
   * deflate's own ceiling is about 1,032:1, so only a forged size goes above it).
   */
  readonly maxCompressionRatio: number;
  /** Deepest nesting of arrays and objects in JSON and Python-literal headers (default 64). */
  readonly maxDepth: number;
}

/** The default caps (see {@link DecodeLimits}). */
export const DEFAULT_DECODE_LIMITS: DecodeLimits = Object.freeze({
  maxFileBytes: 2 ** 31 - 1,
  maxPixels: 4096 * 4096,
  maxElements: 2 ** 28,
  maxZipEntries: 10_000,
  maxDecompressedBytes: 2 ** 30,
  maxCompressionRatio: 1100,
  maxDepth: 64,
});

let current: DecodeLimits = DEFAULT_DECODE_LIMITS;

/** The caps in force. */
export function decodeLimits(): DecodeLimits {
  return current;
}

/**
 * Changes some caps (each a positive integer, else `INVALID_ARGUMENT`); returns the previous
 * ones, so a caller can restore them.
 */
export function setDecodeLimits(changes: Partial<DecodeLimits>): DecodeLimits {
  for (const [k, v] of Object.entries(changes)) {
    if (!(k in DEFAULT_DECODE_LIMITS) || !Number.isSafeInteger(v) || (v as number) < 1) {
      throw new AntidoteError('INVALID_ARGUMENT', `decode limit ${k} must be a positive integer`);
    }
  }
  const previous = current;
  current = Object.freeze({ ...current, ...changes });
  return previous;
}

/**
 * `LIMIT_EXCEEDED` unless `value` ≤ the cap `limit` names: "WHERE declares VALUE WHAT, above the
 * limit of CAP (limit)".
 */
export function checkLimit(
  limit: keyof DecodeLimits,
  value: number,
  what: string,
  where: string,
): void {
  const cap = current[limit];
  if (value <= cap) return;
  throw new AntidoteError(
    'LIMIT_EXCEEDED',
    `${where} declares ${value.toLocaleString('en-US')} ${what}, above the limit of ${cap.toLocaleString('en-US')} (${limit})`,
    { path: where, limit, value, cap },
  );
}

/**
 * Most bytes `compressed` may inflate to: its length times `maxCompressionRatio`, and never more
 * than `maxDecompressedBytes` (for zlib's `maxOutputLength`, so decompression stops there).
 */
export function inflateBudget(compressed: number): number {
  return Math.max(
    1,
    Math.min(current.maxDecompressedBytes, compressed * current.maxCompressionRatio),
  );
}

/**
 * `LIMIT_EXCEEDED` when `value` (parsed JSON or the like) nests arrays and objects deeper than
 * `maxDepth`. Iterative, so a 5,000-deep document costs no stack.
 */
export function checkDepth(value: unknown, where: string, maxDepth = current.maxDepth): void {
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (depth > maxDepth) {
      throw new AntidoteError(
        'LIMIT_EXCEEDED',
        `${where} nests arrays or objects more than ${maxDepth} deep (maxDepth)`,
        { path: where, limit: 'maxDepth', cap: maxDepth },
      );
    }
    for (const child of Array.isArray(v) ? v : Object.values(v)) stack.push([child, depth + 1]);
  }
}
