import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { AntidoteError } from '../errors.js';
import type { AuditCheckpoint, AuditEntry } from '../integrity/audit-log.js';
import { canonicalJson } from '../integrity/canonical-json.js';
import { ObjectStore } from '../integrity/object-store.js';
import type { NewVersion, VersionKind, VersionRecord } from '../integrity/versioning.js';
import { PgSqlDatabase } from './pg-database.js';
import { PG_OBJECT_CHUNKS_MIGRATION } from './pg-object-schema.js';
import { PgObjectStore } from './pg-object-store.js';
import { ddl, forbidChanges, PG_REFUSE_FUNCTION, type SqlDatabase } from './sql-database.js';
import { SqliteSqlDatabase } from './sql-sqlite.js';
import { type CatalogueStore, PROJECT_FOLDER } from './store.js';

/**
 * One schema migration. Versions are global integers applied in ascending order, each in its own
 * transaction, and recorded in `schema_version`. Core tables use 1–99; other areas (e.g. the model
 * registry) pass their own migrations with versions from 100 up. The same list serves both
 * dialects: `up` writes its DDL through {@link ddl} and {@link forbidChanges}, or branches on
 * `db.dialect` where a statement differs.
 */
export interface Migration {
  readonly version: number;
  readonly name: string;
  up(db: SqlDatabase): void;
}

/** The catalogue's own migrations: versions and the audit log, both append-only. */
export const CORE_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'core: versions, audit log, settings',
    up(db) {
      if (db.dialect === 'postgres') db.exec(PG_REFUSE_FUNCTION);
      db.exec(
        ddl(
          db.dialect,
          `
        CREATE TABLE versions (
          id TEXT NOT NULL UNIQUE,
          kind TEXT NOT NULL CHECK (kind IN ('dataset', 'model')),
          name TEXT NOT NULL,
          seq INTEGER NOT NULL,
          manifest_digest TEXT NOT NULL,
          root_digest TEXT NOT NULL,
          records_root TEXT,
          record_count INTEGER,
          message TEXT NOT NULL,
          author TEXT,
          created_at TEXT NOT NULL,
          parent TEXT,
          PRIMARY KEY (kind, name, seq)
        );
        CREATE INDEX versions_manifest ON versions (manifest_digest);`,
        ),
      );
      forbidChanges(db, 'versions', 'versions', 'committed versions are immutable');
      db.exec(
        ddl(
          db.dialect,
          `
        CREATE TABLE audit_log (
          seq INTEGER PRIMARY KEY,
          hash TEXT NOT NULL,
          entry TEXT NOT NULL
        );`,
        ),
      );
      forbidChanges(db, 'audit_log', 'audit', 'the audit log is append-only');
      db.exec(
        ddl(
          db.dialect,
          `
        CREATE TABLE audit_checkpoints (id INTEGER PRIMARY KEY, checkpoint TEXT NOT NULL);
        CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);`,
        ),
      );
    },
  },
  {
    version: 2,
    name: 'core: objects table (the shared store keeps manifests in the database)',
    up(db) {
      db.exec(
        ddl(
          db.dialect,
          'CREATE TABLE IF NOT EXISTS objects (digest TEXT PRIMARY KEY, data BLOB NOT NULL)',
        ),
      );
    },
  },
  PG_OBJECT_CHUNKS_MIGRATION,
];

interface VersionRow {
  id: string;
  kind: VersionKind;
  name: string;
  seq: number;
  manifest_digest: string;
  root_digest: string;
  records_root: string | null;
  record_count: number | null;
  message: string;
  author: string | null;
  created_at: string;
  parent: string | null;
}

function toVersion(r: VersionRow): VersionRecord {
  return {
    id: r.id,
    kind: r.kind,
    name: r.name,
    seq: r.seq,
    manifestDigest: r.manifest_digest,
    rootDigest: r.root_digest,
    ...(r.records_root ? { recordsRoot: r.records_root } : {}),
    ...(r.record_count !== null ? { recordCount: r.record_count } : {}),
    message: r.message,
    ...(r.author ? { author: r.author } : {}),
    createdAt: r.created_at,
    ...(r.parent ? { parent: r.parent } : {}),
  };
}

/** Options for {@link SqlCatalogueStore.open}. */
export interface OpenCatalogueOptions {
  /** Extra migrations (versions ≥ 100) for tables of other areas. */
  readonly migrations?: readonly Migration[];
  /**
   * Where the catalogue lives: `postgres://…` (a shared PostgreSQL server), or `sqlite` / empty
   * for the embedded `.antidote/catalogue.db`. Default: the `ANTIDOTE_STORE` environment
   * variable (which the CLI's global `--store` option sets), else SQLite.
   */
  readonly store?: string;
}

/** The environment variable selecting the catalogue's database (see {@link OpenCatalogueOptions}). */
export const STORE_ENV = 'ANTIDOTE_STORE';

/** Which backend `store` (or `ANTIDOTE_STORE`) selects: undefined for SQLite, else the URL. */
export function storeUrl(store?: string): string | undefined {
  const s = (store ?? process.env[STORE_ENV] ?? '').trim();
  if (s === '' || s === 'sqlite') return undefined;
  if (/^postgres(ql)?:\/\//.test(s)) return s;
  throw new AntidoteError(
    'INVALID_ARGUMENT',
    `unknown store "${s.replace(/\/\/[^@/]*@/, '//***@')}": use postgres://USER:PASSWORD@HOST/DB, or sqlite (the default)`,
  );
}

/**
 * The catalogue on a SQL database ({@link SqlDatabase}): the embedded SQLite file
 * `.antidote/catalogue.db` by default, or a shared PostgreSQL server (`--store postgres://…` or
 * `ANTIDOTE_STORE`, issue 22) whose schema every client of a team shares. Objects live under
 * `.antidote/objects/` (SQLite) or, for the shared store, in its `objects` table when small
 * ({@link PgObjectStore}). Versions and audit entries are protected by triggers against UPDATE
 * and DELETE; every write runs in a transaction serialised against every other writer.
 */
export class SqlCatalogueStore implements CatalogueStore {
  readonly objects: ObjectStore;

  private constructor(
    readonly projectDir: string,
    /** The underlying database, for areas that add their own tables via migrations. */
    readonly db: SqlDatabase,
  ) {
    const root = join(projectDir, PROJECT_FOLDER, 'objects');
    this.objects = db.dialect === 'postgres' ? new PgObjectStore(root, db) : new ObjectStore(root);
  }

  /**
   * Opens (creating when needed) the catalogue of `projectDir` on the backend `options.store`
   * selects, and applies pending migrations. The project folder `.antidote/` is created either
   * way: it holds the policy, local objects and keys.
   */
  static open(projectDir: string, options: OpenCatalogueOptions = {}): SqlCatalogueStore {
    const url = storeUrl(options.store);
    const folder = join(projectDir, PROJECT_FOLDER);
    let db: SqlDatabase;
    try {
      mkdirSync(join(folder, 'objects'), { recursive: true });
    } catch (e) {
      throw new AntidoteError(
        'IO_ERROR',
        `cannot create the project folder ${folder}: ${(e as Error).message}`,
        { path: folder },
      );
    }
    if (url) {
      db = PgSqlDatabase.connect(url);
    } else {
      try {
        db = SqliteSqlDatabase.open(join(folder, 'catalogue.db'));
      } catch (e) {
        throw new AntidoteError(
          'IO_ERROR',
          `cannot open the catalogue in ${folder}: ${(e as Error).message}`,
          { path: folder },
        );
      }
    }
    const store = new SqlCatalogueStore(projectDir, db);
    try {
      store.migrate([...CORE_MIGRATIONS, ...(options.migrations ?? [])]);
    } catch (e) {
      store.close();
      throw e;
    }
    return store;
  }

  /**
   * Applies the migrations not yet recorded in `schema_version`. Returns the versions applied.
   * When all are applied already it writes nothing, so a read-only database role can open the
   * catalogue.
   */
  migrate(migrations: readonly Migration[]): number[] {
    const seen = new Set<number>();
    for (const m of migrations) {
      if (!Number.isInteger(m.version) || m.version < 1 || seen.has(m.version)) {
        throw new AntidoteError(
          'INVALID_ARGUMENT',
          `migration version ${m.version} (${m.name}) is invalid or repeated`,
        );
      }
      seen.add(m.version);
    }
    if (this.hasSchemaTable()) {
      const applied = new Set(this.schemaVersions());
      if (migrations.every((m) => applied.has(m.version))) return [];
    }
    // Each migration runs in a serialised (IMMEDIATE) transaction that re-reads schema_version,
    // so two processes opening a fresh catalogue at once apply it exactly once.
    this.db.transaction(() =>
      this.db.exec(
        ddl(
          this.db.dialect,
          'CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)',
        ),
      ),
    );
    const isApplied = this.db.prepare('SELECT 1 AS x FROM schema_version WHERE version = ?');
    const record = this.db.prepare(
      'INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)',
    );
    const done: number[] = [];
    for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
      const ran = this.db.transaction(() => {
        if (isApplied.get(m.version)) return false;
        m.up(this.db);
        record.run(m.version, m.name, new Date().toISOString());
        return true;
      });
      if (ran) done.push(m.version);
    }
    return done;
  }

  private hasSchemaTable(): boolean {
    const sql =
      this.db.dialect === 'sqlite'
        ? "SELECT 1 AS x FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
        : "SELECT 1 AS x FROM pg_tables WHERE schemaname = current_schema() AND tablename = 'schema_version'";
    return !!this.db.prepare(sql).get();
  }

  /** Applied schema versions, ascending. */
  schemaVersions(): number[] {
    return (
      this.db.prepare('SELECT version FROM schema_version ORDER BY version').all() as {
        version: number;
      }[]
    ).map((r) => r.version);
  }

  latestVersion(kind: VersionKind, name: string): VersionRecord | undefined {
    const r = this.db
      .prepare('SELECT * FROM versions WHERE kind = ? AND name = ? ORDER BY seq DESC LIMIT 1')
      .get(kind, name) as VersionRow | undefined;
    return r ? toVersion(r) : undefined;
  }

  insertVersion(v: NewVersion): { version: VersionRecord; created: boolean } {
    return this.db.transaction(() => {
      const head = this.latestVersion(v.kind, v.name);
      if (head && head.manifestDigest === v.manifestDigest)
        return { version: head, created: false };
      const seq = (head?.seq ?? 0) + 1;
      const id = `${v.name}@${seq}`;
      this.db
        .prepare(
          `INSERT INTO versions (id, kind, name, seq, manifest_digest, root_digest, records_root, record_count,
             message, author, created_at, parent) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
          id,
          v.kind,
          v.name,
          seq,
          v.manifestDigest,
          v.rootDigest,
          v.recordsRoot ?? null,
          v.recordCount ?? null,
          v.message,
          v.author ?? null,
          v.createdAt,
          head?.id ?? null,
        );
      return { version: this.latestVersion(v.kind, v.name)!, created: true };
    });
  }

  findVersion(kind: VersionKind, ref: string): VersionRecord | undefined {
    const byId = this.db
      .prepare('SELECT * FROM versions WHERE kind = ? AND id = ?')
      .get(kind, ref) as VersionRow | undefined;
    if (byId) return toVersion(byId);
    const latest = this.latestVersion(kind, ref);
    if (latest) return latest;
    if (/^[0-9a-f]{8,64}$/.test(ref)) {
      const rows = this.db
        .prepare(
          'SELECT * FROM versions WHERE kind = ? AND substr(manifest_digest, 1, ?) = ? ORDER BY name, seq',
        )
        .all(kind, ref.length, ref) as VersionRow[];
      if (rows.length > 1 && new Set(rows.map((r) => r.manifest_digest)).size > 1) {
        throw new AntidoteError('INVALID_ARGUMENT', `version prefix ${ref} is ambiguous`, { ref });
      }
      if (rows.length > 0) return toVersion(rows[rows.length - 1]!);
    }
    return undefined;
  }

  listVersions(kind: VersionKind, name?: string): VersionRecord[] {
    const rows = (
      name
        ? this.db
            .prepare('SELECT * FROM versions WHERE kind = ? AND name = ? ORDER BY seq')
            .all(kind, name)
        : this.db.prepare('SELECT * FROM versions WHERE kind = ? ORDER BY name, seq').all(kind)
    ) as VersionRow[];
    return rows.map(toVersion);
  }

  appendAudit(make: (last: AuditEntry | undefined) => AuditEntry): AuditEntry {
    return this.db.transaction(() => {
      const row = this.db.prepare('SELECT entry FROM audit_log ORDER BY seq DESC LIMIT 1').get() as
        | { entry: string }
        | undefined;
      const e = make(row ? (JSON.parse(row.entry) as AuditEntry) : undefined);
      this.db
        .prepare('INSERT INTO audit_log (seq, hash, entry) VALUES (?, ?, ?)')
        .run(e.seq, e.hash, canonicalJson(e));
      return e;
    });
  }

  auditEntries(): AuditEntry[] {
    return (
      this.db.prepare('SELECT entry FROM audit_log ORDER BY seq').all() as { entry: string }[]
    ).map((r) => JSON.parse(r.entry) as AuditEntry);
  }

  appendAuditCheckpoint(c: AuditCheckpoint): void {
    this.db.prepare('INSERT INTO audit_checkpoints (checkpoint) VALUES (?)').run(canonicalJson(c));
  }

  auditCheckpoints(): AuditCheckpoint[] {
    return (
      this.db.prepare('SELECT checkpoint FROM audit_checkpoints ORDER BY id').all() as {
        checkpoint: string;
      }[]
    ).map((r) => JSON.parse(r.checkpoint) as AuditCheckpoint);
  }

  getSetting(key: string): string | undefined {
    const r = this.db.prepare('SELECT value FROM settings WHERE key = ?').get(key) as
      | { value: string }
      | undefined;
    return r?.value;
  }

  setSetting(key: string, value: string): void {
    this.db
      .prepare(
        'INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value',
      )
      .run(key, value);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}

/**
 * The former name of {@link SqlCatalogueStore}, from when SQLite was the only backend; it opens
 * whichever backend `ANTIDOTE_STORE` selects too.
 * @deprecated use {@link SqlCatalogueStore}.
 */
export const SqliteCatalogueStore = SqlCatalogueStore;
/** @deprecated use {@link SqlCatalogueStore}. */
export type SqliteCatalogueStore = SqlCatalogueStore;
