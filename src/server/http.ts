/**
 * What every route of the HTTP app shares: the error body, the HTTP status of each error code,
 * JSON body reading and zod validation, the body size limit and the request counters.
 */
import type { Context, MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { z } from 'zod';
import { AntidoteError, type AntidoteErrorCode } from '../errors.js';
import type { Deployment, RequestClient } from '../registry/deployment.js';
import type { ModelRegistry } from '../registry/model-registry.js';
import { parseWith } from '../util/schema.js';
import { principalOfToken, type TokenSource, type TokenTable, tokenOfHeader } from './auth.js';

/** What the HTTP app serves. */
export interface AppContext {
  readonly registry: ModelRegistry;
  /** The production model being served (`POST /v1/predict`); absent: dashboard and API only. */
  readonly deployment?: Deployment;
  /**
   * API tokens: a fixed table, or the project's (`ProjectTokens`, reread when it changes).
   * Promote / rollback need a `write` token acting as a policy principal. Absent: no mutations.
   */
  readonly tokens?: TokenTable | TokenSource;
  /** Largest request body in bytes; default 1 MiB. */
  readonly maxBodyBytes?: number;
  /** Most records per predict request; default 256. */
  readonly maxBatch?: number;
  /**
   * Read auth (`serve --auth read`): every request but `/healthz` and `/readyz` needs a token of
   * `tokens` with scope `read` or higher (401 otherwise; `readAuth` in `auth.ts`). Without it,
   * anyone may read and predict, but only token holders count as trusted clients for automatic
   * rollbacks.
   */
  readonly requireReadAuth?: boolean;
}

/** The HTTP status of each error code a request can cause (others: 500). */
export const HTTP_STATUS: Partial<
  Record<AntidoteErrorCode, 400 | 401 | 403 | 404 | 409 | 413 | 422>
> = {
  INVALID_ARGUMENT: 400,
  INVALID_CONFIG: 400,
  INVALID_FORMAT: 400,
  SHAPE_MISMATCH: 400,
  NON_FINITE_VALUE: 400,
  LABEL_OUT_OF_RANGE: 400,
  NOT_FOUND: 404,
  PERMISSION_DENIED: 403,
  GATE_FAILED: 409,
  INVALID_STATE: 409,
  ALREADY_EXISTS: 409,
  INTEGRITY_MISMATCH: 409,
  SIGNATURE_INVALID: 409,
};

/** The JSON body of an error reply. */
export function errorBody(code: string, message: string) {
  return { error: { code, message } };
}

/** Latency samples (ms) of recent predict requests, in a ring of 4096. */
export class Latencies {
  private readonly buf = new Float64Array(4096);
  private n = 0;
  /** Records one latency. */
  push(ms: number): void {
    this.buf[this.n++ % this.buf.length] = ms;
  }
  /** The `q` quantile of the recorded latencies (0 when none). */
  quantile(q: number): number {
    const m = Math.min(this.n, this.buf.length);
    if (m === 0) return 0;
    const s = this.buf.slice(0, m).sort();
    return s[Math.min(m - 1, Math.floor(q * m))]!;
  }
}

/** Counters one app's routes share (`/metrics` reads them). */
export class ServerStats {
  /** Requests rejected with a 4xx before reaching the model. */
  badRequests = 0;
  /**
   * Requests whose body never arrived in full (the client was too slow, past the server's body
   * timeout, or went away): neither bad requests nor model failures, so they raise no alert.
   */
  bodyTimeouts = 0;
  readonly latencies = new Latencies();
}

/** The body size limit (413 with a JSON error; counted as a bad request and a model failure). */
export function jsonBodyLimit(ctx: AppContext, stats: ServerStats): MiddlewareHandler {
  const maxBody = ctx.maxBodyBytes ?? 1024 * 1024;
  return bodyLimit({
    maxSize: maxBody,
    onError: (c) => {
      stats.badRequests++;
      ctx.deployment?.recordFailure();
      return c.json(errorBody('PAYLOAD_TOO_LARGE', `request body exceeds ${maxBody} bytes`), 413);
    },
  });
}

/**
 * Who sent the request: the principal of its bearer token (authenticated), or its network
 * address. A token that is not in the table is `PERMISSION_DENIED`, and so is a missing one when
 * the app requires read auth.
 */
export function requestClient(ctx: AppContext, c: Context): RequestClient {
  const auth = c.req.header('authorization');
  if (auth !== undefined) {
    const who = principalOfToken(ctx.tokens, tokenOfHeader(auth));
    if (!who) throw new AntidoteError('PERMISSION_DENIED', 'unknown API token');
    return { id: who.name, authenticated: true };
  }
  if (ctx.requireReadAuth) {
    throw new AntidoteError(
      'PERMISSION_DENIED',
      'this server needs an API token to predict (send Authorization: Bearer TOKEN)',
    );
  }
  const env = c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined;
  return { id: env?.incoming?.socket?.remoteAddress ?? 'unknown', authenticated: false };
}

/** The request body as JSON: `INVALID_FORMAT` unless sent as `application/json` and well formed. */
export async function readJson(c: Context): Promise<unknown> {
  const type = c.req.header('content-type') ?? '';
  if (!type.includes('application/json')) {
    throw new AntidoteError('INVALID_FORMAT', 'send the body as application/json');
  }
  let text: string;
  try {
    text = await c.req.text();
  } catch (e) {
    throw new AntidoteError(
      'IO_ERROR',
      'the request body did not arrive (the client was too slow or disconnected)',
      { requestBody: 'incomplete' },
      { cause: e },
    );
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new AntidoteError('INVALID_FORMAT', `malformed JSON: ${(e as Error).message}`);
  }
}

/** True when `e` is {@link readJson}'s error for a body that never arrived in full. */
export function isIncompleteBody(e: unknown): boolean {
  return e instanceof AntidoteError && e.details.requestBody === 'incomplete';
}

/** `raw` checked against `schema`: `INVALID_ARGUMENT` naming the first wrong field. */
export function parseRequest<T>(schema: z.ZodType<T>, raw: unknown): T {
  return parseWith(schema, raw, 'invalid request', {
    code: 'INVALID_ARGUMENT',
    root: '(body)',
    details: {},
  });
}
