import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { open, readFile, rm, stat } from 'node:fs/promises';
import { AntidoteError } from '../errors.js';
import { ObjectStore } from '../integrity/object-store.js';
import type { SqlDatabase } from './sql-database.js';

/** Objects up to this size are one row of the `objects` table; larger ones are stored in chunks. */
export const PG_OBJECT_MAX_BYTES = 1024 * 1024;

/**
 * Default size of one chunk of a large object (one row of `object_chunks`). Measured with
 * bench/scale-objects.mjs (64 MiB objects, docs/postgres.md): 4 MiB chunks were the slowest both
 * ways and needed the most memory; 256 KiB and 1 MiB were within the loaded machine's noise, and
 * 1 MiB writes a quarter of the rows.
 */
export const PG_OBJECT_CHUNK_BYTES = 1024 * 1024;

/** Bytes of chunks fetched per round trip when reading a large object. */
const READ_BATCH_BYTES = 4 * 1024 * 1024;

/** Where the database holds an object: one row, or the chunks of a published upload. */
type Location =
  | { readonly kind: 'row' }
  | { readonly kind: 'chunks'; readonly upload: string; readonly bytes: number; chunks: number };

const EXISTS_SQL =
  'SELECT (EXISTS (SELECT 1 FROM objects WHERE digest = ?) OR EXISTS (SELECT 1 FROM large_objects WHERE digest = ?)) AS x';

function mismatch(digest: string, why: string): AntidoteError {
  return new AntidoteError('INTEGRITY_MISMATCH', `object ${digest} is corrupted (${why})`, {
    path: `objects/${digest}`,
  });
}

/**
 * The content-addressed object store of a shared (PostgreSQL) catalogue (issue 22): every object,
 * whatever its size, lives in the database, so each client of the catalogue (each machine of a
 * team) checks out the dataset versions another one committed. Objects up to
 * {@link PG_OBJECT_MAX_BYTES} are one row of `objects` (manifests, small files); larger ones are
 * streamed in chunks of {@link PG_OBJECT_CHUNK_BYTES} into `object_chunks` under a random upload
 * id and published by one row of `large_objects` when complete (schema and reasons:
 * ./pg-object-schema.ts, docs/postgres.md):
 * - writing holds one chunk in memory, never the file; reading does the same, and re-hashes
 *   every byte: a missing, altered or resized chunk fails with `INTEGRITY_MISMATCH` before the last
 *   chunk is handed out (so {@link copyOut} leaves no file behind);
 * - concurrent writers of the same content (on any machine) each upload under their own id; the
 *   first to publish wins, the others' chunks are removed (or, for a role that may not delete,
 *   left to `dataset gc`);
 * - {@link has} records a lease (`object_uses`) on an object a commit is about to rely on, in a
 *   transaction serialised with `dataset gc` ({@link collectSharedGarbage}), so garbage
 *   collection never removes what a running commit reuses.
 * Objects that earlier releases kept in the local `.antidote/objects/` (files over 1 MiB) are
 * still read from there; `has` reports the database only, so the next commit of such a file
 * uploads it. `inventory` and `remove` (the local garbage collection) see the local folder.
 */
export class PgObjectStore extends ObjectStore {
  /** Size of one chunk of a large object, in bytes. */
  readonly chunkBytes: number;

  /**
   * @param root the local folder of objects written by earlier releases (read only as a fallback).
   * @param db a connection to the catalogue (migration 3 applied).
   * @param options.chunkBytes chunk size (default {@link PG_OBJECT_CHUNK_BYTES}; 1 KiB–64 MiB).
   */
  constructor(
    root: string,
    private readonly db: SqlDatabase,
    options: { chunkBytes?: number } = {},
  ) {
    super(root);
    const c = options.chunkBytes ?? PG_OBJECT_CHUNK_BYTES;
    if (!Number.isInteger(c) || c < 1024 || c > 64 * 1024 * 1024) {
      throw new AntidoteError('INVALID_ARGUMENT', `chunk size ${c} is not in 1 KiB–64 MiB`);
    }
    this.chunkBytes = c;
  }

  private locate(digest: string): Location | undefined {
    this.pathOf(digest); // validates the digest
    const r = this.db
      .prepare(
        `SELECT 'row' AS kind, NULL AS upload, 0 AS bytes, 1 AS chunks FROM objects WHERE digest = ?
         UNION ALL SELECT 'chunks', upload, bytes, chunks FROM large_objects WHERE digest = ?`,
      )
      .get(digest, digest) as
      | { kind: 'row' | 'chunks'; upload: string | null; bytes: number; chunks: number }
      | undefined;
    if (!r) return undefined;
    if (r.kind === 'row') return { kind: 'row' };
    return { kind: 'chunks', upload: r.upload as string, bytes: r.bytes, chunks: r.chunks };
  }

  /**
   * The object's bytes in order, read from the database and hashed on the way; the last piece is
   * returned only after the whole object matched its digest (`INTEGRITY_MISMATCH` otherwise).
   */
  private *pieces(digest: string, at: Location): Generator<Buffer> {
    const h = createHash('sha256');
    if (at.kind === 'row') {
      const r = this.db.prepare('SELECT data FROM objects WHERE digest = ?').get(digest) as
        | { data: Buffer }
        | undefined;
      if (!r) throw new AntidoteError('NOT_FOUND', `object ${digest} was removed while read`);
      if (h.update(r.data).digest('hex') !== digest) throw mismatch(digest, 'digest differs');
      yield r.data;
      return;
    }
    // Several chunks per round trip (about READ_BATCH_BYTES): fewer thread hand-offs.
    const per = Math.max(1, Math.floor(READ_BATCH_BYTES / Math.ceil(at.bytes / at.chunks)));
    const batch = this.db.prepare(
      'SELECT idx, data FROM object_chunks WHERE upload = ? AND idx >= ? AND idx < ? ORDER BY idx',
    );
    let held: Buffer | undefined;
    let bytes = 0;
    for (let i = 0; i < at.chunks; ) {
      const rows = batch.all(at.upload, i, Math.min(i + per, at.chunks)) as {
        idx: number;
        data: Buffer;
      }[];
      const end = Math.min(i + per, at.chunks);
      for (const r of rows) {
        if (r.idx !== i) break;
        h.update(r.data);
        bytes += r.data.byteLength;
        if (held) yield held;
        held = r.data;
        i++;
      }
      if (i < end) throw mismatch(digest, `chunk ${i} of ${at.chunks} is missing`);
    }
    if (bytes !== at.bytes) throw mismatch(digest, `${bytes} bytes instead of ${at.bytes}`);
    if (h.digest('hex') !== digest) throw mismatch(digest, 'digest differs');
    if (held) yield held;
  }

  /**
   * True when the database holds the object. A writer calls this before relying on an existing
   * object (`commitVersion` skips storing it), so it also records a lease on it (`object_uses`)
   * that garbage collection honours for its grace period; a read-only role just checks.
   */
  override has(digest: string): boolean {
    this.pathOf(digest);
    const exists = () => (this.db.prepare(EXISTS_SQL).get(digest, digest) as { x: boolean }).x;
    try {
      return this.db.transaction(() => {
        const found = exists();
        if (found) this.db.prepare('INSERT INTO object_uses (digest) VALUES (?)').run(digest);
        return found;
      });
    } catch (e) {
      if (e instanceof AntidoteError && e.code === 'PERMISSION_DENIED') return exists();
      throw e;
    }
  }

  override async putBytes(data: Uint8Array): Promise<string> {
    if (data.byteLength > PG_OBJECT_MAX_BYTES) {
      const step = this.chunkBytes;
      async function* parts() {
        for (let o = 0; o < data.byteLength; o += step) yield data.subarray(o, o + step);
      }
      return this.upload(parts());
    }
    const digest = createHash('sha256').update(data).digest('hex');
    this.db.transaction(() => {
      this.db
        .prepare('INSERT INTO objects (digest, data) VALUES (?, ?) ON CONFLICT (digest) DO NOTHING')
        .run(digest, data);
      this.db.prepare('INSERT INTO object_uses (digest) VALUES (?)').run(digest);
    });
    return digest;
  }

  override get inCatalogue(): boolean {
    return true;
  }

  /**
   * Stores byte strings of up to {@link PG_OBJECT_MAX_BYTES} each, one row each with its lease
   * (as {@link putBytes}), in one transaction, or in the caller's (a savepoint of it): a
   * registration stores its model's small files and manifest in the transaction that records
   * the version, so it commits once. Every write to the catalogue takes its lock
   * (`PgSqlDatabase.transaction`), so a separate transaction per object was one more
   * serialised commit per registration (4 clients: 266 → 121–149 registrations/s). Returns the
   * digests in order.
   */
  override putAllBytesSync(items: readonly Uint8Array[]): string[] {
    for (const data of items) {
      if (data.byteLength > PG_OBJECT_MAX_BYTES) {
        throw new AntidoteError(
          'INVALID_ARGUMENT',
          `an object of ${data.byteLength} bytes is stored in chunks (putBytes), not in one row`,
        );
      }
    }
    const digests = items.map((data) => createHash('sha256').update(data).digest('hex'));
    if (items.length === 0) return digests;
    this.db.transaction(() => {
      const insert = this.db.prepare(
        'INSERT INTO objects (digest, data) VALUES (?, ?) ON CONFLICT (digest) DO NOTHING',
      );
      const lease = this.db.prepare('INSERT INTO object_uses (digest) VALUES (?)');
      for (const [i, data] of items.entries()) {
        insert.run(digests[i]!, data);
        lease.run(digests[i]!);
      }
    });
    return digests;
  }

  /** {@link putAllBytesSync} for the small ones, {@link putBytes} (chunked) for the others. */
  override async putAllBytes(items: readonly Uint8Array[]): Promise<string[]> {
    const out: string[] = items.map(() => '');
    const small: number[] = [];
    for (const [i, data] of items.entries()) {
      if (data.byteLength > PG_OBJECT_MAX_BYTES) out[i] = await this.putBytes(data);
      else small.push(i);
    }
    const digests = this.putAllBytesSync(small.map((i) => items[i]!));
    for (const [j, i] of small.entries()) out[i] = digests[j]!;
    return out;
  }

  /**
   * Stores a file: up to {@link PG_OBJECT_MAX_BYTES} as one row, else streamed chunk by chunk
   * (one chunk in memory). With `expected`, a file whose content differs fails with
   * `INTEGRITY_MISMATCH` and stores nothing, and an object already held is not uploaded again.
   */
  override async putFile(path: string, expected?: string): Promise<string> {
    const size = await stat(path).then(
      (s) => s.size,
      (e: Error) => {
        throw new AntidoteError('NOT_FOUND', `cannot open ${path}: ${e.message}`, { path });
      },
    );
    const changed = () =>
      new AntidoteError('INTEGRITY_MISMATCH', `${path} changed while it was being committed`, {
        path,
      });
    if (size <= PG_OBJECT_MAX_BYTES) {
      const data = await readFile(path);
      if (expected && createHash('sha256').update(data).digest('hex') !== expected) throw changed();
      return this.putBytes(data);
    }
    if (expected && this.has(expected)) return expected;
    const fh = await open(path, 'r').catch((e: Error) => {
      throw new AntidoteError('NOT_FOUND', `cannot open ${path}: ${e.message}`, { path });
    });
    const step = this.chunkBytes;
    async function* parts() {
      // One buffer, reused: each chunk is copied into the statement before the next read.
      const buf = Buffer.allocUnsafe(step);
      for (;;) {
        let filled = 0;
        while (filled < step) {
          const { bytesRead } = await fh.read(buf, filled, step - filled, null);
          if (bytesRead === 0) break;
          filled += bytesRead;
        }
        if (filled === 0) return;
        yield buf.subarray(0, filled);
        if (filled < step) return;
      }
    }
    try {
      const digest = await this.upload(parts(), expected);
      return digest;
    } catch (e) {
      if (e instanceof AntidoteError && e.code === 'INTEGRITY_MISMATCH') throw changed();
      if (e instanceof AntidoteError) throw e;
      throw new AntidoteError('IO_ERROR', `cannot store ${path}: ${(e as Error).message}`, {
        path,
      });
    } finally {
      await fh.close();
    }
  }

  /**
   * Streams `parts` into `object_chunks` under a fresh upload id, then publishes the object in a
   * serialised transaction that first checks every chunk is still there. Returns the digest.
   */
  private async upload(parts: AsyncIterable<Uint8Array>, expected?: string): Promise<string> {
    const upload = randomBytes(16).toString('hex');
    const insert = this.db.prepare(
      'INSERT INTO object_chunks (upload, idx, data) VALUES (?, ?, ?)',
    );
    const h = createHash('sha256');
    let chunks = 0;
    let bytes = 0;
    let digest: string;
    try {
      for await (const part of parts) {
        h.update(part);
        insert.run(upload, chunks++, part);
        bytes += part.byteLength;
      }
      digest = h.digest('hex');
      if (expected && digest !== expected) throw mismatch(expected, 'the content differs');
    } catch (e) {
      this.discard(upload);
      throw e;
    }
    const published = this.db.transaction(() => {
      const have = this.db
        .prepare(
          'SELECT COUNT(*) AS n, COALESCE(SUM(octet_length(data)), 0) AS b FROM object_chunks WHERE upload = ?',
        )
        .get(upload) as { n: number; b: number };
      if (have.n !== chunks || have.b !== bytes) {
        throw new AntidoteError(
          'INVALID_STATE',
          `the upload of object ${digest} lost chunks while it ran (a garbage collection with a grace period shorter than the upload?): store it again`,
        );
      }
      const r = this.db
        .prepare(
          'INSERT INTO large_objects (digest, upload, bytes, chunks) VALUES (?, ?, ?, ?) ON CONFLICT (digest) DO NOTHING',
        )
        .run(digest, upload, bytes, chunks);
      this.db.prepare('INSERT INTO object_uses (digest) VALUES (?)').run(digest);
      return r.changes > 0;
    });
    // Another writer published the same content first: ours is a duplicate.
    if (!published) this.discard(upload);
    return digest;
  }

  /** Removes an unpublished upload's chunks when the role may; else `dataset gc` will. */
  private discard(upload: string): void {
    try {
      this.db.prepare('DELETE FROM object_chunks WHERE upload = ?').run(upload);
    } catch {
      // A write role may not delete: the chunks are garbage for `dataset gc`.
    }
  }

  /**
   * Reads an object synchronously, checking its digest: from the database, else from the local
   * folder of earlier releases; undefined when neither holds it. For garbage collection, which
   * reads manifests inside its transaction.
   */
  readSync(digest: string): Buffer | undefined {
    const at = this.locate(digest);
    if (at) return Buffer.concat([...this.pieces(digest, at)]);
    let data: Buffer;
    try {
      data = readFileSync(this.pathOf(digest));
    } catch {
      return undefined;
    }
    if (createHash('sha256').update(data).digest('hex') !== digest) {
      throw mismatch(digest, 'digest differs');
    }
    return data;
  }

  override async readBytes(digest: string): Promise<Buffer> {
    const at = this.locate(digest);
    if (!at) return super.readBytes(digest);
    return Buffer.concat([...this.pieces(digest, at)]);
  }

  /**
   * The object's bytes as a stream of chunks, digest-checked: a corrupted object fails with
   * `INTEGRITY_MISMATCH` before its last chunk is yielded. Objects only in the local folder are
   * read from there (in one piece).
   */
  async *stream(digest: string): AsyncGenerator<Buffer> {
    const at = this.locate(digest);
    if (!at) {
      yield await super.readBytes(digest);
      return;
    }
    yield* this.pieces(digest, at);
  }

  /** Copies an object to `dst` chunk by chunk, checking its digest; `dst` is removed on failure. */
  override async copyOut(digest: string, dst: string): Promise<void> {
    const at = this.locate(digest);
    if (!at) return super.copyOut(digest, dst);
    const out = await open(dst, 'wx', 0o644);
    try {
      for (const piece of this.pieces(digest, at)) await out.write(piece);
    } catch (e) {
      await out.close();
      await rm(dst, { force: true });
      throw e;
    }
    await out.close();
  }
}
