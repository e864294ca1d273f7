/**
 * API tokens of the server: what a bearer token may do and whom it acts as. The token table
 * holds the SHA-256 of each bearer token (never the token itself), its scope and, for tokens
 * that make changes, a principal's key fingerprint; the access policy then decides what that
 * principal may do, exactly as for the CLI. `antidote tokens create|list|revoke` keeps the
 * project's table (`.antidote/tokens.json`, see `token-store.ts`); `serve --tokens FILE` reads
 * a hand-made one.
 */
import { timingSafeEqual } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import { z } from 'zod';
import { AntidoteError } from '../errors.js';
import { sha256Hex } from '../integrity/hash.js';
import { readJson } from '../util/fs.js';
import { parseWith } from '../util/schema.js';

/**
 * The scopes of a token, weakest first; each includes the ones before it. `read`: the dashboard,
 * the JSON API, `/metrics` and predictions (and a trusted client for the monitors); `write`:
 * promote and rollback (as its principal, when the access policy allows); `admin`: also
 * promotions that override a failed gate.
 */
export const TOKEN_SCOPES = ['read', 'write', 'admin'] as const;

/** One token scope. */
export type TokenScope = (typeof TOKEN_SCOPES)[number];

/** Zod schema of a token file (see {@link TokenTable}). */
export const tokenFileSchema = z.strictObject({
  version: z.literal(1),
  tokens: z.array(
    z.strictObject({
      /** Stable handle for `tokens list|revoke` (`tok_` + 16 hex digits); absent in hand-made files. */
      id: z
        .string()
        .regex(/^tok_[0-9a-f]{16}$/)
        .optional(),
      /** Who holds it: a trusted client's name for the monitors' rollback evidence. */
      name: z.string().min(1),
      /** Hex SHA-256 of the bearer token. */
      sha256: z.string().regex(/^[0-9a-f]{64}$/),
      /** Key fingerprint of the principal the token acts as (`sha256:…`); needed for changes. */
      fingerprint: z
        .string()
        .regex(/^sha256:[0-9a-f]{64}$/)
        .optional(),
      /** What it may do; absent (files written before scopes): `admin`, as those tokens could. */
      scope: z.enum(TOKEN_SCOPES).optional(),
      /** When it was created (ISO 8601). */
      created: z.iso.datetime().optional(),
    }),
  ),
});

/** A validated token table. */
export type TokenTable = z.infer<typeof tokenFileSchema>;

/** One entry of a {@link TokenTable}. */
export type TokenEntry = TokenTable['tokens'][number];

/**
 * A token table that can change while the server runs (the project's, reread when the file
 * changes), told when a token is used (its "last used" time).
 */
export interface TokenSource {
  /** The table as it is now; undefined when there is none. */
  current(): TokenTable | undefined;
  /** Called with the entry of every request that presented a valid token. */
  used?(entry: TokenEntry): void;
}

/** Who a valid token is: its holder's name, scope, principal and id. */
export interface TokenPrincipal {
  readonly name: string;
  readonly scope: TokenScope;
  readonly fingerprint?: string;
  readonly id?: string;
}

/** Validates a token table; `INVALID_CONFIG` naming the field otherwise. */
export function parseTokenTable(raw: unknown, where = 'token file'): TokenTable {
  return parseWith(tokenFileSchema, raw, where, { code: 'INVALID_CONFIG' });
}

/** Reads and validates a token file. */
export async function loadTokenTable(path: string): Promise<TokenTable> {
  const raw = await readJson(path, {
    code: 'INVALID_CONFIG',
    message: (e) => `cannot read token file ${path}: ${e.message}`,
  });
  return parseTokenTable(raw, path);
}

/** True when a token of scope `have` may do what needs scope `need`. */
export function scopeAllows(have: TokenScope, need: TokenScope): boolean {
  return TOKEN_SCOPES.indexOf(have) >= TOKEN_SCOPES.indexOf(need);
}

const isSource = (t: TokenTable | TokenSource): t is TokenSource =>
  typeof (t as TokenSource).current === 'function';

/**
 * The principal of a bearer `token` in a table or a live source (constant-time digest
 * comparison against every entry), or undefined. A source is told of the use.
 */
export function principalOfToken(
  tokens: TokenTable | TokenSource | undefined,
  token: string | undefined,
): TokenPrincipal | undefined {
  if (!tokens || !token) return undefined;
  const table = isSource(tokens) ? tokens.current() : tokens;
  if (!table) return undefined;
  const digest = Buffer.from(sha256Hex(token), 'hex');
  let found: TokenEntry | undefined;
  for (const t of table.tokens) {
    // Compare every entry (no early exit), each in constant time.
    if (timingSafeEqual(digest, Buffer.from(t.sha256, 'hex')) && !found) found = t;
  }
  if (!found) return undefined;
  if (isSource(tokens)) tokens.used?.(found);
  return {
    name: found.name,
    scope: found.scope ?? 'admin',
    ...(found.fingerprint ? { fingerprint: found.fingerprint } : {}),
    ...(found.id ? { id: found.id } : {}),
  };
}

/**
 * The token an `Authorization` header carries: `Bearer TOKEN`, or HTTP Basic with the token as
 * the password (what a browser sends after its login prompt; the user name is ignored).
 */
export function tokenOfHeader(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const bearer = /^Bearer\s+(\S+)$/i.exec(header);
  if (bearer) return bearer[1];
  const basic = /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(header);
  if (!basic) return undefined;
  const decoded = Buffer.from(basic[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  const password = colon < 0 ? '' : decoded.slice(colon + 1);
  return password || undefined;
}

/** Paths that stay open under read auth: liveness and readiness probes. */
const OPEN_PATHS = new Set(['/healthz', '/readyz']);

/**
 * Read auth (`serve --auth read`): every request except `/healthz` and `/readyz` (the dashboard
 * and its assets, the JSON API, `/metrics`, `/v1/predict`) needs a token of scope `read` or
 * higher. Without one: 401 with `WWW-Authenticate` (Bearer for programs, Basic so a browser
 * asks for it, the token as password); the changes keep their own checks (`write`).
 */
export function readAuth(tokens: TokenTable | TokenSource | undefined): MiddlewareHandler {
  return async (c, next) => {
    if (OPEN_PATHS.has(c.req.path)) return next();
    const who = principalOfToken(tokens, tokenOfHeader(c.req.header('authorization')));
    if (!who || !scopeAllows(who.scope, 'read')) {
      c.header('WWW-Authenticate', 'Bearer realm="antidote", Basic realm="antidote"');
      return c.json(
        {
          error: {
            code: 'UNAUTHENTICATED',
            message:
              'this server needs an API token to read (send Authorization: Bearer TOKEN; antidote tokens create)',
          },
        },
        401,
      );
    }
    return next();
  };
}

/**
 * The principal of a request's token for a change needing `scope`: `PERMISSION_DENIED` when the
 * token is missing, unknown, too weak, or acts as no principal.
 */
export function principalFor(
  tokens: TokenTable | TokenSource | undefined,
  header: string | undefined,
  scope: TokenScope,
): TokenPrincipal & { fingerprint: string } {
  const who = principalOfToken(tokens, tokenOfHeader(header));
  if (!who) {
    const table = tokens && isSource(tokens) ? tokens.current() : tokens;
    throw new AntidoteError(
      'PERMISSION_DENIED',
      table && table.tokens.length > 0
        ? 'missing or unknown API token (send Authorization: Bearer TOKEN)'
        : 'this server accepts no changes (no API tokens: antidote tokens create --scope write --key KEY)',
    );
  }
  if (!scopeAllows(who.scope, scope)) {
    throw new AntidoteError(
      'PERMISSION_DENIED',
      `token "${who.name}" has scope ${who.scope}; this needs ${scope} (antidote tokens create --scope ${scope})`,
    );
  }
  if (!who.fingerprint) {
    throw new AntidoteError(
      'PERMISSION_DENIED',
      `token "${who.name}" acts as no principal (create it with --key or --fingerprint to make changes)`,
    );
  }
  return { ...who, fingerprint: who.fingerprint };
}
