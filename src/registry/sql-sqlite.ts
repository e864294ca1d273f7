import Database from 'better-sqlite3';
import type { SqlDatabase, SqlRunResult, SqlStatement, SqlValue } from './sql-database.js';

/** The better-sqlite3 database type. */
export type SqliteDatabase = Database.Database;

/**
 * {@link SqlDatabase} over an embedded SQLite file (better-sqlite3, WAL journal, 5 s busy
 * timeout). Transactions are `BEGIN IMMEDIATE`: the write lock is taken first, so concurrent
 * processes serialise instead of failing on upgrade; nested ones are savepoints.
 */
export class SqliteSqlDatabase implements SqlDatabase {
  readonly dialect = 'sqlite' as const;

  private constructor(
    /** The underlying better-sqlite3 connection (pragmas, tests). */
    readonly native: SqliteDatabase,
  ) {}

  /** Opens (creating when needed) the database file at `path`. */
  static open(path: string): SqliteSqlDatabase {
    const db = new Database(path);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('busy_timeout = 5000');
    db.pragma('foreign_keys = ON');
    return new SqliteSqlDatabase(db);
  }

  get open(): boolean {
    return this.native.open;
  }

  prepare(sql: string): SqlStatement {
    const s = this.native.prepare(sql);
    const reads = s.reader;
    return {
      get: (...params: SqlValue[]) => s.get(...params),
      all: (...params: SqlValue[]) => s.all(...params),
      run: (...params: SqlValue[]): SqlRunResult => {
        if (reads) return { changes: s.all(...params).length };
        return { changes: s.run(...params).changes };
      },
    };
  }

  exec(sql: string): void {
    this.native.exec(sql);
  }

  transaction<T>(fn: () => T): T {
    return this.native.transaction(fn).immediate();
  }

  close(): void {
    if (this.native.open) this.native.close();
  }
}
