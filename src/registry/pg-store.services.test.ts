import { randomBytes } from 'node:crypto';
import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { appendAudit, verifyAuditChain } from '../integrity/audit-log.js';
import { commitVersion, loadVersionManifest } from '../integrity/versioning.js';
import { postgresBackend, withSchema } from '../testing/catalogue-backends.js';
import { catalogueStoreSuite } from '../testing/catalogue-store-suite.js';
import {
  concurrentRegistrationSuite,
  modelRegistrySuite,
} from '../testing/model-registry-suite.js';
import { pgRoleFixture } from '../testing/pg-test-roles.js';
import { runCli } from '../testing/run-cli.js';
import { testServiceUrl } from '../testing/services.js';
import { ModelRegistry } from './model-registry.js';
import { parsePgUrl } from './pg-database.js';
import { PG_OBJECT_MAX_BYTES } from './pg-object-store.js';
import { catalogueGrants, grantCatalogueAccess } from './pg-roles.js';
import { toPostgresPlaceholders } from './sql-database.js';
import { SqlCatalogueStore } from './sql-store.js';

const url = testServiceUrl('postgres');

describe('PostgreSQL URL and placeholders', () => {
  it('parses the schema and hides the password', () => {
    expect(parsePgUrl('postgres://u:secret@h:5/db?schema=team_a')).toEqual({
      connectionString: 'postgres://u:secret@h:5/db',
      schema: 'team_a',
      where: 'postgres://u:***@h:5/db',
    });
    expect(parsePgUrl('postgresql://h/db').schema).toBe('antidote');
    expect(() => parsePgUrl('postgres://h/db?schema=Bad-Name')).toThrow(/invalid schema/);
    expect(() => parsePgUrl('not a url')).toThrow(/not a valid URL/);
  });

  it('rewrites ? outside strings and comments', () => {
    expect(toPostgresPlaceholders('SELECT \'?\' , ? -- ?\n, "a?", ?')).toBe(
      'SELECT \'?\' , $1 -- ?\n, "a?", $2',
    );
  });

  it('grants a read role SELECT only and a write role no DELETE', () => {
    const read = catalogueGrants('s', 'dash', 'read');
    expect(read.join(';')).toMatch(/GRANT SELECT ON ALL TABLES IN SCHEMA "s" TO "dash"/);
    expect(read.join(';')).not.toMatch(/INSERT|UPDATE|DELETE/);
    expect(catalogueGrants('s', 'ci', 'write').join(';')).not.toMatch(/DELETE|TRUNCATE/);
    expect(() => catalogueGrants('s', 'x; DROP', 'read')).toThrow(/invalid role/);
  });
});

describe.skipIf(!url)('the catalogue on PostgreSQL (services tier)', () => {
  const backend = postgresBackend(url ?? 'postgres://unused/');
  catalogueStoreSuite(backend);
  modelRegistrySuite(backend);
  concurrentRegistrationSuite(backend, 4, 50);

  describe('shared by two projects (two machines)', () => {
    const roots: string[] = [];
    afterAll(async () => {
      backend.cleanup();
      for (const r of roots) await rm(r, { recursive: true, force: true });
    });

    it('shares versions, manifests and one verifiable audit chain', async () => {
      const store = backend.fresh();
      const [a, b] = [
        await mkdtemp(join(tmpdir(), 'pg-a-')),
        await mkdtemp(join(tmpdir(), 'pg-b-')),
      ];
      roots.push(a, b);
      const sa = SqlCatalogueStore.open(a, { ...(store ? { store } : {}) });
      const sb = SqlCatalogueStore.open(b, { ...(store ? { store } : {}) });
      try {
        await mkdir(join(a, 'd'));
        await writeFile(join(a, 'd', 'f.txt'), 'shared');
        await writeFile(join(a, 'd', 'big.bin'), Buffer.alloc(PG_OBJECT_MAX_BYTES + 1, 7));
        const v = (await commitVersion(join(a, 'd'), sa, sa.objects, { name: 'ds', message: 'm' }))
          .version;
        // The other machine sees the version and reads its manifest from the database.
        const seen = sb.findVersion('dataset', 'ds');
        expect(seen?.id).toBe(v.id);
        const m = await loadVersionManifest(seen!, sb.objects);
        expect(m.rootDigest).toBe(v.rootDigest);
        // Every object is in the database, small ones as rows, larger ones in chunks.
        const digestOf = (p: string) => m.files.find((f) => f.path === p)!.digest;
        expect(sb.objects.has(digestOf('f.txt'))).toBe(true);
        expect((await sb.objects.readBytes(digestOf('f.txt'))).toString()).toBe('shared');
        expect([sa.objects.has(digestOf('big.bin')), sb.objects.has(digestOf('big.bin'))]).toEqual([
          true,
          true,
        ]);
        expect(
          (await sb.objects.readBytes(digestOf('big.bin'))).equals(
            Buffer.alloc(PG_OBJECT_MAX_BYTES + 1, 7),
          ),
        ).toBe(true);
        for (let i = 0; i < 6; i++)
          appendAudit(i % 2 ? sa : sb, { actor: `m${i % 2}`, action: 'x' });
        const entries = sb.auditEntries();
        expect(entries.map((e) => e.seq)).toEqual([...entries.keys()].map((i) => i + 1));
        expect(verifyAuditChain(entries).ok).toBe(true);
      } finally {
        sa.close();
        sb.close();
      }
    });
  });

  describe('the CLI with --store', () => {
    let root = '';
    afterAll(async () => {
      backend.cleanup();
      if (root) await rm(root, { recursive: true, force: true });
    });

    it('registers from one project and lists from another checkout (ANTIDOTE_STORE)', async () => {
      const store = backend.fresh() as string;
      root = await mkdtemp(join(tmpdir(), 'pg-cli-'));
      const [a, b] = [join(root, 'a'), join(root, 'b')];
      await mkdir(join(a, 'build', 'model'), { recursive: true });
      await writeFile(join(a, 'build', 'model', 'w.bin'), 'weights');
      const reg = runCli([
        '--store',
        store,
        'registry',
        'register',
        join(a, 'build', 'model'),
        '--name',
        'm',
        '--project',
        a,
        '--json',
      ]);
      expect(reg.stderr).toBe('');
      expect(reg.code).toBe(0);
      expect(JSON.parse(reg.stdout)).toMatchObject({ created: true, version: { id: 'm@1' } });
      // Another machine: its own checkout of the project, the same shared store.
      await cp(a, b, { recursive: true });
      await rm(join(b, '.antidote'), { recursive: true });
      await mkdir(join(b, '.antidote'));
      const list = runCli(['registry', 'list', '--project', b, '--json'], {
        env: { ANTIDOTE_STORE: store },
      });
      expect(list.code).toBe(0);
      expect(JSON.parse(list.stdout)).toMatchObject([
        { id: 'm@1', dir: join(b, 'build', 'model'), stage: 'candidate' },
      ]);
      const bad = runCli(['--store', 'mysql://x/y', 'registry', 'list', '--project', b]);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(/antidote: error \[INVALID_ARGUMENT\]: unknown store/);
    });
  });

  describe('database roles', () => {
    const password = randomBytes(12).toString('hex');
    const fx = pgRoleFixture(url ?? 'postgres://unused/');
    afterAll(() => fx.cleanup());

    it('a read-only role reads the registry; any write through it is refused', async () => {
      const { store, root } = await fx.project('pg-role-');
      await mkdir(join(root, 'm'));
      await writeFile(join(root, 'm', 'w.bin'), 'w');
      const owner = ModelRegistry.open(root, { store });
      const { role, admin } = fx.role(store, 'ro', `LOGIN PASSWORD '${password}'`);
      try {
        await owner.register(join(root, 'm'), { name: 'm' });
        grantCatalogueAccess(admin, role, 'read');
      } finally {
        owner.close();
      }
      const u = new URL(store);
      u.username = role;
      u.password = password;
      const reader = ModelRegistry.open(root, { store: withSchema(u.href, admin.schema) });
      try {
        expect(reader.get('m@1').stage).toBe('candidate');
        expect(verifyAuditChain(reader.store.auditEntries()).ok).toBe(true);
        await mkdir(join(root, 'm2'));
        await writeFile(join(root, 'm2', 'w.bin'), 'w2');
        await expect(reader.register(join(root, 'm2'), { name: 'm' })).rejects.toMatchObject({
          code: 'PERMISSION_DENIED',
          message: expect.stringMatching(/permission denied/),
        });
        expect(() => reader.store.setSetting('k', 'v')).toThrow(/permission denied/);
        expect(reader.list('m')).toHaveLength(1);
      } finally {
        reader.close();
      }
    });
  });
});
