import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PgSqlDatabase } from '../registry/pg-database.js';
import { postgresBackend } from './catalogue-backends.js';

/**
 * Projects on fresh PostgreSQL schemas and roles a test creates on the shared services-tier
 * server, all with random names (several test files run against the same server), removed by
 * {@link PgRoleFixture.cleanup} (the roles with everything granted to them).
 */
export interface PgRoleFixture {
  /** A fresh schema's store URL and an empty project folder. */
  project(prefix: string): Promise<{ store: string; root: string }>;
  /** Creates a role (`CREATE ROLE name <options>`) through an owner's connection to `store`. */
  role(store: string, prefix: string, options: string): { role: string; admin: PgSqlDatabase };
  /** Drops the roles and schemas, closes the connections, removes the folders. */
  cleanup(): Promise<void>;
}

/** A {@link PgRoleFixture} on the server at `url` (call `cleanup` in the file's `afterAll`). */
export function pgRoleFixture(url: string): PgRoleFixture {
  const backend = postgresBackend(url);
  const made: { role: string; admin: PgSqlDatabase }[] = [];
  const roots: string[] = [];
  return {
    async project(prefix) {
      const root = await mkdtemp(join(tmpdir(), prefix));
      roots.push(root);
      return { store: backend.fresh() as string, root };
    },
    role(store, prefix, options) {
      const role = `${prefix}_${randomBytes(5).toString('hex')}`;
      const admin = PgSqlDatabase.connect(store);
      admin.exec(`CREATE ROLE "${role}" ${options}`);
      made.push({ role, admin });
      return { role, admin };
    },
    async cleanup() {
      for (const { role, admin } of made.splice(0)) {
        admin.exec(`DROP OWNED BY "${role}"`);
        admin.exec(`DROP ROLE IF EXISTS "${role}"`);
        admin.close();
      }
      backend.cleanup();
      for (const r of roots.splice(0)) await rm(r, { recursive: true, force: true });
    },
  };
}
