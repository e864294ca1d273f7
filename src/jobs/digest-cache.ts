/**
 * A cache of verified record-range digests, keyed by the identity of the files a dataset spec
 * reads (issue 22): the coordinator of a distributed scan digests every shard's records once
 * (one pass over the data), and a later scan of the same, unchanged files submits its shards with
 * those digests before it reads the data, so the workers start at once and the coordinator's
 * own read overlaps their forward passes. Design notes: `../shared/DESIGN.md`.
 *
 * A file's identity is its real path, size, inode, device, modification and status-change times
 * (`ctime`, which no user can set back): any write, replacement or `touch` misses the cache.
 * An entry is stored only when the files' identity was the same before the coordinator read them
 * and after it digested them. Entries live in a folder of the OS temp dir owned by the user, mode
 * 0700, files 0600 (a folder someone else owns, or open to others, is not used). The workers do
 * not trust the cache: each still checks its own records against the digests its job carries.
 */
import { createHash } from 'node:crypto';
import { lstat, mkdir, readdir, readFile, realpath, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { fashionMnistFiles } from '../data/fashion-mnist.js';
import { mnistFiles } from '../data/mnist.js';
import { canonicalJson } from '../integrity/canonical-json.js';
import { writeFileAtomic } from '../util/fs.js';

/** Files of a folder spec above which no identity is taken (the cache is not used). */
const MAX_FILES = 10_000;

const BUILTIN = /^(mnist|fashion-mnist)(?::(train|test))?(?::(\d+))?$/;

/**
 * The files a dataset spec reads (sorted real paths): the IDX files of a built-in MNIST or
 * Fashion-MNIST split, the file itself, or every file under a folder (at most 10,000); undefined
 * for a spec whose files are not known here (a registered text or tabular dataset).
 */
export async function specFiles(spec: string): Promise<string[] | undefined> {
  const m = BUILTIN.exec(spec);
  if (m) {
    const split = m[2] === 'test' ? 'test' : 'train';
    const f = m[1] === 'fashion-mnist' ? fashionMnistFiles(split) : mnistFiles(split);
    return [f.images, f.labels];
  }
  let info: Awaited<ReturnType<typeof stat>>;
  try {
    info = await stat(spec);
  } catch {
    return undefined;
  }
  if (info.isFile()) return [await realpath(spec)];
  if (!info.isDirectory()) return undefined;
  const out: string[] = [];
  const walk = async (dir: string): Promise<boolean> => {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) {
        if (!(await walk(p))) return false;
      } else if (e.isFile()) {
        out.push(await realpath(p));
        if (out.length > MAX_FILES) return false;
      } else return false;
    }
    return true;
  };
  if (!(await walk(spec))) return undefined;
  return out.sort();
}

/** The identity of `files` (see the module comment), as one string; undefined if one is gone. */
export async function filesIdentity(files: readonly string[]): Promise<string | undefined> {
  const parts: unknown[] = [];
  for (const f of files) {
    try {
      const s = await stat(f, { bigint: true });
      parts.push([
        f,
        String(s.size),
        String(s.ino),
        String(s.dev),
        String(s.mtimeNs),
        String(s.ctimeNs),
      ]);
    } catch {
      return undefined;
    }
  }
  return canonicalJson(parts);
}

/** What a cached entry holds: the digests of a scan's shards of a dataset. */
export interface RangeDigests {
  /** Records of the dataset as the coordinator read it. */
  readonly records: number;
  /** Whether the coordinator divided 0–255 images by 255. */
  readonly divideBy255: boolean;
  /** Records per shard (the last one may hold fewer). */
  readonly shard: number;
  /** `recordRangeDigest` of each shard, in order. */
  readonly digests: readonly string[];
}

const EntrySchema = z.strictObject({
  key: z.string(),
  identity: z.string(),
  records: z.number().int().nonnegative(),
  divideBy255: z.boolean(),
  shard: z.number().int().positive(),
  digests: z.array(z.string().regex(/^[0-9a-f]{64}$/)),
});

/** Where the cache lives (a folder of the OS temp dir, per user), unless `dir` is given. */
export function digestCacheDir(dir?: string): string {
  const uid = typeof process.getuid === 'function' ? process.getuid() : 'user';
  return dir ?? join(tmpdir(), `antidote-${uid}`, 'range-digests');
}

/** The cache folder, created 0700, if it is this user's and closed to others; else undefined. */
async function usableDir(dir: string): Promise<string | undefined> {
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const s = await lstat(dir);
    const mine = typeof process.getuid !== 'function' || s.uid === process.getuid();
    return s.isDirectory() && mine && (s.mode & 0o077) === 0 ? dir : undefined;
  } catch {
    return undefined;
  }
}

/** Entries kept at most; the least recently written go first. */
export const MAX_CACHE_ENTRIES = 256;

/** Removes the oldest entries beyond {@link MAX_CACHE_ENTRIES}. */
async function prune(dir: string): Promise<void> {
  const names = (await readdir(dir)).filter((n) => /^[0-9a-f]{64}\.json$/.test(n));
  if (names.length <= MAX_CACHE_ENTRIES) return;
  const dated = await Promise.all(
    names.map(async (n) => ({ n, t: (await stat(join(dir, n), { bigint: true })).mtimeNs })),
  );
  dated.sort((a, b) => (a.t < b.t ? -1 : a.t > b.t ? 1 : a.n < b.n ? -1 : 1));
  for (const { n } of dated.slice(0, dated.length - MAX_CACHE_ENTRIES)) {
    await rm(join(dir, n), { force: true });
  }
}

/** A file name for a cache key. */
function entryFile(dir: string, key: string): string {
  return join(dir, `${createHash('sha256').update(key).digest('hex')}.json`);
}

/** A dataset read whose digests the cache may hold: its spec, how it was read, its files. */
export interface CacheSubject {
  /** The spec and how it is read (loader options, shard size): any change is another entry. */
  readonly key: string;
  /** The files it reads ({@link specFiles}). */
  readonly files: readonly string[];
  /** Their identity when they were looked at ({@link filesIdentity}). */
  readonly identity: string;
}

/**
 * The subject of `spec` read with `how` (plain data: loader options, the shard size), with its
 * files' identity now; undefined where the spec's files are not known.
 */
export async function cacheSubject(spec: string, how: unknown): Promise<CacheSubject | undefined> {
  const files = await specFiles(spec);
  if (!files) return undefined;
  const identity = await filesIdentity(files);
  if (identity === undefined) return undefined;
  return { key: canonicalJson({ spec, how }), files, identity };
}

/**
 * The entry of `key` as `schema` reads it; undefined when there is none, or no usable cache.
 * Other caches keyed by a dataset's files (`dataset-outline.ts`) keep their entries here too.
 */
export async function readCacheEntry<S extends z.ZodType>(
  key: string,
  schema: S,
  dir: string | undefined,
): Promise<z.output<S> | undefined> {
  const d = await usableDir(digestCacheDir(dir));
  if (!d) return undefined;
  try {
    const parsed = schema.safeParse(JSON.parse(await readFile(entryFile(d, key), 'utf8')));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Writes `entry` under `key` when `files` still have `identity` (else nothing: they may have
 * changed while read). Best effort: a cache that cannot be written is skipped.
 */
export async function writeCacheEntry(
  key: string,
  files: readonly string[],
  identity: string,
  entry: object,
  dir: string | undefined,
): Promise<boolean> {
  if ((await filesIdentity(files)) !== identity) return false;
  const d = await usableDir(digestCacheDir(dir));
  if (!d) return false;
  try {
    const text = `${JSON.stringify({ key, identity, ...entry })}\n`;
    await writeFileAtomic(entryFile(d, key), text, { mode: 0o600 });
    await prune(d);
    return true;
  } catch {
    return false;
  }
}

/** The cached digests of `subject`, when its files still have the identity they had then. */
export async function cachedRangeDigests(
  subject: CacheSubject,
  dir?: string,
): Promise<RangeDigests | undefined> {
  const e = await readCacheEntry(subject.key, EntrySchema, dir);
  if (!e || e.key !== subject.key || e.identity !== subject.identity) return undefined;
  const expected = e.records === 0 ? 0 : Math.ceil(e.records / e.shard);
  if (e.digests.length !== expected) return undefined;
  return { records: e.records, divideBy255: e.divideBy255, shard: e.shard, digests: e.digests };
}

/**
 * Stores `digests` for `subject` when its files' identity is still the one taken before they
 * were read (else nothing: they may have changed while read). Best effort: a cache that cannot be
 * written is skipped. Returns whether the entry was written.
 */
export async function storeRangeDigests(
  subject: CacheSubject,
  digests: RangeDigests,
  dir?: string,
): Promise<boolean> {
  return writeCacheEntry(subject.key, subject.files, subject.identity, digests, dir);
}

/**
 * A model's digest as the cache keeps it (`jobs/digests.ts` `modelDigest` of its files): the
 * files, their identity when they were digested, and the digest.
 */
export interface ModelDigest {
  readonly files: readonly string[];
  readonly identity: string;
  readonly digest: string;
}

const ModelEntrySchema = z.strictObject({
  key: z.string(),
  identity: z.string(),
  files: z.array(z.string()).min(1),
  digest: z.string().regex(/^[0-9a-f]{64}$/),
});

/** The cache key of the model at `path` (resolved) loaded with `options`. */
function modelKey(path: string, options: unknown): string {
  return canonicalJson({ model: path, options });
}

/**
 * The cached digest of the model at `path` (resolved) loaded with `options`, when its files
 * still have the identity they had when digested: `scan --queue` names the model to its workers
 * without loading it first. Whoever loads the model later checks that it reads those files.
 */
export async function cachedModelDigest(
  path: string,
  options: unknown,
  dir?: string,
): Promise<ModelDigest | undefined> {
  const key = modelKey(path, options);
  const e = await readCacheEntry(key, ModelEntrySchema, dir);
  if (!e || e.key !== key || (await filesIdentity(e.files)) !== e.identity) return undefined;
  return { files: e.files, identity: e.identity, digest: e.digest };
}

/**
 * Stores the digest of the model at `path` (resolved) loaded with `options`, when its files
 * still have `m.identity`, taken before they were digested. Returns whether it was written.
 */
export async function storeModelDigest(
  path: string,
  options: unknown,
  m: ModelDigest,
  dir?: string,
): Promise<boolean> {
  return writeCacheEntry(
    modelKey(path, options),
    m.files,
    m.identity,
    {
      files: [...m.files],
      digest: m.digest,
    },
    dir,
  );
}
