import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { AntidoteError } from '../errors.js';
import { isSha256Hex } from './hash.js';

/**
 * A content-addressed object store (as in Git): each object lives at
 * `ROOT/sha256/ab/cdef…` named by the SHA-256 of its bytes, written once (temp file + rename)
 * and made read-only. Reading re-hashes, so a corrupted object is caught and named.
 */
export class ObjectStore {
  /** @param root the folder holding `sha256/` (e.g. `.antidote/objects`). */
  constructor(readonly root: string) {}

  /** Path of the object with `digest`. */
  pathOf(digest: string): string {
    if (!isSha256Hex(digest)) {
      throw new AntidoteError('INVALID_ARGUMENT', `"${digest}" is not a SHA-256 hex digest`);
    }
    return join(this.root, 'sha256', digest.slice(0, 2), digest.slice(2));
  }

  /** True when the object is present. */
  has(digest: string): boolean {
    return existsSync(this.pathOf(digest));
  }

  private async commit(tmp: string, digest: string): Promise<void> {
    const dst = this.pathOf(digest);
    if (existsSync(dst)) {
      await rm(tmp, { force: true });
      return;
    }
    await mkdir(join(this.root, 'sha256', digest.slice(0, 2)), { recursive: true });
    await chmod(tmp, 0o444);
    await rename(tmp, dst);
  }

  private async tempFile(): Promise<string> {
    const dir = join(this.root, 'tmp');
    await mkdir(dir, { recursive: true });
    return join(dir, `${randomBytes(8).toString('hex')}.tmp`);
  }

  /** Stores bytes; returns their digest. */
  async putBytes(data: Uint8Array): Promise<string> {
    const digest = createHash('sha256').update(data).digest('hex');
    if (this.has(digest)) return digest;
    const tmp = await this.tempFile();
    const fh = await open(tmp, 'wx', 0o644);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await this.commit(tmp, digest);
    return digest;
  }

  /**
   * Whether {@link putAllBytesSync} stores objects in the catalogue's own database, inside the
   * caller's write transaction (PostgreSQL's `PgObjectStore`). False here: objects are files.
   */
  get inCatalogue(): boolean {
    return false;
  }

  /**
   * Stores small byte strings synchronously, in the catalogue's current write transaction;
   * returns their digests in order. Only where {@link inCatalogue}: throws `INVALID_STATE` here.
   */
  putAllBytesSync(_items: readonly Uint8Array[]): string[] {
    throw new AntidoteError(
      'INVALID_STATE',
      'this object store keeps its objects in files, not in the catalogue',
    );
  }

  /**
   * Stores several byte strings, each held in memory; returns their digests in order. Here one
   * by one ({@link putBytes}); a store in a database writes them in one transaction (one commit
   * for a model's small files and its manifest: `PgObjectStore`).
   */
  async putAllBytes(items: readonly Uint8Array[]): Promise<string[]> {
    const out: string[] = [];
    for (const data of items) out.push(await this.putBytes(data));
    return out;
  }

  /**
   * Copies a file into the store while hashing it (bounded memory). When `expected` is given and
   * the content differs (the file changed since it was hashed), fails with `INTEGRITY_MISMATCH`.
   */
  async putFile(path: string, expected?: string): Promise<string> {
    const tmp = await this.tempFile();
    const src = await open(path, 'r').catch((e) => {
      throw new AntidoteError('NOT_FOUND', `cannot open ${path}: ${(e as Error).message}`, {
        path,
      });
    });
    const out = await open(tmp, 'wx', 0o644);
    const h = createHash('sha256');
    const buf = Buffer.allocUnsafe(4 * 1024 * 1024);
    try {
      for (;;) {
        const { bytesRead } = await src.read(buf, 0, buf.length, null);
        if (bytesRead === 0) break;
        const part = buf.subarray(0, bytesRead);
        h.update(part);
        await out.write(part);
      }
      await out.sync();
    } catch (e) {
      await rm(tmp, { force: true });
      throw new AntidoteError('IO_ERROR', `cannot store ${path}: ${(e as Error).message}`, {
        path,
      });
    } finally {
      await src.close();
      await out.close();
    }
    const digest = h.digest('hex');
    if (expected && digest !== expected) {
      await rm(tmp, { force: true });
      throw new AntidoteError(
        'INTEGRITY_MISMATCH',
        `${path} changed while it was being committed`,
        { path },
      );
    }
    await this.commit(tmp, digest);
    return digest;
  }

  /** Reads an object, checking its digest. */
  async readBytes(digest: string): Promise<Buffer> {
    const p = this.pathOf(digest);
    const { readFile } = await import('node:fs/promises');
    let data: Buffer;
    try {
      data = await readFile(p);
    } catch {
      throw new AntidoteError('NOT_FOUND', `object ${digest} is not in the store`, { path: p });
    }
    if (createHash('sha256').update(data).digest('hex') !== digest) {
      throw new AntidoteError('INTEGRITY_MISMATCH', `object ${digest} is corrupted`, { path: p });
    }
    return data;
  }

  /** Copies an object to `dst` (bounded memory), checking its digest; `dst` is removed on mismatch. */
  async copyOut(digest: string, dst: string): Promise<void> {
    const p = this.pathOf(digest);
    const src = await open(p, 'r').catch(() => {
      throw new AntidoteError('NOT_FOUND', `object ${digest} is not in the store`, { path: p });
    });
    const out = await open(dst, 'wx', 0o644);
    const h = createHash('sha256');
    const buf = Buffer.allocUnsafe(4 * 1024 * 1024);
    try {
      for (;;) {
        const { bytesRead } = await src.read(buf, 0, buf.length, null);
        if (bytesRead === 0) break;
        const part = buf.subarray(0, bytesRead);
        h.update(part);
        await out.write(part);
      }
    } finally {
      await src.close();
      await out.close();
    }
    if (h.digest('hex') !== digest) {
      await rm(dst, { force: true });
      throw new AntidoteError('INTEGRITY_MISMATCH', `object ${digest} is corrupted`, { path: p });
    }
  }

  /**
   * Every stored object (digest, size, modification time) and every leftover temporary file of
   * an interrupted write (under `tmp/`, `digest` undefined): what {@link collectGarbage} sweeps.
   */
  async inventory(): Promise<{ path: string; digest?: string; bytes: number; mtimeMs: number }[]> {
    const out: { path: string; digest?: string; bytes: number; mtimeMs: number }[] = [];
    const list = async (dir: string): Promise<string[]> => readdir(dir).catch(() => []);
    const add = async (path: string, digest?: string) => {
      const st = await stat(path).catch(() => undefined);
      if (st?.isFile()) {
        out.push({ path, ...(digest ? { digest } : {}), bytes: st.size, mtimeMs: st.mtimeMs });
      }
    };
    const base = join(this.root, 'sha256');
    for (const prefix of await list(base)) {
      for (const rest of await list(join(base, prefix))) {
        const digest = prefix + rest;
        if (isSha256Hex(digest)) await add(join(base, prefix, rest), digest);
      }
    }
    for (const t of await list(join(this.root, 'tmp'))) await add(join(this.root, 'tmp', t));
    return out;
  }

  /** Removes a file {@link inventory} listed (an unreferenced object or a leftover temporary). */
  async remove(path: string): Promise<void> {
    await rm(path, { force: true });
  }
}
