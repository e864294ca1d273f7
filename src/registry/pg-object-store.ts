import { createHash } from 'node:crypto';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { AntidoteError } from '../errors.js';
import { ObjectStore } from '../integrity/object-store.js';
import type { SqlDatabase } from './sql-database.js';

/** Files up to this size go into the database table; larger ones stay on the local disk. */
export const PG_OBJECT_MAX_BYTES = 1024 * 1024;

/**
 * The content-addressed object store of a shared (PostgreSQL) catalogue: manifests and other
 * small objects (at most {@link PG_OBJECT_MAX_BYTES}) live in the `objects` table, so every
 * client of the catalogue reads the manifests its versions name; larger files (dataset payloads)
 * stay in the local `.antidote/objects/` folder, like the SQLite store's, and are shared by the
 * deployment's file system or not at all (docs/postgres.md). Reads check the digest either way.
 * `inventory` and `remove` (garbage collection) see only the local folder: objects in the table
 * are small and never collected.
 */
export class PgObjectStore extends ObjectStore {
  constructor(
    root: string,
    private readonly db: SqlDatabase,
  ) {
    super(root);
  }

  private row(digest: string): Buffer | undefined {
    this.pathOf(digest); // validates the digest
    const r = this.db.prepare('SELECT data FROM objects WHERE digest = ?').get(digest) as
      | { data: Buffer }
      | undefined;
    return r?.data;
  }

  override has(digest: string): boolean {
    if (super.has(digest)) return true;
    return !!this.db.prepare('SELECT 1 AS x FROM objects WHERE digest = ?').get(digest);
  }

  override async putBytes(data: Uint8Array): Promise<string> {
    if (data.byteLength > PG_OBJECT_MAX_BYTES) return super.putBytes(data);
    const digest = createHash('sha256').update(data).digest('hex');
    this.db
      .prepare('INSERT INTO objects (digest, data) VALUES (?, ?) ON CONFLICT (digest) DO NOTHING')
      .run(digest, data);
    return digest;
  }

  override async putFile(path: string, expected?: string): Promise<string> {
    const size = await stat(path).then(
      (s) => s.size,
      () => undefined,
    );
    if (size === undefined || size > PG_OBJECT_MAX_BYTES) return super.putFile(path, expected);
    const data = await readFile(path);
    const digest = createHash('sha256').update(data).digest('hex');
    if (expected && digest !== expected) {
      throw new AntidoteError(
        'INTEGRITY_MISMATCH',
        `${path} changed while it was being committed`,
        {
          path,
        },
      );
    }
    return this.putBytes(data);
  }

  override async readBytes(digest: string): Promise<Buffer> {
    const data = this.row(digest);
    if (!data) return super.readBytes(digest);
    if (createHash('sha256').update(data).digest('hex') !== digest) {
      throw new AntidoteError('INTEGRITY_MISMATCH', `object ${digest} is corrupted`, {
        path: `objects/${digest}`,
      });
    }
    return data;
  }

  override async copyOut(digest: string, dst: string): Promise<void> {
    if (!this.row(digest)) return super.copyOut(digest, dst);
    const data = await this.readBytes(digest);
    await writeFile(dst, data, { flag: 'wx', mode: 0o644 });
  }
}
