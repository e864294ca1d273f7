import { timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { sha256Hex } from '../integrity/hash.js';
import { readJson } from '../util/fs.js';
import { parseWith } from '../util/schema.js';

/**
 * API tokens of the server's mutating endpoints (promote, rollback). The token file maps the
 * SHA-256 of each bearer token (never the token itself) to a principal's key fingerprint; the
 * access policy then decides what that principal may do, exactly as for the CLI.
 */
export const tokenFileSchema = z.strictObject({
  version: z.literal(1),
  tokens: z.array(
    z.strictObject({
      name: z.string().min(1),
      /** Hex SHA-256 of the bearer token. */
      sha256: z.string().regex(/^[0-9a-f]{64}$/),
      /** Key fingerprint of the principal the token acts as (`sha256:…`). */
      fingerprint: z.string().regex(/^sha256:[0-9a-f]{64}$/),
    }),
  ),
});

/** A validated token table. */
export type TokenTable = z.infer<typeof tokenFileSchema>;

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

/** The token-table entry of a bearer `token` (constant-time digest comparison), or undefined. */
export function principalOfToken(
  table: TokenTable | undefined,
  token: string | undefined,
): { name: string; fingerprint: string } | undefined {
  if (!table || !token) return undefined;
  const digest = Buffer.from(sha256Hex(token), 'hex');
  let found: { name: string; fingerprint: string } | undefined;
  for (const t of table.tokens) {
    // Compare every entry (no early exit), each in constant time.
    if (timingSafeEqual(digest, Buffer.from(t.sha256, 'hex')) && !found) {
      found = { name: t.name, fingerprint: t.fingerprint };
    }
  }
  return found;
}
