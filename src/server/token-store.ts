/**
 * The project's API tokens (`antidote tokens create|list|revoke`), in `.antidote/tokens.json`
 * (the {@link TokenTable} format of `auth.ts`: SHA-256 digests only, so a leaked file grants
 * nothing) and when each was last used in `.antidote/tokens-used.json` (written by the server,
 * so the CLI and the server never write the same file). A token is `adt_` + 43 base64url
 * characters: 256 random bits, shown once at creation.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { AntidoteError } from '../errors.js';
import { sha256Hex } from '../integrity/hash.js';
import { PROJECT_FOLDER } from '../registry/store.js';
import { isMissingFileError, readJson, writeFileAtomic } from '../util/fs.js';
import { parseWith } from '../util/schema.js';
import {
  parseTokenTable,
  type TokenEntry,
  type TokenScope,
  type TokenSource,
  type TokenTable,
} from './auth.js';

/** Path of a project's token table. */
export function tokensPath(projectDir: string): string {
  return join(projectDir, PROJECT_FOLDER, 'tokens.json');
}

/** Path of a project's "last used" times (token id → ISO time). */
export function tokenUsagePath(projectDir: string): string {
  return join(projectDir, PROJECT_FOLDER, 'tokens-used.json');
}

const usageSchema = z.record(z.string(), z.iso.datetime());

/** A token as `tokens list` shows it: never the token nor its digest. */
export interface TokenInfo {
  readonly id: string;
  readonly name: string;
  readonly scope: TokenScope;
  readonly fingerprint?: string;
  readonly created?: string;
  /** When a server last accepted it (to within a minute); undefined: never. */
  readonly lastUsed?: string;
}

/** Options of {@link createToken}. */
export interface CreateTokenOptions {
  /** Who holds it (a client name; rollback evidence counts distinct names). */
  readonly name: string;
  readonly scope: TokenScope;
  /** Key fingerprint of the principal it acts as (needed for promote / rollback). */
  readonly fingerprint?: string;
  /** Creation time; default now. */
  readonly now?: Date;
}

async function readTable(projectDir: string): Promise<TokenTable> {
  const path = tokensPath(projectDir);
  try {
    const raw = await readJson(path, { code: 'INVALID_CONFIG' });
    return parseTokenTable(raw, path);
  } catch (e) {
    if (e instanceof AntidoteError && e.code === 'NOT_FOUND') return { version: 1, tokens: [] };
    throw e;
  }
}

async function writeTable(projectDir: string, table: TokenTable): Promise<void> {
  await writeFileAtomic(tokensPath(projectDir), `${JSON.stringify(table, null, 2)}\n`, {
    mode: 0o600,
  });
}

/** The id of a hand-made entry (no `id`): derived from its digest, so it is stable. */
function idOf(entry: TokenEntry): string {
  return entry.id ?? `tok_${entry.sha256.slice(0, 16)}`;
}

/**
 * Creates a token in the project's table and returns it: the only time the token itself exists
 * outside its holder's hands (the table keeps its SHA-256).
 */
export async function createToken(
  projectDir: string,
  options: CreateTokenOptions,
): Promise<{ token: string; info: TokenInfo }> {
  const table = await readTable(projectDir);
  const token = `adt_${randomBytes(32).toString('base64url')}`;
  const entry: TokenEntry = {
    id: `tok_${randomBytes(8).toString('hex')}`,
    name: options.name,
    sha256: sha256Hex(token),
    ...(options.fingerprint ? { fingerprint: options.fingerprint } : {}),
    scope: options.scope,
    created: (options.now ?? new Date()).toISOString(),
  };
  await writeTable(projectDir, { version: 1, tokens: [...table.tokens, entry] });
  return { token, info: infoOf(entry, {}) };
}

function infoOf(entry: TokenEntry, usage: Record<string, string>): TokenInfo {
  const id = idOf(entry);
  const lastUsed = usage[id];
  return {
    id,
    name: entry.name,
    scope: entry.scope ?? 'admin',
    ...(entry.fingerprint ? { fingerprint: entry.fingerprint } : {}),
    ...(entry.created ? { created: entry.created } : {}),
    ...(lastUsed ? { lastUsed } : {}),
  };
}

async function readUsage(projectDir: string): Promise<Record<string, string>> {
  const path = tokenUsagePath(projectDir);
  try {
    return parseWith(usageSchema, await readJson(path, { code: 'INVALID_CONFIG' }), path, {
      code: 'INVALID_CONFIG',
    });
  } catch (e) {
    if (e instanceof AntidoteError && e.code === 'NOT_FOUND') return {};
    throw e;
  }
}

/** The project's tokens, oldest first, with when each was last used. */
export async function listTokens(projectDir: string): Promise<TokenInfo[]> {
  const [table, usage] = await Promise.all([readTable(projectDir), readUsage(projectDir)]);
  return table.tokens.map((t) => infoOf(t, usage));
}

/** Removes token `id` from the project's table and returns it; `NOT_FOUND` when there is none. */
export async function revokeToken(projectDir: string, id: string): Promise<TokenInfo> {
  const table = await readTable(projectDir);
  const entry = table.tokens.find((t) => idOf(t) === id);
  if (!entry) {
    throw new AntidoteError(
      'NOT_FOUND',
      `no token ${id} in ${tokensPath(projectDir)} (antidote tokens list shows the ids)`,
      { id },
    );
  }
  await writeTable(projectDir, {
    version: 1,
    tokens: table.tokens.filter((t) => t !== entry),
  });
  return infoOf(entry, await readUsage(projectDir));
}

/**
 * The project's token table as the server sees it: reread whenever the file changes (a revoked
 * token stops working at once, a new one works without a restart), and every use recorded in
 * `tokens-used.json` at most once a minute per token (best effort: a failed write is dropped,
 * the time is advisory).
 */
export class ProjectTokens implements TokenSource {
  private cached: { key: string; table: TokenTable | undefined } | undefined;
  private readonly lastWrite = new Map<string, number>();
  private writing: Promise<void> = Promise.resolve();

  /**
   * @param projectDir the project folder (holding `.antidote/`)
   * @param usageIntervalMs shortest time between two "last used" writes for one token
   */
  constructor(
    readonly projectDir: string,
    private readonly usageIntervalMs = 60_000,
  ) {}

  /** The current table (undefined when the project has no token file). */
  current(): TokenTable | undefined {
    const path = tokensPath(this.projectDir);
    let key: string;
    try {
      const s = statSync(path);
      key = `${s.ino}:${s.size}:${s.mtimeMs}`;
    } catch (e) {
      if (!isMissingFileError(e)) throw e;
      key = 'missing';
    }
    if (this.cached?.key !== key) {
      let table: TokenTable | undefined;
      if (key !== 'missing') {
        let raw: unknown;
        try {
          raw = JSON.parse(readFileSync(path, 'utf8'));
        } catch (e) {
          throw new AntidoteError(
            'INVALID_CONFIG',
            `cannot read token file ${path}: ${(e as Error).message}`,
            { path },
          );
        }
        table = parseTokenTable(raw, path);
      }
      this.cached = { key, table };
    }
    return this.cached.table;
  }

  /** Records that `entry` was used now (throttled; see the class comment). */
  used(entry: TokenEntry): void {
    const id = idOf(entry);
    const now = Date.now();
    const last = this.lastWrite.get(id);
    if (last !== undefined && now - last < this.usageIntervalMs) return;
    this.lastWrite.set(id, now);
    const at = new Date(now).toISOString();
    this.writing = this.writing
      .then(async () => {
        const usage = await readUsage(this.projectDir);
        usage[id] = at;
        await writeFileAtomic(
          tokenUsagePath(this.projectDir),
          `${JSON.stringify(usage, null, 2)}\n`,
        );
      })
      .catch(() => {});
  }

  /** Resolves once the pending "last used" writes are done (tests, shutdown). */
  flush(): Promise<void> {
    return this.writing;
  }
}
