import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  randomBytes,
  timingSafeEqual,
} from 'node:crypto';
import { existsSync, rmSync } from 'node:fs';
import { link, type open, readdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { AntidoteError } from '../errors.js';
import { openFile, readBytes, tempPathFor, writeFileAtomic } from '../util/fs.js';

/**
 * Encryption at rest: AES-256-GCM (NIST SP 800-38D) in authenticated chunks, in the spirit of
 * the STREAM construction (Hoang, Reyhanitabar, Rogaway & Vizár 2015, "Online
 * Authenticated-Encryption and its Nonce-Reuse Misuse-Resistance").
 *
 * File layout (big-endian integers):
 *
 * ```
 * fixed header  (24 B): magic "ANTDENC1" | version u8 = 1 | 3 zero bytes | chunkSize u32 | noncePrefix 8 B
 * key block     (76 B): kekId 16 B | wrapNonce 12 B | wrapped data key 32 B | wrap tag 16 B
 * chunk i           : ciphertext (chunkSize bytes, the last one ≤ chunkSize) | GCM tag 16 B
 * ```
 *
 * Each file has its own random 256-bit data key, wrapped (AES-256-GCM) by a key-encryption key
 * (KEK). Chunk i uses nonce `noncePrefix || u32(i)` and AAD `fixed header || u64(i) || final`
 * (final = 1 only on the last chunk), so reordering, dropping, duplicating, truncating or
 * extending chunks fails authentication. Rotating the KEK rewrites only the key block.
 */

const MAGIC = Buffer.from('ANTDENC1', 'ascii');
const VERSION = 1;
const FIXED_SIZE = 24;
const KEY_BLOCK_SIZE = 76;
/** Size of the header (fixed part + key block) in bytes. */
export const HEADER_SIZE = FIXED_SIZE + KEY_BLOCK_SIZE;
const TAG = 16;
/** Default plaintext chunk size: 1 MiB. */
export const DEFAULT_CHUNK_SIZE = 1024 * 1024;
const MAX_CHUNK_SIZE = 64 * 1024 * 1024;

/** Options for {@link encryptFile}. */
export interface EncryptOptions {
  /** Plaintext bytes per chunk; default 1 MiB. */
  readonly chunkSize?: number;
  /** Called with the bytes processed so far. */
  readonly onProgress?: (bytesDone: number) => void;
}

function fail(message: string, path?: string, extra: Record<string, unknown> = {}): never {
  throw new AntidoteError('DECRYPTION_FAILED', message, { ...(path ? { path } : {}), ...extra });
}

/** A key-encryption key: exactly 32 secret bytes. */
export type Kek = Buffer;

/** A fresh random 256-bit key-encryption key. */
export function generateKek(): Kek {
  return randomBytes(32);
}

/** The public identifier of a KEK (16 bytes of HMAC-SHA256; reveals nothing about the key). */
export function kekId(kek: Kek): Buffer {
  return createHmac('sha256', kek).update('antidote/kek-id/v1').digest().subarray(0, 16);
}

/**
 * Parses a KEK from text (64 hex digits or base64 of 32 bytes, whitespace trimmed) or raw 32
 * bytes. Never includes key material in its errors.
 */
export function parseKek(data: string | Uint8Array, where: string): Kek {
  if (typeof data !== 'string' && data.length === 32) return Buffer.from(data);
  const text = (typeof data === 'string' ? data : Buffer.from(data).toString('utf8')).trim();
  if (/^[0-9a-fA-F]{64}$/.test(text)) return Buffer.from(text, 'hex');
  if (/^[A-Za-z0-9+/]{43}=$/.test(text)) {
    const b = Buffer.from(text, 'base64');
    if (b.length === 32) return b;
  }
  throw new AntidoteError(
    'INVALID_FORMAT',
    `${where} does not hold a 256-bit key (32 raw bytes, 64 hex digits or base64)`,
    { path: where },
  );
}

/** Reads a KEK from a key file. */
export async function loadKekFile(path: string): Promise<Kek> {
  const data = await readBytes(path, { message: () => `cannot read key file ${path}` });
  return parseKek(data, path);
}

/** Reads a KEK from an environment variable (of the given environment). */
export function kekFromEnv(name: string, env: NodeJS.ProcessEnv): Kek {
  const v = env[name];
  if (!v) throw new AntidoteError('NOT_FOUND', `environment variable ${name} is not set`);
  return parseKek(v, `environment variable ${name}`);
}

/** Writes a new KEK file (base64, mode 0600); refuses to overwrite. */
export async function writeKekFile(path: string, kek: Kek): Promise<void> {
  const { existsSync } = await import('node:fs');
  if (existsSync(path)) {
    throw new AntidoteError('ALREADY_EXISTS', `${path} already exists`, { path });
  }
  await writeFileAtomic(path, `${kek.toString('base64')}\n`, { mode: 0o600 });
}

function checkKek(kek: Kek): void {
  if (!Buffer.isBuffer(kek) || kek.length !== 32) {
    throw new AntidoteError('INVALID_ARGUMENT', 'a key-encryption key must be 32 bytes');
  }
}

function wrapAad(fixed: Buffer, id: Buffer): Buffer {
  return Buffer.concat([fixed, id, Buffer.from('antidote/dek-wrap/v1', 'ascii')]);
}

function wrapKey(fixed: Buffer, dek: Buffer, kek: Kek): Buffer {
  const id = kekId(kek);
  const nonce = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', kek, nonce);
  c.setAAD(wrapAad(fixed, id));
  const wrapped = Buffer.concat([c.update(dek), c.final()]);
  return Buffer.concat([id, nonce, wrapped, c.getAuthTag()]);
}

function unwrapKey(fixed: Buffer, block: Buffer, kek: Kek, where: string): Buffer {
  const id = block.subarray(0, 16);
  const expected = kekId(kek);
  if (!timingSafeEqual(id, expected)) {
    fail(
      `${where} was encrypted under another key (key id ${id.toString('hex')}, given ${expected.toString('hex')})`,
      where,
    );
  }
  const d = createDecipheriv('aes-256-gcm', kek, block.subarray(16, 28));
  d.setAAD(wrapAad(fixed, id));
  d.setAuthTag(block.subarray(60, 76));
  try {
    return Buffer.concat([d.update(block.subarray(28, 60)), d.final()]);
  } catch {
    return fail(
      `${where}: the wrapped data key does not authenticate (wrong key or tampered header)`,
      where,
    );
  }
}

function chunkNonce(prefix: Buffer, i: number): Buffer {
  const n = Buffer.alloc(12);
  prefix.copy(n, 0, 0, 8);
  n.writeUInt32BE(i, 8);
  return n;
}

function chunkAad(fixed: Buffer, i: number, final: boolean): Buffer {
  const a = Buffer.alloc(FIXED_SIZE + 9);
  fixed.copy(a, 0);
  a.writeBigUInt64BE(BigInt(i), FIXED_SIZE);
  a[FIXED_SIZE + 8] = final ? 1 : 0;
  return a;
}

function parseFixed(fixed: Buffer, where: string): { chunkSize: number; prefix: Buffer } {
  if (fixed.length < FIXED_SIZE || !fixed.subarray(0, 8).equals(MAGIC)) {
    throw new AntidoteError('INVALID_FORMAT', `${where} is not an Antidote encrypted file`, {
      path: where,
    });
  }
  if (fixed[8] !== VERSION) {
    throw new AntidoteError(
      'INVALID_FORMAT',
      `${where} has unsupported format version ${fixed[8]}`,
      {
        path: where,
      },
    );
  }
  const chunkSize = fixed.readUInt32BE(12);
  if (chunkSize < 1 || chunkSize > MAX_CHUNK_SIZE) {
    fail(`${where} declares an invalid chunk size ${chunkSize}`, where);
  }
  return { chunkSize, prefix: fixed.subarray(16, 24) };
}

type Handle = Awaited<ReturnType<typeof open>>;

async function readFull(fh: Handle, buf: Buffer, len: number, pos: number): Promise<number> {
  let got = 0;
  while (got < len) {
    const { bytesRead } = await fh.read(buf, got, len - got, pos + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return got;
}

/** Chunks in flight at once: reads, cipher work and writes of different chunks overlap. */
const PIPELINE_DEPTH = 4;

/**
 * Runs `work(i, slot)` for chunks `0 … count-1` with at most `depth` chunks in flight; slot
 * `s` handles chunks `s, s + depth, …` in order, so each slot can own one reusable buffer.
 * Waits for every slot to settle before returning and rethrows the error of the lowest chunk
 * index, so failures are reported deterministically and no I/O is left running.
 */
async function forEachChunk(
  count: number,
  depth: number,
  work: (i: number, slot: number) => Promise<void>,
): Promise<void> {
  let firstBad = Number.POSITIVE_INFINITY;
  let firstError: unknown;
  const slot = async (s: number): Promise<void> => {
    for (let i = s; i < count && i < firstBad; i += depth) {
      try {
        await work(i, s);
      } catch (e) {
        if (i < firstBad) {
          firstBad = i;
          firstError = e;
        }
        return;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(depth, count) }, (_, s) => slot(s)));
  if (firstError !== undefined) throw firstError;
}

/**
 * Temporary plaintext files of decryptions in progress in this process (see
 * {@link removePlaintextTempsSync}).
 */
const activePlaintext = new Set<string>();

/** Recognisable names of decrypt temporaries: `.NAME.antidote-decrypt.PID.HEX.tmp`. */
const DECRYPT_TEMP = /^\..+\.antidote-decrypt\.(\d+)\.[0-9a-f]+\.tmp$/;

/** The temporary sibling decrypted plaintext goes to, named after this process. */
function decryptTempPath(dst: string): string {
  return join(
    dirname(dst),
    `.${basename(dst)}.antidote-decrypt.${process.pid}.${randomBytes(6).toString('hex')}.tmp`,
  );
}

/** True when process `pid` is running (or exists under another user). */
function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes the plaintext temporaries of decryptions in progress in this process, synchronously:
 * for a signal handler (`antidote decrypt` calls it on SIGINT / SIGTERM / SIGHUP before exiting),
 * so an interrupted decryption leaves no plaintext behind. Returns the paths removed.
 */
export function removePlaintextTempsSync(): string[] {
  const removed: string[] = [];
  for (const p of activePlaintext) {
    rmSync(p, { force: true });
    removed.push(p);
  }
  activePlaintext.clear();
  return removed;
}

/**
 * Removes the leftovers of decryptions killed before they could clean up (SIGKILL, power loss)
 * in `dir`: temporaries named by {@link decryptFile} whose process is no longer running. Every
 * decryption runs it on its output folder first. Returns the paths removed.
 */
export async function removeStalePlaintextTemps(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const m = DECRYPT_TEMP.exec(name);
    if (!m) continue;
    const path = join(dir, name);
    const pid = Number(m[1]);
    if (activePlaintext.has(path) || (pid !== process.pid && processAlive(pid))) continue;
    await rm(path, { force: true });
    removed.push(path);
  }
  return removed;
}

/** `ALREADY_EXISTS` when `dst` exists and may not be replaced. */
function refuseOverwrite(dst: string, overwrite: boolean | undefined): void {
  if (overwrite === false && existsSync(dst)) {
    throw new AntidoteError('ALREADY_EXISTS', `${dst} exists (use --force to replace it)`, {
      path: dst,
    });
  }
}

/**
 * Moves the complete `tmp` to `dst`: a rename, or, when `dst` may not be replaced, a hard link
 * (which fails atomically when `dst` appeared meanwhile) and the removal of `tmp`.
 */
async function publish(tmp: string, dst: string, overwrite: boolean | undefined): Promise<void> {
  if (overwrite !== false) {
    await rename(tmp, dst);
    return;
  }
  try {
    await link(tmp, dst);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') refuseOverwrite(dst, false);
    throw e;
  }
  await rm(tmp, { force: true });
}

/** Options of {@link encryptFile} and {@link decryptFile} about the destination. */
export interface DestinationOptions {
  /** Replace an existing destination (default true); false: `ALREADY_EXISTS` instead. */
  readonly overwrite?: boolean;
}

/**
 * Encrypts `src` to `dst` (written to a temporary sibling, fsynced, renamed when complete) under
 * a fresh data key wrapped by `kek`. Chunks are read, encrypted and written in a pipeline of
 * {@link PIPELINE_DEPTH} chunks at known offsets, so memory stays at a few chunks.
 */
export async function encryptFile(
  src: string,
  dst: string,
  kek: Kek,
  options: EncryptOptions & DestinationOptions = {},
): Promise<{ bytes: number; chunks: number }> {
  checkKek(kek);
  refuseOverwrite(dst, options.overwrite);
  const chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
  if (!Number.isInteger(chunkSize) || chunkSize < 1 || chunkSize > MAX_CHUNK_SIZE) {
    throw new AntidoteError('INVALID_ARGUMENT', `chunk size must be in [1, ${MAX_CHUNK_SIZE}]`);
  }
  const fixed = Buffer.alloc(FIXED_SIZE);
  MAGIC.copy(fixed, 0);
  fixed[8] = VERSION;
  fixed.writeUInt32BE(chunkSize, 12);
  const prefix = randomBytes(8);
  prefix.copy(fixed, 16);
  const dek = randomBytes(32);
  const header = Buffer.concat([fixed, wrapKey(fixed, dek, kek)]);

  const input = await openFile(src, 'r');
  const tmp = tempPathFor(dst);
  let output: Handle | undefined;
  try {
    const size = (await input.stat()).size;
    const chunks = Math.max(1, Math.ceil(size / chunkSize));
    if (chunks > 2 ** 32) {
      throw new AntidoteError('INVALID_ARGUMENT', `${src} is too large to encrypt`, { path: src });
    }
    const out = await openFile(tmp, 'wx', 0o600);
    output = out;
    await out.write(header, 0, header.length, 0);
    const depth = Math.min(PIPELINE_DEPTH, chunks);
    const bufs = Array.from({ length: depth }, () => Buffer.allocUnsafe(Math.min(chunkSize, size)));
    let done = 0;
    await forEachChunk(chunks, depth, async (i, slot) => {
      const offset = i * chunkSize;
      const len = Math.min(chunkSize, size - offset);
      const buf = bufs[slot] as Buffer;
      if ((await readFull(input, buf, len, offset)) !== len) {
        throw new AntidoteError('IO_ERROR', `${src} changed size while being encrypted`, {
          path: src,
        });
      }
      const c = createCipheriv('aes-256-gcm', dek, chunkNonce(prefix, i));
      c.setAAD(chunkAad(fixed, i, i === chunks - 1));
      const ct = c.update(buf.subarray(0, len));
      c.final();
      await out.writev([ct, c.getAuthTag()], HEADER_SIZE + i * (chunkSize + TAG));
      done += len;
      options.onProgress?.(done);
    });
    await out.sync();
    await out.close();
    output = undefined;
    await publish(tmp, dst, options.overwrite);
    return { bytes: size, chunks };
  } catch (e) {
    await output?.close().catch(() => undefined);
    await rm(tmp, { force: true });
    if (e instanceof AntidoteError) throw e;
    throw new AntidoteError('IO_ERROR', `cannot encrypt ${src}: ${(e as Error).message}`, {
      path: src,
    });
  } finally {
    await input.close();
    dek.fill(0);
  }
}

/**
 * Decrypts `src` to `dst`. Plaintext goes to a temporary sibling (mode 0600) that is renamed to
 * `dst` only after every chunk, the final one included, authenticates; on any failure it is
 * deleted, so no partial plaintext is ever left. Fails with `DECRYPTION_FAILED` naming the
 * lowest failing chunk. The temporary is named after this process
 * (`.NAME.antidote-decrypt.PID.HEX.tmp`): a signal handler removes it with
 * {@link removePlaintextTempsSync}, and the next decryption into the same folder removes one
 * left by a killed process ({@link removeStalePlaintextTemps}).
 */
export async function decryptFile(
  src: string,
  dst: string,
  kek: Kek,
  options: { onProgress?: (bytesDone: number) => void } & DestinationOptions = {},
): Promise<{ bytes: number; chunks: number }> {
  checkKek(kek);
  refuseOverwrite(dst, options.overwrite);
  await removeStalePlaintextTemps(dirname(dst));
  const input = await openFile(src, 'r');
  const tmp = decryptTempPath(dst);
  let output: Handle | undefined;
  let dek: Buffer | undefined;
  try {
    const size = (await input.stat()).size;
    const header = Buffer.alloc(HEADER_SIZE);
    const got = await readFull(input, header, HEADER_SIZE, 0);
    if (got < FIXED_SIZE) parseFixed(header.subarray(0, got), src);
    if (got < HEADER_SIZE) fail(`${src} is truncated inside its header`, src);
    const fixed = header.subarray(0, FIXED_SIZE);
    const { chunkSize, prefix } = parseFixed(fixed, src);
    const key = unwrapKey(fixed, header.subarray(FIXED_SIZE), kek, src);
    dek = key;
    if (size === HEADER_SIZE) fail(`${src} is truncated: it holds no chunks`, src);
    const block = chunkSize + TAG;
    const body = size - HEADER_SIZE;
    const chunks = Math.ceil(body / block);
    activePlaintext.add(tmp);
    const out = await openFile(tmp, 'wx', 0o600);
    output = out;
    const depth = Math.min(PIPELINE_DEPTH, chunks);
    const bufs = Array.from({ length: depth }, () => Buffer.allocUnsafe(Math.min(block, body)));
    let done = 0;
    await forEachChunk(chunks, depth, async (i, slot) => {
      const final = i === chunks - 1;
      const n = Math.min(block, body - i * block);
      const buf = bufs[slot] as Buffer;
      if ((await readFull(input, buf, n, HEADER_SIZE + i * block)) !== n) {
        fail(`${src} changed size while being decrypted`, src, { chunk: i });
      }
      if (n < TAG) fail(`${src}: chunk ${i} is truncated`, src, { chunk: i });
      const d = createDecipheriv('aes-256-gcm', key, chunkNonce(prefix, i));
      d.setAAD(chunkAad(fixed, i, final));
      d.setAuthTag(buf.subarray(n - TAG, n));
      let pt: Buffer;
      try {
        pt = d.update(buf.subarray(0, n - TAG));
        d.final();
      } catch {
        return fail(
          `${src}: chunk ${i} does not authenticate (${final ? 'truncated or tampered' : 'tampered, reordered or truncated'})`,
          src,
          { chunk: i },
        );
      }
      await out.write(pt, 0, pt.length, i * chunkSize);
      done += pt.length;
      options.onProgress?.(done);
    });
    await out.sync();
    await out.close();
    output = undefined;
    await publish(tmp, dst, options.overwrite);
    return { bytes: done, chunks };
  } catch (e) {
    await output?.close().catch(() => undefined);
    await rm(tmp, { force: true });
    if (e instanceof AntidoteError) throw e;
    throw new AntidoteError('IO_ERROR', `cannot decrypt ${src}: ${(e as Error).message}`, {
      path: src,
    });
  } finally {
    activePlaintext.delete(tmp);
    dek?.fill(0);
    await input.close();
  }
}

/**
 * Key rotation: re-wraps the file's data key from `oldKek` to `newKek` by rewriting only the
 * 76-byte key block in place (the data is not re-encrypted). Fails with `DECRYPTION_FAILED` when
 * `oldKek` is not the file's key.
 */
export async function rewrapFile(path: string, oldKek: Kek, newKek: Kek): Promise<void> {
  checkKek(oldKek);
  checkKek(newKek);
  const fh = await openFile(path, 'r+');
  try {
    const header = Buffer.alloc(HEADER_SIZE);
    const got = await readFull(fh, header, HEADER_SIZE, 0);
    if (got < FIXED_SIZE) parseFixed(header.subarray(0, got), path);
    if (got < HEADER_SIZE) fail(`${path} is truncated inside its header`, path);
    const fixed = header.subarray(0, FIXED_SIZE);
    parseFixed(fixed, path);
    const dek = unwrapKey(fixed, header.subarray(FIXED_SIZE), oldKek, path);
    const block = wrapKey(fixed, dek, newKek);
    dek.fill(0);
    await fh.write(block, 0, block.length, FIXED_SIZE);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** The public key id of an encrypted file (which KEK wraps its data key). */
export async function encryptedFileKekId(path: string): Promise<string> {
  const fh = await openFile(path, 'r');
  try {
    const header = Buffer.alloc(HEADER_SIZE);
    const got = await readFull(fh, header, HEADER_SIZE, 0);
    parseFixed(header.subarray(0, Math.min(got, FIXED_SIZE)), path);
    if (got < HEADER_SIZE) fail(`${path} is truncated inside its header`, path);
    return header.subarray(FIXED_SIZE, FIXED_SIZE + 16).toString('hex');
  } finally {
    await fh.close();
  }
}
