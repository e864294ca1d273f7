import { createHash, timingSafeEqual } from 'node:crypto';
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

/**
 * Streams a file through SHA-256 with one reusable buffer, so memory stays at `bufferSize`
 * whatever the file size. Fails with `NOT_FOUND` or `IO_ERROR` naming the path.
 */
export async function sha256File(path: string, options: HashFileOptions = {}): Promise<FileDigest> {
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
