/**
 * The catalogue store's former module, kept so that code importing it keeps working: the store
 * now runs on either SQL backend and lives in ./sql-store.ts, the SQLite connection in
 * ./sql-sqlite.ts.
 */

export type { SqliteDatabase } from './sql-sqlite.js';
export {
  CORE_MIGRATIONS,
  type Migration,
  type OpenCatalogueOptions,
  SqliteCatalogueStore,
} from './sql-store.js';
