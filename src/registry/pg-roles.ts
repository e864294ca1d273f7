import { AntidoteError } from '../errors.js';
import type { SqlDatabase } from './sql-database.js';

/**
 * What a PostgreSQL role may do to a shared catalogue, mapped from the access policy where a
 * database can enforce it (docs/postgres.md):
 * - `read`: `SELECT` only — the dashboard, `serve --read-only`, `registry list/show`, `audit
 *   verify`, `lineage`: every read path. Any write fails in the server (`PERMISSION_DENIED`).
 * - `write`: what registering, committing, gating, promoting and rolling back need (the policy's
 *   `dataset:commit`, `model:register`, `model:promote` permissions): `SELECT` and `INSERT` on
 *   every table, `UPDATE` on the two mutable ones (`model_stages`, `settings`), never `DELETE`,
 *   `TRUNCATE` nor DDL — so even a compromised writer cannot rewrite history (the triggers refuse
 *   it for the owner too).
 * Which principal may promote which model stays the access policy's decision (the library
 * enforces it and audits it); the database adds a floor under it.
 */
export type CatalogueAccess = 'read' | 'write';

const IDENT_RE = /^[a-z_][a-z0-9_]{0,62}$/;

function ident(kind: string, name: string): string {
  if (!IDENT_RE.test(name)) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `invalid ${kind} "${name}": use lower-case letters, digits and "_" (at most 63)`,
    );
  }
  return `"${name}"`;
}

/**
 * The SQL statements that give the existing role `role` `access` to the catalogue in `schema`
 * (run them as the catalogue's owner, e.g. with psql), including default privileges so tables
 * added by later migrations are covered too.
 */
export function catalogueGrants(schema: string, role: string, access: CatalogueAccess): string[] {
  const s = ident('schema', schema);
  const r = ident('role', role);
  const out = [
    `GRANT USAGE ON SCHEMA ${s} TO ${r}`,
    `GRANT SELECT ON ALL TABLES IN SCHEMA ${s} TO ${r}`,
    `ALTER DEFAULT PRIVILEGES IN SCHEMA ${s} GRANT SELECT ON TABLES TO ${r}`,
  ];
  if (access === 'write') {
    out.push(
      `GRANT INSERT ON ALL TABLES IN SCHEMA ${s} TO ${r}`,
      `GRANT UPDATE ON ${s}.model_stages, ${s}.settings TO ${r}`,
      `GRANT USAGE ON ALL SEQUENCES IN SCHEMA ${s} TO ${r}`,
      `ALTER DEFAULT PRIVILEGES IN SCHEMA ${s} GRANT INSERT ON TABLES TO ${r}`,
      `ALTER DEFAULT PRIVILEGES IN SCHEMA ${s} GRANT USAGE ON SEQUENCES TO ${r}`,
    );
  }
  return out;
}

/**
 * Applies {@link catalogueGrants} through `db` (a connection of the catalogue's owner to its
 * schema; the registry's tables must exist, i.e. the catalogue was opened with its migrations).
 */
export function grantCatalogueAccess(
  db: SqlDatabase & { readonly schema: string },
  role: string,
  access: CatalogueAccess,
): void {
  if (db.dialect !== 'postgres') {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      'database roles apply to a PostgreSQL store only (SQLite has none: use file permissions)',
    );
  }
  db.transaction(() => {
    for (const sql of catalogueGrants(db.schema, role, access)) db.exec(sql);
  });
}
