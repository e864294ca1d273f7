import { Command } from 'commander';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { isAntidoteError } from '../../errors.js';
import { verifyAuditChain } from '../../integrity/audit-log.js';
import { ModelRegistry } from '../../registry/model-registry.js';
import { pgRoleFixture } from '../../testing/pg-test-roles.js';
import { rejectionOf, runProgram } from '../../testing/run-program.js';
import { testServiceUrl } from '../../testing/services.js';
import { registerStoreCommand } from './store.js';

const url = testServiceUrl('postgres');

function program(): Command {
  const p = new Command('antidote').exitOverride();
  registerStoreCommand(p);
  return p;
}

const saved = process.env.ANTIDOTE_STORE;
afterEach(() => {
  if (saved === undefined) delete process.env.ANTIDOTE_STORE;
  else process.env.ANTIDOTE_STORE = saved;
});

describe('antidote store grant', () => {
  it('prints the GRANT statements with --sql, and refuses a SQLite store', async () => {
    process.env.ANTIDOTE_STORE = 'postgres://u:p@127.0.0.1:1/db?schema=team_a';
    const out = JSON.parse(
      await runProgram(program(), [
        'store',
        'grant',
        '--role',
        'dash',
        '--access',
        'read',
        '--sql',
        '--json',
      ]),
    );
    expect(out.schema).toBe('team_a');
    expect(out.statements.join(';')).toMatch(/GRANT SELECT ON ALL TABLES IN SCHEMA "team_a"/);
    expect(out.statements.join(';')).not.toMatch(/INSERT|UPDATE|DELETE/);
    delete process.env.ANTIDOTE_STORE;
    const e = await rejectionOf(
      runProgram(program(), ['store', 'grant', '--role', 'dash', '--access', 'read', '--sql']),
    );
    expect(isAntidoteError(e, 'INVALID_ARGUMENT')).toBe(true);
    process.env.ANTIDOTE_STORE = 'postgres://u:p@127.0.0.1:1/db';
    const bad = await rejectionOf(
      runProgram(program(), ['store', 'grant', '--role', 'x;drop', '--access', 'read', '--sql']),
    );
    expect(isAntidoteError(bad, 'INVALID_ARGUMENT')).toBe(true);
  });
});

describe.skipIf(!url)('antidote store grant on PostgreSQL (services tier)', () => {
  const fx = pgRoleFixture(url ?? 'postgres://unused/');
  afterAll(() => fx.cleanup());

  it('gives an existing role write access (no DELETE), audited', async () => {
    const { store, root } = await fx.project('store-grant-');
    ModelRegistry.open(root, { store }).close();
    const { role, admin } = fx.role(store, 'ci', 'NOLOGIN');
    process.env.ANTIDOTE_STORE = store;
    const out = JSON.parse(
      await runProgram(program(), [
        'store',
        'grant',
        '--role',
        role,
        '--access',
        'write',
        '--project',
        root,
        '--json',
      ]),
    );
    expect(out.access).toBe('write');
    const can = (table: string, privilege: string) =>
      (
        admin
          .prepare('SELECT has_table_privilege(?, ?, ?) AS ok')
          .get(role, `${admin.schema}.${table}`, privilege) as { ok: boolean }
      ).ok;
    expect(can('model_versions', 'SELECT')).toBe(true);
    expect(can('model_versions', 'INSERT')).toBe(true);
    expect(can('model_stages', 'UPDATE')).toBe(true);
    expect(can('model_versions', 'DELETE')).toBe(false);
    expect(can('audit_log', 'UPDATE')).toBe(false);
    const reg = ModelRegistry.open(root, { store });
    try {
      const entries = reg.store.auditEntries();
      expect(entries.filter((e) => e.action === 'store.grant')).toHaveLength(1);
      expect(verifyAuditChain(entries).ok).toBe(true);
    } finally {
      reg.close();
    }
  });
});
