/**
 * The OpenSSF model-signing (OMS) v1.0 predicate (ossf/model-signing-spec, spec/v1.0.md §5–§8):
 * its schema, the canonical enumeration of a model (a directory tree or a single file), file and
 * shard serialization, the hash types, and the check of a model against a signed manifest.
 *
 * - Enumeration (§6.1, §6.2): regular files only, POSIX paths relative to the model root; the
 *   default exclusions `.git`, `.gitignore`, `.gitattributes`, `.github` match top-level paths,
 *   user ignore paths match exact relative paths (and their subtrees); symbolic links are refused
 *   unless `allow_symlinks` (then the target's content is hashed under the link's name); FIFOs,
 *   devices and sockets are refused.
 * - Serialization (§6.3): `files` (one digest per file) or `shards` (`path:start:end` per
 *   `shard_size` byte range; empty files omitted); hash types `sha256` (required) and `blake2b`
 *   (BLAKE2b-512, RFC 7693); `blake3` is recognised but not supported (node:crypto lacks it).
 * - Verification (§8.4): every signed file (or shard) must exist and match; a file present but
 *   not signed and not ignored fails verification unless unsigned files are allowed (§8.5).
 */
import { createHash } from 'node:crypto';
import { lstat, open, readdir, realpath, stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { basename, join, relative, sep } from 'node:path';
import { Worker } from 'node:worker_threads';
import { z } from 'zod';
import { AntidoteError } from '../errors.js';
import { fsError } from '../util/fs.js';
import { digestEquals } from './hash.js';
import type { IntegrityProblem } from './manifest.js';

/** Predicate type of OMS v1.0 signatures. */
export const OMS_PREDICATE_TYPE = 'https://model_signing/signature/v1.0';

/** Paths every OMS signer and verifier excludes (spec §6.2), matched as top-level paths. */
export const OMS_DEFAULT_IGNORE: readonly string[] = [
  '.git',
  '.gitattributes',
  '.github',
  '.gitignore',
];

/** Hash types of the OMS algorithm registry this implementation computes. */
export const OMS_HASH_TYPES = ['sha256', 'blake2b'] as const;
/** One of {@link OMS_HASH_TYPES}. */
export type OmsHashType = (typeof OMS_HASH_TYPES)[number];

/** Default shard size of the `shards` serialization (spec §6.3.2): 1,000,000,000 bytes. */
export const DEFAULT_SHARD_SIZE = 1_000_000_000;

const NODE_HASH: Record<OmsHashType, string> = { sha256: 'sha256', blake2b: 'blake2b512' };

const hex = z.string().regex(/^[0-9a-f]+$/, 'not lowercase hex');
const hashName = z.enum(['sha256', 'blake2b', 'blake3']);

/** Zod schema of the OMS `serialization` object (predicate.schema.json `serialization`). */
export const omsSerializationSchema = z
  .strictObject({
    method: z.enum(['files', 'shards']),
    hash_type: hashName,
    shard_size: z.number().int().positive().optional(),
    allow_symlinks: z.boolean(),
    ignore_paths: z.array(z.string().min(1)).optional(),
  })
  .refine((s) => (s.method === 'shards') === (s.shard_size !== undefined), {
    message: 'shard_size is required with method "shards" and must be absent with "files"',
    path: ['shard_size'],
  });

/** An OMS resource descriptor (in-toto ResourceDescriptor subset; other fields are ignored). */
export const omsResourceSchema = z.looseObject({
  name: z.string().min(1),
  digest: hex,
  algorithm: hashName,
});

/**
 * The extension Antidote wrote inside the predicate before it followed OMS v1.0 strictly
 * (manifest digest and record Merkle root): still read from old bundles, never written.
 */
const legacyAntidoteSchema = z.strictObject({
  manifestDigest: z.string().regex(/^[0-9a-f]{64}$/),
  records: z
    .strictObject({
      count: z.number().int().nonnegative(),
      merkleRoot: z.string().regex(/^[0-9a-f]{64}$/),
    })
    .optional(),
  meta: z.record(z.string(), z.unknown()).optional(),
  signedAt: z.string().optional(),
});

/**
 * Zod schema of the OMS v1.0 predicate (predicate.schema.json: `resources` and `serialization`,
 * nothing else), accepting also the legacy `antidote` extension of bundles written by earlier
 * Antidote versions.
 */
export const omsPredicateSchema = z.strictObject({
  resources: z.array(omsResourceSchema),
  serialization: omsSerializationSchema,
  antidote: legacyAntidoteSchema.optional(),
});

/** The OMS v1.0 predicate. */
export type OmsPredicate = z.infer<typeof omsPredicateSchema>;
/** One resource of an OMS predicate. */
export type OmsResource = z.infer<typeof omsResourceSchema>;

/** How a model is enumerated and hashed. */
export interface OmsSerializationOptions {
  /** Default `sha256`. */
  readonly hashType?: OmsHashType;
  /** `shards` with this shard size (bytes); `files` when omitted. */
  readonly shardSize?: number;
  /** Paths relative to the model root excluded besides {@link OMS_DEFAULT_IGNORE}. */
  readonly ignorePaths?: readonly string[];
  /** Follow symbolic links (hash their targets); default false (links are refused). */
  readonly allowSymlinks?: boolean;
  /** Reads in flight on the calling thread; default 4. */
  readonly concurrency?: number;
  /** Worker threads for large models; default one per core (`os.availableParallelism()`). */
  readonly threads?: number;
}

/**
 * Canonical form of an ignore path relative to the model root (spec §6.1.2, §6.2.1): `/`
 * separators, no `./` or empty components, no trailing `/`. `INVALID_ARGUMENT` for an absolute
 * path, a `..` component or a glob character.
 */
export function canonicalIgnorePath(p: string): string {
  const parts = p.split(/[\\/]+/).filter((c) => c !== '' && c !== '.');
  if (p.startsWith('/') || parts.includes('..') || /[*?[]/.test(p) || parts.length === 0) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `ignore path "${p}" must be a plain path relative to the model root (no leading /, no .., no glob)`,
      { ignorePath: p },
    );
  }
  return parts.join('/');
}

/** A file of an enumerated model. */
export interface ModelFile {
  /** The resource name: path relative to the root, or the file name of a single-file model. */
  readonly name: string;
  /** Absolute (or caller-relative) path to read. */
  readonly path: string;
  readonly size: number;
}

/** Result of {@link enumerateModel}. */
export interface ModelEnumeration {
  readonly kind: 'directory' | 'file';
  readonly files: readonly ModelFile[];
  /** Warnings (symbolic links leaving the root, cycles). */
  readonly notes: readonly string[];
}

/**
 * Enumerates a model per spec §6.1–§6.2: a single regular file, or every regular file under a
 * directory except the default exclusions and `ignorePaths`. Sorted by name (code points).
 */
export async function enumerateModel(
  modelPath: string,
  options: Pick<OmsSerializationOptions, 'ignorePaths' | 'allowSymlinks'> = {},
): Promise<ModelEnumeration> {
  const top = await lstat(modelPath).catch(() => undefined);
  if (!top) throw new AntidoteError('NOT_FOUND', `no model at ${modelPath}`, { path: modelPath });
  const notes: string[] = [];
  if (top.isFile() || (top.isSymbolicLink() && options.allowSymlinks)) {
    const s = await stat(modelPath);
    if (!s.isFile()) {
      throw new AntidoteError('INVALID_FORMAT', `${modelPath} is not a regular file`, {
        path: modelPath,
      });
    }
    return {
      kind: 'file',
      files: [{ name: basename(modelPath), path: modelPath, size: s.size }],
      notes,
    };
  }
  if (!top.isDirectory()) {
    throw new AntidoteError(
      'INVALID_FORMAT',
      `${modelPath} is ${top.isSymbolicLink() ? 'a symbolic link' : 'not a regular file or directory'}; it is not hashed`,
      { path: modelPath },
    );
  }
  const ignore = new Set([
    ...OMS_DEFAULT_IGNORE,
    ...(options.ignorePaths ?? []).map(canonicalIgnorePath),
  ]);
  const rootReal = await realpath(modelPath);
  const files: ModelFile[] = [];
  const walk = async (abs: string, rel: string, seen: ReadonlySet<string>): Promise<void> => {
    const entries = await readdir(abs, { withFileTypes: true }).catch((e: Error) => {
      throw new AntidoteError('IO_ERROR', `cannot read directory ${abs}: ${e.message}`, {
        path: abs,
      });
    });
    for (const ent of entries) {
      const name = rel ? `${rel}/${ent.name}` : ent.name;
      if (ignore.has(name)) continue;
      const full = join(abs, ent.name);
      let isDir = ent.isDirectory();
      let isFile = ent.isFile();
      let size = 0;
      if (ent.isSymbolicLink()) {
        if (!options.allowSymlinks) {
          throw new AntidoteError(
            'INVALID_FORMAT',
            `${full} is a symbolic link; links are not followed (allow_symlinks is false)`,
            { path: full },
          );
        }
        const target = await realpath(full).catch(() => undefined);
        const ts = target ? await stat(target).catch(() => undefined) : undefined;
        if (!target || !ts) {
          throw new AntidoteError('INVALID_FORMAT', `${full} is a dangling symbolic link`, {
            path: full,
          });
        }
        if (relative(rootReal, target).startsWith(`..`)) {
          notes.push(`symbolic link ${name} points outside the model root (${target})`);
        }
        if (ts.isDirectory() && seen.has(target)) {
          notes.push(`symbolic link ${name} forms a cycle; not followed`);
          continue;
        }
        isDir = ts.isDirectory();
        isFile = ts.isFile();
        size = ts.size;
      }
      if (isDir) {
        const real = await realpath(full);
        await walk(full, name, new Set([...seen, real]));
      } else if (isFile) {
        if (!size) size = (await stat(full)).size;
        files.push({ name, path: full, size });
      } else {
        throw new AntidoteError(
          'INVALID_FORMAT',
          `${full} is not a regular file (FIFO, device or socket)`,
          {
            path: full,
          },
        );
      }
    }
  };
  await walk(modelPath, '', new Set([rootReal]));
  files.sort((a, b) => compareNames(a.name, b.name));
  return { kind: 'directory', files, notes };
}

/** Code-point order of resource names (spec §5.2.1). */
export function compareNames(a: string, b: string): number {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return Buffer.compare(x, y);
}

/** Digest of bytes `[start, end)` of a file with an OMS hash type, streamed in 4 MiB blocks. */
export async function hashRange(
  path: string,
  hashType: OmsHashType,
  start = 0,
  end = Number.POSITIVE_INFINITY,
): Promise<string> {
  const fh = await open(path, 'r').catch((e: unknown) => {
    throw fsError(e, path);
  });
  const h = createHash(NODE_HASH[hashType]);
  const size = 4 * 1024 * 1024;
  const buf = Buffer.allocUnsafe(size);
  let pos = start;
  try {
    while (pos < end) {
      const want = Math.min(size, end - pos);
      const { bytesRead } = await fh.read(buf, 0, want, pos);
      if (bytesRead === 0) break;
      h.update(buf.subarray(0, bytesRead));
      pos += bytesRead;
    }
  } catch (e) {
    throw fsError(e, path);
  } finally {
    await fh.close();
  }
  return h.digest('hex');
}

async function pool<T>(tasks: readonly (() => Promise<T>)[], concurrency: number): Promise<T[]> {
  const out = new Array<T>(tasks.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < tasks.length) {
      const i = next++;
      out[i] = await tasks[i]!();
    }
  };
  await Promise.all(
    Array.from({ length: Math.max(1, Math.min(concurrency, tasks.length)) }, worker),
  );
  return out;
}

/** One byte range of a file to hash. */
interface HashJob {
  readonly path: string;
  readonly start: number;
  /** Exclusive; `Number.MAX_SAFE_INTEGER` reads to the end of the file. */
  readonly end: number;
  /** Bytes expected (for the decision to use worker threads). */
  readonly bytes: number;
}

/** Worker source (CommonJS, evaluated): hashes the byte ranges it is sent with a reused buffer. */
const HASH_WORKER = `
const { parentPort } = require('node:worker_threads');
const { openSync, readSync, closeSync } = require('node:fs');
const { createHash } = require('node:crypto');
const buf = Buffer.allocUnsafe(4 * 1024 * 1024);
parentPort.on('message', ({ i, path, algo, start, end }) => {
  try {
    const fd = openSync(path, 'r');
    const h = createHash(algo);
    let pos = start;
    try {
      while (pos < end) {
        const n = readSync(fd, buf, 0, Math.min(buf.length, end - pos), pos);
        if (n === 0) break;
        h.update(buf.subarray(0, n));
        pos += n;
      }
    } finally {
      closeSync(fd);
    }
    parentPort.postMessage({ i, digest: h.digest('hex') });
  } catch (e) {
    parentPort.postMessage({ i, error: String((e && e.message) || e) });
  }
});
`;

/** Below this many bytes in all, hashing stays on the calling thread (workers cost ~30 ms to start). */
const WORKER_THRESHOLD = 64 * 1024 * 1024;

async function hashInWorkers(
  jobs: readonly HashJob[],
  hashType: OmsHashType,
  threads: number,
): Promise<string[]> {
  const out = new Array<string>(jobs.length);
  // The calling thread hashes too (it would only wait): `threads - 1` workers, which saves a
  // worker's start (~45 ms of CPU, measured) on every verify.
  const workers = Array.from(
    { length: Math.max(1, Math.min(threads, jobs.length) - 1) },
    () => new Worker(HASH_WORKER, { eval: true }),
  );
  // Largest first (LPT scheduling): a big shard handed out last would leave the other threads
  // idle while it is hashed; largest-first keeps the busiest thread within one job of the rest.
  const order = jobs.map((_, i) => i).sort((a, b) => jobs[b]!.bytes - jobs[a]!.bytes || a - b);
  let next = 0;
  const here = async (): Promise<void> => {
    while (next < jobs.length) {
      const i = order[next++]!;
      const j = jobs[i]!;
      out[i] = await hashRange(j.path, hashType, j.start, j.end);
    }
  };
  try {
    await Promise.all([
      here(),
      ...workers.map(
        (w) =>
          new Promise<void>((resolveAll, reject) => {
            const send = (): void => {
              if (next >= jobs.length) {
                resolveAll();
                return;
              }
              const i = order[next++]!;
              const j = jobs[i]!;
              w.postMessage({
                i,
                path: j.path,
                algo: NODE_HASH[hashType],
                start: j.start,
                end: j.end,
              });
            };
            w.on('message', (m: { i: number; digest?: string; error?: string }) => {
              if (m.error !== undefined) {
                const path = jobs[m.i]!.path;
                return reject(
                  new AntidoteError('IO_ERROR', `cannot read ${path}: ${m.error}`, { path }),
                );
              }
              out[m.i] = m.digest!;
              send();
            });
            w.on('error', reject);
            send();
          }),
      ),
    ]);
  } catch (e) {
    next = jobs.length; // the calling thread stops taking jobs
    throw e;
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
  return out;
}

/**
 * Digests of byte ranges of files, on `threads` threads (the calling one and `threads - 1`
 * workers) when `threads` is given (> 1) or there is enough to hash (hashing is CPU-bound: one
 * thread per core), else on the calling thread with `concurrency` reads in flight.
 */
async function hashJobs(
  jobs: readonly HashJob[],
  hashType: OmsHashType,
  options: { threads?: number; concurrency?: number },
): Promise<string[]> {
  // Workers when asked for, or by default for models large enough to repay their start.
  const threads = options.threads ?? availableParallelism();
  const bytes = jobs.reduce((a, j) => a + j.bytes, 0);
  const large = options.threads !== undefined || bytes >= WORKER_THRESHOLD;
  if (threads > 1 && jobs.length > 1 && large) {
    return hashInWorkers(jobs, hashType, threads);
  }
  return pool(
    jobs.map((j) => () => hashRange(j.path, hashType, j.start, j.end)),
    options.concurrency ?? 4,
  );
}

function shardRanges(size: number, shardSize: number): [number, number][] {
  const out: [number, number][] = [];
  for (let s = 0; s < size; s += shardSize) out.push([s, Math.min(size, s + shardSize)]);
  return out;
}

/** Splits a shard resource name `path:start:end` at its last two colons (spec §6.3.2). */
export function parseShardName(
  name: string,
): { path: string; start: number; end: number } | undefined {
  const m = /^(.*):(\d+):(\d+)$/.exec(name);
  if (!m) return undefined;
  const start = Number(m[2]);
  const end = Number(m[3]);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || end <= start) return undefined;
  return { path: m[1]!, start, end };
}

/**
 * Hashes a model into OMS resources and the serialization object that describes how (the
 * recorded `ignore_paths` are the defaults plus `ignorePaths`). `INVALID_ARGUMENT` for a model
 * with no file left to sign (spec §6.1).
 */
export async function serializeModel(
  modelPath: string,
  options: OmsSerializationOptions = {},
): Promise<{
  resources: OmsResource[];
  serialization: OmsPredicate['serialization'];
  notes: string[];
}> {
  const hashType = options.hashType ?? 'sha256';
  const ignorePaths = (options.ignorePaths ?? []).map(canonicalIgnorePath);
  const e = await enumerateModel(modelPath, {
    ignorePaths,
    allowSymlinks: !!options.allowSymlinks,
  });
  if (e.files.length === 0) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `${modelPath} has no file to sign (after exclusions)`,
      {
        path: modelPath,
      },
    );
  }
  const shardSize = options.shardSize;
  if (shardSize !== undefined && (!Number.isSafeInteger(shardSize) || shardSize <= 0)) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `shard size must be a positive integer, got ${shardSize}`,
    );
  }
  const names: string[] = [];
  const jobs: HashJob[] = [];
  for (const f of e.files) {
    if (shardSize === undefined) {
      names.push(f.name);
      jobs.push({ path: f.path, start: 0, end: Number.MAX_SAFE_INTEGER, bytes: f.size });
    } else {
      for (const [s, t] of shardRanges(f.size, shardSize)) {
        names.push(`${f.name}:${s}:${t}`);
        jobs.push({ path: f.path, start: s, end: t, bytes: t - s });
      }
    }
  }
  const digests = await hashJobs(jobs, hashType, options);
  const resources: OmsResource[] = names
    .map((name, i) => ({ name, digest: digests[i]!, algorithm: hashType }))
    .sort((a, b) => compareNames(a.name, b.name));
  const ignore = [...new Set([...OMS_DEFAULT_IGNORE, ...ignorePaths])].sort(compareNames);
  return {
    resources,
    serialization: {
      method: shardSize === undefined ? 'files' : 'shards',
      hash_type: hashType,
      ...(shardSize === undefined ? {} : { shard_size: shardSize }),
      allow_symlinks: !!options.allowSymlinks,
      ignore_paths: ignore,
    },
    notes: [...e.notes],
  };
}

/** Options of {@link checkModel}. */
export interface CheckModelOptions {
  /** Extra paths (relative to the model root) to exclude, e.g. the signature file. */
  readonly ignorePaths?: readonly string[];
  /** Do not fail for files present but not signed (spec §8.5). */
  readonly ignoreUnsignedFiles?: boolean;
  readonly concurrency?: number;
  /** Worker threads for large models; default one per core. */
  readonly threads?: number;
}

/** Result of {@link checkModel}. */
export interface ModelCheck {
  readonly kind: 'directory' | 'file';
  readonly problems: IntegrityProblem[];
  readonly notes: string[];
  /** Files that were hashed and matched, by resource name (for `files` serialization). */
  readonly verified: ReadonlySet<string>;
}

function unsupportedHash(h: string): AntidoteError {
  return new AntidoteError(
    'SIGNATURE_INVALID',
    `the signature uses hash type ${h}, which this verifier does not compute (supported: ${OMS_HASH_TYPES.join(', ')})`,
    { hashType: h },
  );
}

/**
 * Checks the model at `modelPath` against a signed OMS predicate (spec §8.4): same enumeration
 * rules (the recorded `ignore_paths` and symlink policy, plus `ignorePaths`), every signed file or
 * shard present with the signed digest, and no unsigned file. Returns the problems, each naming
 * the file (and byte range for a shard). A single-file model may be named `.` (reference v1.0.0).
 */
export async function checkModel(
  modelPath: string,
  predicate: OmsPredicate,
  options: CheckModelOptions = {},
): Promise<ModelCheck> {
  const ser = predicate.serialization;
  if (ser.hash_type === 'blake3') throw unsupportedHash(ser.hash_type);
  const hashType = ser.hash_type as OmsHashType;
  const problems: IntegrityProblem[] = [];
  const notes: string[] = [];
  const verified = new Set<string>();
  const seen = new Set<string>();
  for (const r of predicate.resources) {
    if (r.algorithm !== ser.hash_type) {
      throw new AntidoteError(
        'SIGNATURE_INVALID',
        `resource ${r.name} is hashed with ${r.algorithm}, but serialization.hash_type is ${ser.hash_type}`,
      );
    }
    if (seen.has(r.name))
      problems.push({ kind: 'manifest-inconsistent', message: `resource ${r.name} appears twice` });
    seen.add(r.name);
  }
  const recorded = (ser.ignore_paths ?? []).flatMap((p) => {
    try {
      return [canonicalIgnorePath(p)];
    } catch {
      return [];
    }
  });
  const e = await enumerateModel(modelPath, {
    ignorePaths: [...recorded, ...(options.ignorePaths ?? [])],
    allowSymlinks: ser.allow_symlinks,
  });
  notes.push(...e.notes);
  const files = new Map(e.files.map((f) => [f.name, f]));
  if (e.kind === 'file') {
    // A single file: the resource is named after it (or `.`, as reference v1.0.0 wrote).
    const f = e.files[0]!;
    files.delete(f.name);
    const alias =
      ser.method === 'files' ? predicate.resources.find((r) => r.name === '.') : undefined;
    files.set(alias ? '.' : f.name, f);
  }
  // Hash jobs, each with what to do with its digest.
  const jobs: HashJob[] = [];
  const then: ((digest: string) => void)[] = [];
  if (ser.method === 'files') {
    for (const r of predicate.resources) {
      const f = files.get(r.name);
      if (!f) {
        problems.push({ kind: 'missing-file', path: r.name, message: `file ${r.name} is missing` });
        continue;
      }
      jobs.push({ path: f.path, start: 0, end: Number.MAX_SAFE_INTEGER, bytes: f.size });
      then.push((actual) => {
        if (digestEquals(actual, r.digest)) verified.add(r.name);
        else {
          problems.push({
            kind: 'file-changed',
            path: f.name,
            expected: r.digest,
            actual,
            message: `file ${f.name} does not match its signed digest`,
          });
        }
      });
    }
    for (const [name, f] of files) {
      if (seen.has(name) || options.ignoreUnsignedFiles) continue;
      problems.push({
        kind: 'extra-file',
        path: f.name,
        message: `file ${f.name} is not in the signed manifest`,
      });
    }
  } else {
    const shardSize = ser.shard_size!;
    const byFile = new Map<string, Map<string, string>>();
    for (const r of predicate.resources) {
      const s = parseShardName(r.name);
      if (!s) {
        problems.push({
          kind: 'manifest-inconsistent',
          message: `shard resource name "${r.name}" is not path:start:end`,
        });
        continue;
      }
      const m = byFile.get(s.path) ?? new Map<string, string>();
      m.set(`${s.start}:${s.end}`, r.digest);
      byFile.set(s.path, m);
    }
    for (const [path, shards] of byFile) {
      const f = files.get(path);
      if (!f) {
        problems.push({ kind: 'missing-file', path, message: `file ${path} is missing` });
        continue;
      }
      const ranges = shardRanges(f.size, shardSize);
      const signedBytes = Math.max(...[...shards.keys()].map((k) => Number(k.split(':')[1])));
      if (ranges.length !== shards.size || ranges.some(([s, t]) => !shards.has(`${s}:${t}`))) {
        problems.push({
          kind: 'file-changed',
          path,
          expected: `${signedBytes} bytes`,
          actual: `${f.size} bytes`,
          message: `file ${path} does not match its signed shards (signed ${signedBytes} bytes, now ${f.size})`,
        });
        continue;
      }
      const bad: string[] = [];
      let left = ranges.length;
      const settle = (): void => {
        if (--left > 0) return;
        if (bad.length === 0) verified.add(path);
        else {
          bad.sort((a, b) => Number(a.split(':')[0]) - Number(b.split(':')[0]));
          problems.push({
            kind: 'file-changed',
            path,
            expected: 'signed shard digests',
            actual: `bytes ${bad.join(', ')} differ`,
            message: `file ${path} does not match its signed digest (bytes ${bad.slice(0, 3).join(', ')}${bad.length > 3 ? ', ...' : ''})`,
          });
        }
      };
      for (const [s, t] of ranges) {
        jobs.push({ path: f.path, start: s, end: t, bytes: t - s });
        then.push((actual) => {
          if (!digestEquals(actual, shards.get(`${s}:${t}`)!)) bad.push(`${s}:${t}`);
          settle();
        });
      }
    }
    for (const [name, f] of files) {
      if (byFile.has(name) || f.size === 0 || options.ignoreUnsignedFiles) continue;
      problems.push({
        kind: 'extra-file',
        path: f.name,
        message: `file ${f.name} is not in the signed manifest`,
      });
    }
  }
  const digests = await hashJobs(jobs, hashType, options);
  digests.forEach((d, i) => {
    then[i]!(d);
  });
  problems.sort((a, b) => compareNames('path' in a ? a.path : '', 'path' in b ? b.path : ''));
  return { kind: e.kind, problems, notes, verified };
}

/** Path of `file` relative to `root` with `/` separators, or undefined when outside it. */
export function relativeInside(root: string, file: string): string | undefined {
  const rel = relative(root, file);
  if (rel === '' || rel.startsWith('..') || rel.startsWith(sep) || /^[a-zA-Z]:/.test(rel))
    return undefined;
  return rel.split(sep).join('/');
}
