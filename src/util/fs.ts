/**
 * File-system helpers with Antidote's error contract: a missing file is `NOT_FOUND`, any other
 * failure `IO_ERROR` (or the code the caller names), always naming the path; writes are atomic.
 */
import { randomBytes } from 'node:crypto';
import { constants, type Dirent, existsSync, type Stats } from 'node:fs';
import {
  type FileHandle,
  mkdir,
  open,
  readdir,
  rename,
  rm,
  stat,
  writeFile,
} from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { AntidoteError, type AntidoteErrorCode } from '../errors.js';
import { checkDepth, checkLimit } from './limits.js';

/** True when `e` is a file-system error saying the path does not exist (`ENOENT`). */
export function isMissingFileError(e: unknown): boolean {
  return (e as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}

/** How a failed file-system call is reported (see {@link fsError}). */
export interface FsFailure {
  /**
   * The message, given the underlying error (missing file included). Default: "PATH does not
   * exist" for a missing file, "cannot read PATH: REASON" otherwise.
   */
  readonly message?: (cause: Error) => string;
  /** The code of a failure other than a missing file (default `IO_ERROR`). */
  readonly code?: AntidoteErrorCode;
}

/**
 * The {@link AntidoteError} for a failed file-system call on `path`: `NOT_FOUND` when the path
 * does not exist, else `failure.code` (default `IO_ERROR`); `{ path }` as details, `e` as cause.
 */
export function fsError(e: unknown, path: string, failure: FsFailure = {}): AntidoteError {
  const missing = isMissingFileError(e);
  const cause = e instanceof Error ? e : new Error(String(e));
  const message = failure.message
    ? failure.message(cause)
    : missing
      ? `${path} does not exist`
      : `cannot read ${path}: ${cause.message}`;
  return new AntidoteError(
    missing ? 'NOT_FOUND' : (failure.code ?? 'IO_ERROR'),
    message,
    { path },
    { cause: e },
  );
}

/** What a non-regular file is, for messages. */
function fileKind(st: Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

/**
 * Reads a whole file; a missing file is `NOT_FOUND`, any other failure `IO_ERROR`. Only regular
 * files are read (a symbolic link is followed to one): a FIFO, a device such as `/dev/zero` or a
 * socket is `IO_ERROR` at once, never a read that blocks or never ends (it is opened
 * non-blocking and checked before any byte is read). A file larger than the `maxFileBytes`
 * decode limit is `LIMIT_EXCEEDED`; at most the size it had when opened is read.
 */
export async function readBytes(
  path: string,
  failure?: FsFailure,
): Promise<Uint8Array<ArrayBuffer>> {
  let fh: FileHandle;
  try {
    fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    throw fsError(e, path, failure);
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) {
      throw new AntidoteError(
        failure?.code ?? 'IO_ERROR',
        `cannot read ${path}: it is ${fileKind(st)}, not a regular file`,
        { path },
      );
    }
    checkLimit('maxFileBytes', st.size, 'bytes', path);
    const out = new Uint8Array(st.size);
    let at = 0;
    while (at < out.length) {
      const { bytesRead } = await fh.read(out, at, out.length - at, at);
      if (bytesRead === 0) break;
      at += bytesRead;
    }
    return at === out.length ? out : out.slice(0, at);
  } catch (e) {
    if (e instanceof AntidoteError) throw e;
    throw fsError(e, path, failure);
  } finally {
    await fh.close();
  }
}

/** Reads a UTF-8 text file; errors and limits as {@link readBytes}. */
export async function readText(path: string, failure?: FsFailure): Promise<string> {
  return Buffer.from((await readBytes(path, failure)).buffer).toString('utf8');
}

/** Options of {@link readJson}. */
export interface ReadJsonOptions extends FsFailure {
  /** Refuse a file larger than this (`INVALID_FORMAT` "PATH is larger than N bytes"). */
  readonly maxBytes?: number;
}

/**
 * Reads and parses a JSON file without checking what it holds. A missing file is `NOT_FOUND`;
 * an unreadable file or malformed JSON is `options.code` (default `INVALID_FORMAT`), with the
 * message `options.message` gives (default "cannot read PATH: REASON").
 */
export async function readJson(path: string, options: ReadJsonOptions = {}): Promise<unknown> {
  if (options.maxBytes !== undefined) {
    const size = (await stat(path).catch(() => undefined))?.size ?? 0;
    if (size > options.maxBytes) {
      throw new AntidoteError(
        'INVALID_FORMAT',
        `${path} is larger than ${options.maxBytes} bytes`,
        {
          path,
        },
      );
    }
  }
  const failure = {
    code: options.code ?? 'INVALID_FORMAT',
    message: options.message ?? ((c: Error) => `cannot read ${path}: ${c.message}`),
  };
  const text = await readText(path, failure);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw fsError(e, path, failure);
  }
  checkDepth(value, path);
  return value;
}

/**
 * Lists a directory (with file types); a missing directory is `NOT_FOUND` ("DIR does not
 * exist"), any other failure `IO_ERROR` ("cannot list DIR: REASON") unless `failure` says otherwise.
 */
export async function readDirEntries(dir: string, failure: FsFailure = {}): Promise<Dirent[]> {
  try {
    return await readdir(dir, { withFileTypes: true });
  } catch (e) {
    throw fsError(e, dir, {
      code: failure.code,
      message:
        failure.message ??
        ((c) =>
          isMissingFileError(e) ? `${dir} does not exist` : `cannot list ${dir}: ${c.message}`),
    });
  }
}

/**
 * Opens a file (`flags` and `mode` as `fs.open`); a missing file is `NOT_FOUND`, any other failure
 * `IO_ERROR`, both "cannot open PATH: REASON".
 */
export async function openFile(path: string, flags: string, mode?: number): Promise<FileHandle> {
  try {
    return await open(path, flags, mode);
  } catch (e) {
    throw fsError(e, path, { message: (c) => `cannot open ${path}: ${c.message}` });
  }
}

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
 * Throws `ALREADY_EXISTS` when `path` exists and may not be replaced: a command calls it before
 * its work, so a long scan or sweep does not end in a refusal to write its result.
 */
export function refuseExistingOutput(
  path: string,
  overwrite: boolean | undefined,
  hint = 'choose another path, or --force',
): void {
  if (!overwrite && existsSync(path)) {
    throw new AntidoteError(
      'ALREADY_EXISTS',
      `${path} already exists; refusing to replace it (${hint})`,
      { path },
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
  refuseExistingOutput(dir, options.overwrite, 'choose another path, or allow overwriting');
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
