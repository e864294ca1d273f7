/**
 * The one home of "validate with a zod schema, else a typed error": {@link parseWith} turns the
 * first failing issue into an `AntidoteError` naming where the value came from and the failing
 * field, so every loader reports schema errors the same way.
 */
import type { z } from 'zod';
import { AntidoteError, type AntidoteErrorCode, type AntidoteErrorDetails } from '../errors.js';
import { checkDepth } from './limits.js';

/** One issue of a failed zod parse. */
type ZodIssue = z.ZodError['issues'][number];

/** How {@link parseWith} words its error. */
export interface ParseWithOptions {
  /** The error code (default `INVALID_FORMAT`). */
  readonly code?: AntidoteErrorCode;
  /**
   * The head of the message, before the failing field (default `where`). The message is
   * `HEAD: FIELD: REASON`, e.g. `policy.json: roles.0.name: Required`.
   */
  readonly head?: string;
  /** Written for a failing field at the root of the value (default `'(root)'`). */
  readonly root?: string;
  /** Prefixed to the failing field (e.g. `'antidote.'` for a model's metadata block). */
  readonly prefix?: string;
  /** Leave the failing field out of the message (`HEAD: REASON`). */
  readonly omitField?: boolean;
  /** Report every issue, `FIELD: REASON` joined by `'; '`, instead of the first. */
  readonly allIssues?: boolean;
  /** Error details (default `{ path: where }`). */
  readonly details?: AntidoteErrorDetails;
  /** Add the failing field to the details as `field`. */
  readonly withField?: boolean;
}

/** The failing field of a zod issue, dotted (`''` at the root). */
export function issuePath(issue: ZodIssue): string {
  return issue.path.map(String).join('.');
}

/**
 * Parses `raw` with `schema`; on failure throws `AntidoteError(options.code ?? 'INVALID_FORMAT')`
 * whose message names `where` (or `options.head`) and the first failing field and reason.
 */
export function parseWith<T>(
  schema: z.ZodType<T>,
  raw: unknown,
  where: string,
  options: ParseWithOptions = {},
): T {
  const r = schema.safeParse(raw);
  if (r.success) return r.data;
  const fieldOf = (i: ZodIssue) =>
    `${options.prefix ?? ''}${issuePath(i) || (options.root ?? '(root)')}`;
  const first = r.error.issues[0];
  const reason = options.allIssues
    ? r.error.issues.map((i) => `${fieldOf(i)}: ${i.message}`).join('; ')
    : first === undefined
      ? 'invalid value'
      : options.omitField
        ? first.message
        : `${fieldOf(first)}: ${first.message}`;
  const details = { ...(options.details ?? { path: where }) };
  if (options.withField && first) (details as Record<string, unknown>).field = issuePath(first);
  throw new AntidoteError(
    options.code ?? 'INVALID_FORMAT',
    `${options.head ?? where}: ${reason}`,
    details,
  );
}

/** How {@link parseJson} words its error. */
export interface ParseJsonOptions {
  /** The error code (default `INVALID_FORMAT`). */
  readonly code?: AntidoteErrorCode;
  /** The head of the message, before the parser's reason (default "WHERE is not valid JSON"). */
  readonly head?: string;
}

/**
 * Parses JSON text (UTF-8 bytes are decoded first); malformed JSON throws
 * `AntidoteError(options.code ?? 'INVALID_FORMAT')`, "WHERE is not valid JSON: REASON" (or
 * `options.head`), with `{ path: where }`.
 */
export function parseJson(
  text: string | Uint8Array,
  where: string,
  options: ParseJsonOptions = {},
): unknown {
  let value: unknown;
  try {
    value = JSON.parse(typeof text === 'string' ? text : Buffer.from(text).toString('utf8'));
  } catch (e) {
    throw new AntidoteError(
      options.code ?? 'INVALID_FORMAT',
      `${options.head ?? `${where} is not valid JSON`}: ${(e as Error).message}`,
      { path: where },
    );
  }
  // Deeper documents are refused before anything walks them recursively (zod, canonical JSON).
  checkDepth(value, where);
  return value;
}
