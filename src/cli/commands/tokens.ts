import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { Option } from 'commander';
import { AntidoteError } from '../../errors.js';
import { appendAudit } from '../../integrity/audit-log.js';
import { SqliteCatalogueStore } from '../../registry/sqlite-store.js';
import { resolveProjectDir } from '../../registry/store.js';
import { TOKEN_SCOPES, type TokenScope } from '../../server/auth.js';
import { createToken, listTokens, revokeToken, tokensPath } from '../../server/token-store.js';
import { writeFileAtomic } from '../../util/fs.js';
import { type OutputOptions, printResult } from '../output.js';
import { actorOf, requirePermission } from './policy.js';

/** Options every `tokens` subcommand takes. */
interface TokensCliOptions extends OutputOptions {
  project?: string;
  key?: string;
}

const FINGERPRINT = /^sha256:[0-9a-f]{64}$/;

/**
 * Opens the project's catalogue (for the policy check and the audit log), runs `f` with the
 * project folder, and closes it. With an access policy installed, the holder of `--key` needs
 * `keys:manage` (tokens grant access as keys do); the decision is audited either way.
 */
async function withProject<T>(
  o: TokensCliOptions,
  create: boolean,
  subject: string,
  f: (
    projectDir: string,
    actor: string,
    audit: (action: string, subj: string) => void,
  ) => Promise<T>,
): Promise<T> {
  const dir = resolveProjectDir({ explicit: o.project, cwd: process.cwd(), create });
  const store = SqliteCatalogueStore.open(dir);
  try {
    await requirePermission(store, o.key, 'keys:manage', subject);
    const actor = (await actorOf(o.key)) ?? 'anonymous';
    return await f(store.projectDir, actor, (action, subj) =>
      appendAudit(store, { actor, action, outcome: 'ok', subject: subj }),
    );
  } finally {
    store.close();
  }
}

/** The table of `tokens list`: id, name, scope, created, last used; never a token. */
function listText(rows: Awaited<ReturnType<typeof listTokens>>): string {
  if (rows.length === 0) return 'no API tokens (antidote tokens create --name NAME --scope read)';
  const cells = rows.map((r) => [r.id, r.name, r.scope, r.created ?? '-', r.lastUsed ?? 'never']);
  const head = ['ID', 'NAME', 'SCOPE', 'CREATED', 'LAST USED'];
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const fmt = (c: string[]) =>
    c
      .map((x, i) => x.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [fmt(head), ...cells.map(fmt)].join('\n');
}

/**
 * `antidote tokens create|list|revoke`: the API tokens `antidote serve` accepts, kept in the
 * project (`.antidote/tokens.json`, SHA-256 digests only; `src/server/token-store.ts`). A token
 * is shown once, at creation. Scopes (`src/server/auth.ts`): `read` (dashboard, API, predict
 * under `serve --auth read`; a trusted client for the monitors), `write` (promote, rollback, as
 * the principal of `--principal-key` / `--fingerprint`, when the access policy allows), `admin`
 * (also gate overrides). A running server sees changes at once.
 */
export function registerTokensCommand(program: Command): void {
  const cmd = program
    .command('tokens')
    .description('API tokens of antidote serve: create (shown once), list, revoke; scoped');
  const common = (c: Command) =>
    c
      .option('--project <dir>', 'project folder (default: nearest with .antidote/)')
      .option('--key <file>', 'your key; needs keys:manage when an access policy is installed')
      .option('--json', 'print the result as JSON')
      .option('--quiet', 'print only what scripts need');

  common(
    cmd
      .command('create')
      .description('create a token and print it once (the project keeps only its SHA-256)')
      .requiredOption('--name <name>', 'who holds it (a client or person)')
      .addOption(
        new Option('--scope <scope>', 'what it may do').choices(TOKEN_SCOPES).default('read'),
      )
      .option(
        '--principal-key <file>',
        'public (or private) key of the principal it acts as: the access policy decides its changes',
      )
      .option('--fingerprint <fp>', 'the principal as a key fingerprint (sha256:…) instead')
      .option('--token-file <file>', 'write the token to FILE (mode 0600) instead of stdout')
      .option('--force', 'overwrite --token-file'),
  ).action(
    async (
      o: TokensCliOptions & {
        name: string;
        scope: TokenScope;
        principalKey?: string;
        fingerprint?: string;
        tokenFile?: string;
        force?: boolean;
      },
    ) => {
      if (o.principalKey && o.fingerprint) {
        throw new AntidoteError(
          'INVALID_ARGUMENT',
          'give --principal-key or --fingerprint, not both',
        );
      }
      if (o.fingerprint && !FINGERPRINT.test(o.fingerprint)) {
        throw new AntidoteError(
          'INVALID_ARGUMENT',
          `--fingerprint must be sha256:<64 hex digits>, got ${o.fingerprint}`,
        );
      }
      if (o.tokenFile && existsSync(o.tokenFile) && !o.force) {
        throw new AntidoteError(
          'ALREADY_EXISTS',
          `${o.tokenFile} already exists; add --force to overwrite it`,
          { path: o.tokenFile },
        );
      }
      const fingerprint = o.fingerprint ?? (await actorOf(o.principalKey));
      if (o.scope !== 'read' && !fingerprint) {
        throw new AntidoteError(
          'INVALID_ARGUMENT',
          `a ${o.scope} token acts as a principal of the access policy: give --principal-key FILE or --fingerprint FP`,
        );
      }
      const { token, info } = await withProject(o, true, 'tokens', async (dir, _actor, audit) => {
        const r = await createToken(dir, {
          name: o.name,
          scope: o.scope,
          ...(fingerprint ? { fingerprint } : {}),
        });
        audit('tokens.create', `token:${r.info.id}`);
        return r;
      });
      if (o.tokenFile) await writeFileAtomic(o.tokenFile, `${token}\n`, { mode: 0o600 });
      const shown = o.tokenFile ? { ...info, tokenFile: o.tokenFile } : { ...info, token };
      if (o.quiet && !o.json) {
        process.stdout.write(o.tokenFile ? `${info.id}\n` : `${token}\n`);
        return;
      }
      printResult(
        o,
        () =>
          [
            `created ${info.id} (${info.name}, scope ${info.scope})`,
            o.tokenFile
              ? `token written to ${o.tokenFile}`
              : `token (shown once, store it now): ${token}`,
            'use it as: Authorization: Bearer TOKEN',
          ].join('\n'),
        shown,
      );
    },
  );

  common(
    cmd.command('list').description('list tokens: id, name, scope, created, last used'),
  ).action(async (o: TokensCliOptions) => {
    const dir = resolveProjectDir({ explicit: o.project, cwd: process.cwd(), create: false });
    const rows = existsSync(tokensPath(dir)) ? await listTokens(dir) : [];
    if (o.quiet && !o.json) {
      if (rows.length > 0) process.stdout.write(`${rows.map((r) => r.id).join('\n')}\n`);
      return;
    }
    printResult(o, () => listText(rows), rows);
  });

  common(
    cmd
      .command('revoke <id>')
      .description('revoke a token by id (a running server refuses it at once)'),
  ).action(async (id: string, o: TokensCliOptions) => {
    const info = await withProject(o, false, `token:${id}`, async (dir, _actor, audit) => {
      const r = await revokeToken(dir, id);
      audit('tokens.revoke', `token:${id}`);
      return r;
    });
    if (o.quiet && !o.json) return;
    printResult(o, `revoked ${info.id} (${info.name}, scope ${info.scope})`, info);
  });
}
