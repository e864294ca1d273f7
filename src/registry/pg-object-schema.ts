import type { SqlDatabase } from './sql-database.js';

/**
 * Core migration 3: objects of any size in a shared (PostgreSQL) catalogue, streamed in chunks
 * (issue 22; docs/postgres.md, "Objects"). Objects up to 1 MiB stay one row of `objects` (which
 * gains `stored_at`); larger ones are rows of `object_chunks`, written under a random upload id
 * and published by one row of `large_objects` once every chunk is in, so concurrent writers of
 * the same content never meet on a key (the first to publish wins; the others' chunks are
 * garbage). `object_uses` records each time a writer relied on an object that already existed:
 * the lease that keeps `dataset gc` from removing it while the writer's commit is running.
 *
 * Why chunked `BYTEA` rows rather than PostgreSQL large objects (`lo_*`): chunk rows live in the
 * catalogue's schema, so they follow its grants (the read role reads them, the write role can
 * insert but never delete), are dropped with the schema, and are read and written with ordinary
 * parameterised statements through the synchronous bridge; large objects live database-wide in
 * `pg_largeobject` with per-object ownership and privileges and need `lo_unlink` on every
 * deletion. Chunks are stored without TOAST compression (`STORAGE EXTERNAL`): dataset payloads
 * (`.npz`, images) are mostly compressed already, and pglz over them costs time for nothing.
 *
 * On SQLite the migration changes nothing (its objects are files under `.antidote/objects/`);
 * it is recorded there too so that both dialects keep one migration list.
 */
export const PG_OBJECT_CHUNKS_MIGRATION = {
  version: 3,
  name: 'core: objects of any size in the shared store (chunks, uploads, leases)',
  up(db: SqlDatabase): void {
    if (db.dialect !== 'postgres') return;
    db.exec(`
      ALTER TABLE objects ADD COLUMN stored_at TIMESTAMPTZ NOT NULL DEFAULT now();
      CREATE TABLE object_chunks (
        upload TEXT COLLATE "C" NOT NULL,
        idx INTEGER NOT NULL,
        data BYTEA NOT NULL,
        stored_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        PRIMARY KEY (upload, idx)
      );
      ALTER TABLE object_chunks ALTER COLUMN data SET STORAGE EXTERNAL;
      CREATE TABLE large_objects (
        digest TEXT COLLATE "C" PRIMARY KEY,
        upload TEXT COLLATE "C" NOT NULL UNIQUE,
        bytes BIGINT NOT NULL,
        chunks INTEGER NOT NULL,
        stored_at TIMESTAMPTZ NOT NULL DEFAULT now()
      );
      CREATE TABLE object_uses (
        digest TEXT COLLATE "C" NOT NULL,
        at TIMESTAMPTZ NOT NULL DEFAULT now()
      );
      CREATE INDEX object_uses_digest ON object_uses (digest, at);`);
  },
} as const;
