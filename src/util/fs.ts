import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { AntidoteError } from '../errors.js';

/** A sibling temporary path for `target`, in the same directory so `rename` is atomic. */
export function tempPathFor(target: string): string {
  return join(dirname(target), `.${basename(target)}.${randomBytes(6).toString('hex')}.tmp`);
}

/**
 * Writes `data` to `path` atomically: to a temporary sibling first, then renamed over the target,
 * so a reader never sees a partial file and a failure leaves nothing behind.
 */
export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  options: { mode?: number } = {},
): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = tempPathFor(path);
  try {
    await writeFile(tmp, data, { mode: options.mode ?? 0o644, flag: 'wx' });
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw new AntidoteError(
      'IO_ERROR',
      `cannot write ${path}: ${(e as Error).message}`,
      { path },
      { cause: e },
    );
  }
}

/**
 * Builds a directory atomically: `fill` writes into a temporary sibling directory, which is renamed
 * to `dir` only when `fill` succeeds. An existing `dir` is replaced only when `overwrite` is true.
 * On failure nothing is left behind.
 */
export async function writeDirAtomic(
  dir: string,
  fill: (tmpDir: string) => Promise<void>,
  options: { overwrite?: boolean } = {},
): Promise<void> {
  const { existsSync } = await import('node:fs');
  if (existsSync(dir) && !options.overwrite) {
    throw new AntidoteError(
      'ALREADY_EXISTS',
      `${dir} already exists; refusing to replace it (choose another path, or allow overwriting)`,
      { path: dir },
    );
  }
  await mkdir(dirname(dir), { recursive: true });
  const tmp = tempPathFor(dir);
  await mkdir(tmp, { recursive: true });
  try {
    await fill(tmp);
    if (existsSync(dir)) {
      const old = tempPathFor(dir);
      await rename(dir, old);
      await rename(tmp, dir);
      await rm(old, { recursive: true, force: true });
    } else {
      await rename(tmp, dir);
    }
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
}
