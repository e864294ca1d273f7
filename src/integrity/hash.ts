import { createHash, timingSafeEqual } from 'node:crypto';
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { AntidoteError } from '../errors.js';
import { openFile } from '../util/fs.js';

/** Hex SHA-256 of a byte string (or UTF-8 text). */
export function sha256Hex(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Raw SHA-256 of the concatenation of `parts`. */
export function sha256Bytes(...parts: Uint8Array[]): Buffer {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
}

/** True when `s` is a 64-character lowercase hex SHA-256 digest. */
export function isSha256Hex(s: unknown): s is string {
  return typeof s === 'string' && /^[0-9a-f]{64}$/.test(s);
}

/** Constant-time equality of two hex digests (false when lengths differ). */
export function digestEquals(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Options for {@link sha256File}. */
export interface HashFileOptions {
  /** Read buffer size in bytes (bounded memory); default 4 MiB. */
  readonly bufferSize?: number;
  /** Called after each block with the bytes hashed so far. */
  readonly onProgress?: (bytesDone: number) => void;
}

/** Result of {@link sha256File}. */
export interface FileDigest {
  /** Lowercase hex SHA-256. */
  readonly digest: string;
  /** File size in bytes. */
  readonly size: number;
}

/** Files up to this size are hashed by {@link smallFileDigest}. */
const SMALL_FILE_BYTES = 256 * 1024;

/**
 * The digest of a regular file of at most {@link SMALL_FILE_BYTES}, read whole with synchronous
 * calls: no buffer of `bufferSize` per file, and no asynchronous round trip per call (a model
 * folder's or an image dataset's many small files: 4 asynchronous calls and a 4 MiB buffer each
 * made a one-file model's manifest cost about 1.5 ms). `undefined` for a larger file, one that
 * grows while it is read, or any failure: the streaming path then hashes it, or names the error.
 */
function smallFileDigest(path: string, options: HashFileOptions): FileDigest | undefined {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return undefined;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile() || st.size > SMALL_FILE_BYTES) return undefined;
    const buf = Buffer.allocUnsafe(st.size + 1);
    let total = 0;
    for (;;) {
      const n = readSync(fd, buf, total, buf.length - total, null);
      if (n === 0) break;
      total += n;
      if (total === buf.length) return undefined; // it grew: stream it
    }
    if (total > 0) options.onProgress?.(total);
    return { digest: sha256Hex(buf.subarray(0, total)), size: total };
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/**
 * Streams a file through SHA-256 with one reusable buffer, so memory stays at `bufferSize`
 * whatever the file size. Fails with `NOT_FOUND` or `IO_ERROR` naming the path.
 */
export async function sha256File(path: string, options: HashFileOptions = {}): Promise<FileDigest> {
  const small = smallFileDigest(path, options);
  if (small) return small;
  const size = options.bufferSize ?? 4 * 1024 * 1024;
  const fh = await openFile(path, 'r');
  const h = createHash('sha256');
  const buf = Buffer.allocUnsafe(size);
  let total = 0;
  try {
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, size, null);
      if (bytesRead === 0) break;
      h.update(bytesRead === size ? buf : buf.subarray(0, bytesRead));
      total += bytesRead;
      options.onProgress?.(total);
    }
  } catch (e) {
    throw new AntidoteError(
      'IO_ERROR',
      `cannot read ${path}: ${(e as Error).message}`,
      { path },
      {
        cause: e,
      },
    );
  } finally {
    await fh.close();
  }
  return { digest: h.digest('hex'), size: total };
}
