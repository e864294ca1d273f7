import { randomBytes } from 'node:crypto';
import { PgSqlDatabase } from '../registry/pg-database.js';

/**
 * A catalogue backend the shared store and registry suites run against: the embedded SQLite
 * database (`store` undefined) or a PostgreSQL schema of its own (`store` = its URL).
 */
export interface CatalogueBackend {
  /** `sqlite` or `postgres`, for the suites' titles and dialect-specific expectations. */
  readonly name: 'sqlite' | 'postgres';
  /**
   * What `SqlCatalogueStore.open` / `ModelRegistry.open` take as `store` for a fresh catalogue:
   * each call gives a new, empty one (a new schema on PostgreSQL; SQLite's lives in the project
   * folder, which each test creates anyway).
   */
  fresh(): string | undefined;
  /** Drops everything {@link fresh} created (PostgreSQL schemas). */
  cleanup(): void;
}

/** The embedded default. */
export const SQLITE_BACKEND: CatalogueBackend = {
  name: 'sqlite',
  fresh: () => undefined,
  cleanup: () => {},
};

/** `url` with `?schema=NAME` (replacing any schema it names). */
export function withSchema(url: string, schema: string): string {
  const u = new URL(url);
  u.searchParams.set('schema', schema);
  return u.href;
}

/**
 * PostgreSQL at `url` (the services tier's `ANTIDOTE_TEST_PG_URL`): every {@link fresh} store is
 * a schema with a random name, so test files running in parallel against the same server never
 * meet; {@link CatalogueBackend.cleanup} drops them all.
 */
export function postgresBackend(url: string): CatalogueBackend {
  const schemas: string[] = [];
  return {
    name: 'postgres',
    fresh() {
      const schema = `t_${randomBytes(6).toString('hex')}`;
      schemas.push(schema);
      return withSchema(url, schema);
    },
    cleanup() {
      if (schemas.length === 0) return;
      const db = PgSqlDatabase.connect(withSchema(url, 'public'));
      try {
        for (const s of schemas.splice(0)) db.exec(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
      } finally {
        db.close();
      }
    },
  };
}
