import { createHash } from 'node:crypto';
import { lstat } from 'node:fs/promises';
import { join, posix, relative, sep } from 'node:path';
import { z } from 'zod';
import { AntidoteError } from '../errors.js';
import { readBytes, readDirEntries, writeFileAtomic } from '../util/fs.js';
import { parseJson, parseWith } from '../util/schema.js';
import { canonicalJson, type JsonValue } from './canonical-json.js';
import { digestEquals, sha256File, sha256Hex } from './hash.js';
import { leafHash, merkleRootOfLeafHashes } from './merkle.js';
import { hashRecord, type RecordDigest, type RecordInput, recordDigestOf } from './record-hash.js';

/** Schema identifier written in every manifest. */
export const MANIFEST_SCHEMA = 'https://antidote.dev/manifest/v1';

/** File name of a directory's manifest. */
export const MANIFEST_FILE = 'antidote.manifest.json';
/** File name of a directory's signature bundle. */
export const SIGNATURE_FILE = 'antidote.sig';
/** File names of a model's provenance statement and its signature bundle. */
export const PROVENANCE_FILE = 'antidote.provenance.json';
export const PROVENANCE_SIGNATURE_FILE = 'antidote.provenance.sig';

/** Paths never hashed into a manifest: the integrity artefacts themselves and VCS folders. */
export const DEFAULT_IGNORE: readonly string[] = [
  MANIFEST_FILE,
  SIGNATURE_FILE,
  PROVENANCE_FILE,
  PROVENANCE_SIGNATURE_FILE,
  '.git',
  '.antidote',
];

/** One file of a manifest. */
export interface ManifestFile {
  /** POSIX path relative to the directory. */
  readonly path: string;
  readonly size: number;
  /** Hex SHA-256 of the content. */
  readonly digest: string;
}

/** Per-record part of a dataset manifest. */
export interface ManifestRecords {
  readonly count: number;
  /** RFC 6962 Merkle root over the record digests, records sorted by id. */
  readonly merkleRoot: string;
  /** Records sorted by id (UTF-16 code unit order). */
  readonly items: readonly RecordDigest[];
}

/**
 * A manifest of a directory (dataset or model). `rootDigest` follows the OpenSSF model-signing
 * v1.0 rule: SHA-256 over the raw file digests concatenated in path order.
 */
export interface Manifest {
  readonly schema: typeof MANIFEST_SCHEMA;
  readonly name: string;
  readonly hashAlgorithm: 'sha256';
  readonly ignore: readonly string[];
  readonly files: readonly ManifestFile[];
  readonly rootDigest: string;
  readonly records?: ManifestRecords;
  /** Free-form, JSON-only context (e.g. dataset version); part of the manifest digest. */
  readonly meta?: { readonly [key: string]: JsonValue };
}

/** Options for {@link createManifest}. */
export interface CreateManifestOptions {
  /** Manifest name; default the directory's base name. */
  readonly name?: string;
  /** Dataset records to hash (the data layer supplies them); omit for a model directory. */
  readonly records?: Iterable<RecordInput>;
  /** Extra top-level names to skip, added to {@link DEFAULT_IGNORE}. */
  readonly ignore?: readonly string[];
  readonly meta?: { readonly [key: string]: JsonValue };
  /** Files hashed in parallel; default 4. */
  readonly concurrency?: number;
  readonly onProgress?: (event: {
    phase: 'files' | 'records';
    done: number;
    total: number;
  }) => void;
}

const hex64 = z.string().regex(/^[0-9a-f]{64}$/);
const recordSchema = z.strictObject({
  id: z.string(),
  label: z.union([z.string(), z.number()]),
  source: z.string().optional(),
  features: hex64,
  digest: hex64,
});
const jsonValue: z.ZodType<JsonValue> = z.lazy(() =>
  z.union([
    z.null(),
    z.boolean(),
    z.number(),
    z.string(),
    z.array(jsonValue),
    z.record(z.string(), jsonValue),
  ]),
);
/** Zod schema of a {@link Manifest} file. */
export const manifestSchema = z.strictObject({
  schema: z.literal(MANIFEST_SCHEMA),
  name: z.string(),
  hashAlgorithm: z.literal('sha256'),
  ignore: z.array(z.string()),
  files: z.array(
    z.strictObject({
      path: z.string().min(1),
      size: z.number().int().nonnegative(),
      digest: hex64,
    }),
  ),
  rootDigest: hex64,
  records: z
    .strictObject({
      count: z.number().int().nonnegative(),
      merkleRoot: hex64,
      items: z.array(recordSchema),
    })
    .optional(),
  meta: z.record(z.string(), jsonValue).optional(),
});

/** Root digest over file digests (model-signing v1.0): SHA-256 of the concatenated raw digests. */
export function rootDigestOf(files: readonly { digest: string }[]): string {
  const h = createHash('sha256');
  for (const f of files) h.update(Buffer.from(f.digest, 'hex'));
  return h.digest('hex');
}

/** Merkle root over record digests, in the given order. */
export function recordsRootOf(items: readonly { digest: string }[]): string {
  return merkleRootOfLeafHashes(items.map((r) => leafHash(Buffer.from(r.digest, 'hex')))).toString(
    'hex',
  );
}

/** Hashes dataset records, sorted by id; duplicate ids are rejected. */
export function hashRecords(records: Iterable<RecordInput>): ManifestRecords {
  const items: RecordDigest[] = [];
  for (const r of records) items.push(hashRecord(r));
  items.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  for (let i = 1; i < items.length; i++) {
    if (items[i]!.id === items[i - 1]!.id) {
      throw new AntidoteError('INVALID_FORMAT', `record id "${items[i]!.id}" appears twice`, {
        id: items[i]!.id,
      });
    }
  }
  return { count: items.length, merkleRoot: recordsRootOf(items), items };
}

/** Lists regular files under `dir` (POSIX relative paths, sorted); symlinks are rejected. */
export async function listFiles(dir: string, ignore: readonly string[]): Promise<string[]> {
  const skip = new Set(ignore);
  const out: string[] = [];
  const walk = async (abs: string): Promise<void> => {
    const entries = await readDirEntries(abs, {
      message: (e) => `cannot read directory ${abs}: ${e.message}`,
    });
    for (const ent of entries) {
      const full = join(abs, ent.name);
      const rel = relative(dir, full).split(sep).join(posix.sep);
      if (skip.has(rel) || (abs === dir && skip.has(ent.name))) continue;
      if (ent.isSymbolicLink()) {
        throw new AntidoteError(
          'INVALID_FORMAT',
          `${full} is a symbolic link; links are not hashed`,
          {
            path: full,
          },
        );
      }
      if (ent.isDirectory()) await walk(full);
      else if (ent.isFile()) out.push(rel);
      else {
        throw new AntidoteError('INVALID_FORMAT', `${full} is not a regular file`, { path: full });
      }
    }
  };
  const st = await lstat(dir).catch(() => undefined);
  if (!st?.isDirectory()) {
    throw new AntidoteError('NOT_FOUND', `${dir} is not a directory`, { path: dir });
  }
  await walk(dir);
  return out.sort();
}

/** Hashes `paths` (relative to `dir`) with bounded parallelism. */
export async function hashFiles(
  dir: string,
  paths: readonly string[],
  concurrency = 4,
  onDone?: (done: number) => void,
): Promise<ManifestFile[]> {
  const out = new Array<ManifestFile>(paths.length);
  let next = 0;
  let done = 0;
  const worker = async (): Promise<void> => {
    while (next < paths.length) {
      const i = next++;
      const { digest, size } = await sha256File(join(dir, paths[i]!));
      out[i] = { path: paths[i]!, size, digest };
      onDone?.(++done);
    }
  };
  await Promise.all(
    Array.from({ length: Math.max(1, Math.min(concurrency, paths.length)) }, worker),
  );
  return out;
}

/** Builds the manifest of `dir`: every file's digest, the root digest and, for datasets, records. */
export async function createManifest(
  dir: string,
  options: CreateManifestOptions = {},
): Promise<Manifest> {
  const ignore = [...new Set([...DEFAULT_IGNORE, ...(options.ignore ?? [])])].sort();
  const paths = await listFiles(dir, ignore);
  const files = await hashFiles(dir, paths, options.concurrency ?? 4, (done) =>
    options.onProgress?.({ phase: 'files', done, total: paths.length }),
  );
  const records = options.records ? hashRecords(options.records) : undefined;
  if (records)
    options.onProgress?.({ phase: 'records', done: records.count, total: records.count });
  return assembleManifest(dir, {
    ignore,
    files,
    ...(records ? { records } : {}),
    ...(options.name !== undefined ? { name: options.name } : {}),
    ...(options.meta ? { meta: options.meta } : {}),
  });
}

/**
 * The manifest of `dir` from its parts: the ignore list, the file digests in path order and the
 * hashed records (the distributed `manifest create` of `src/jobs/` hashes them on workers).
 */
export function assembleManifest(
  dir: string,
  parts: Pick<CreateManifestOptions, 'name' | 'meta'> & {
    readonly ignore: readonly string[];
    readonly files: readonly ManifestFile[];
    readonly records?: ManifestRecords;
  },
): Manifest {
  return {
    schema: MANIFEST_SCHEMA,
    name: parts.name ?? (posix.basename(dir.split(sep).join(posix.sep)) || 'root'),
    hashAlgorithm: 'sha256',
    ignore: parts.ignore,
    files: parts.files,
    rootDigest: rootDigestOf(parts.files),
    ...(parts.records ? { records: parts.records } : {}),
    ...(parts.meta ? { meta: parts.meta } : {}),
  };
}

/** Canonical JSON bytes of a manifest (what is stored and digested). */
export function manifestBytes(m: Manifest): Buffer {
  return Buffer.from(canonicalJson(m), 'utf8');
}

/** Hex SHA-256 of the canonical manifest: the manifest's identity. */
export function manifestDigest(m: Manifest): string {
  return sha256Hex(manifestBytes(m));
}

/** Parses and validates manifest JSON; fails with `INVALID_FORMAT` naming the field. */
export function parseManifest(text: string | Uint8Array, where = 'manifest'): Manifest {
  return parseWith(manifestSchema, parseJson(text, where), where, {
    head: `${where} is not a valid manifest`,
    withField: true,
  }) as Manifest;
}

/** Reads `DIR/antidote.manifest.json` (or the given file). */
export async function readManifest(path: string): Promise<Manifest> {
  const text = await readBytes(path, {
    message: (e) => `cannot read manifest ${path}: ${e.message}`,
  });
  return parseManifest(text, path);
}

/** Writes the manifest as canonical JSON to `DIR/antidote.manifest.json` atomically. */
export async function writeManifest(dir: string, m: Manifest): Promise<string> {
  const path = join(dir, MANIFEST_FILE);
  await writeFileAtomic(path, manifestBytes(m));
  return path;
}

/** One integrity problem found by {@link verifyManifest}. */
export type IntegrityProblem =
  | { kind: 'manifest-inconsistent'; message: string }
  | { kind: 'missing-file'; path: string; message: string }
  | { kind: 'extra-file'; path: string; message: string }
  | { kind: 'file-changed'; path: string; expected: string; actual: string; message: string }
  | { kind: 'record-missing'; id: string; message: string }
  | { kind: 'record-extra'; id: string; message: string }
  | { kind: 'record-changed'; id: string; fields: string[]; message: string }
  | {
      kind: 'label-changed';
      id: string;
      from: string | number;
      to: string | number;
      message: string;
    };

/** Outcome of {@link verifyManifest}. */
export interface VerifyResult {
  readonly ok: boolean;
  readonly problems: readonly IntegrityProblem[];
}

/**
 * Checks a manifest's internal consistency: every record digest matches its fields, the Merkle
 * root matches the records and the root digest matches the files. Returns the problems found.
 */
export function checkManifestConsistency(m: Manifest): IntegrityProblem[] {
  const problems: IntegrityProblem[] = [];
  for (let i = 1; i < m.files.length; i++) {
    if (!(m.files[i - 1]!.path < m.files[i]!.path)) {
      problems.push({
        kind: 'manifest-inconsistent',
        message: `manifest files are not sorted and unique at "${m.files[i]!.path}"`,
      });
    }
  }
  if (!digestEquals(rootDigestOf(m.files), m.rootDigest)) {
    problems.push({
      kind: 'manifest-inconsistent',
      message: 'manifest rootDigest does not match its file digests',
    });
  }
  if (m.records) {
    const items = m.records.items;
    for (let i = 0; i < items.length; i++) {
      const r = items[i]!;
      if (i > 0 && !(items[i - 1]!.id < r.id)) {
        problems.push({
          kind: 'manifest-inconsistent',
          message: `manifest records are not sorted and unique at id "${r.id}"`,
        });
      }
      if (!digestEquals(recordDigestOf(r), r.digest)) {
        problems.push({
          kind: 'manifest-inconsistent',
          message: `manifest entry of record "${r.id}" does not match its digest`,
        });
      }
    }
    if (
      m.records.count !== items.length ||
      !digestEquals(recordsRootOf(items), m.records.merkleRoot)
    ) {
      problems.push({
        kind: 'manifest-inconsistent',
        message: 'manifest records Merkle root does not match its records',
      });
    }
  }
  return problems;
}

/** Compares expected and actual record digests (both sorted by id). */
export function compareRecords(
  expected: readonly RecordDigest[],
  actual: readonly RecordDigest[],
): IntegrityProblem[] {
  const d = diffRecordLists(expected, actual);
  return [
    ...d.removed.map((id) => ({
      kind: 'record-missing' as const,
      id,
      message: `record "${id}" is missing`,
    })),
    ...d.added.map((id) => ({
      kind: 'record-extra' as const,
      id,
      message: `record "${id}" is not in the manifest`,
    })),
    ...d.labelChanged.map((c) => ({
      kind: 'label-changed' as const,
      id: c.id,
      from: c.from,
      to: c.to,
      message: `record "${c.id}" label changed from ${JSON.stringify(c.from)} to ${JSON.stringify(c.to)}`,
    })),
    ...d.changed.map((c) => ({
      kind: 'record-changed' as const,
      id: c.id,
      fields: c.fields,
      message: `record "${c.id}" ${c.fields.join(' and ')} changed`,
    })),
  ];
}

/**
 * Re-hashes `dir` against `m`: missing, extra and changed files and, when `records` are given,
 * missing, extra, changed and relabelled records. Also checks the manifest is self-consistent.
 */
export async function verifyManifest(
  dir: string,
  m: Manifest,
  options: { records?: Iterable<RecordInput>; concurrency?: number } = {},
): Promise<VerifyResult> {
  const problems: IntegrityProblem[] = checkManifestConsistency(m);
  const paths = await listFiles(dir, m.ignore);
  const want = new Map(m.files.map((f) => [f.path, f]));
  const present = new Set(paths);
  for (const f of m.files) {
    if (!present.has(f.path)) {
      problems.push({ kind: 'missing-file', path: f.path, message: `file ${f.path} is missing` });
    }
  }
  const toHash = paths.filter((p) => {
    if (want.has(p)) return true;
    problems.push({ kind: 'extra-file', path: p, message: `file ${p} is not in the manifest` });
    return false;
  });
  const hashed = await hashFiles(dir, toHash, options.concurrency ?? 4);
  for (const f of hashed) {
    const w = want.get(f.path)!;
    if (!digestEquals(w.digest, f.digest) || w.size !== f.size) {
      problems.push({
        kind: 'file-changed',
        path: f.path,
        expected: w.digest,
        actual: f.digest,
        message: `file ${f.path} does not match its digest (expected ${w.digest.slice(0, 16)}…, got ${f.digest.slice(0, 16)}…)`,
      });
    }
  }
  if (options.records) {
    const actual = hashRecords(options.records);
    if (!m.records) {
      problems.push({
        kind: 'manifest-inconsistent',
        message: 'the manifest holds no per-record digests to check records against',
      });
    } else if (!digestEquals(actual.merkleRoot, m.records.merkleRoot)) {
      problems.push(...compareRecords(m.records.items, actual.items));
    }
  }
  return { ok: problems.length === 0, problems };
}

/** Throws `INTEGRITY_MISMATCH` naming the first problem (all problems in `details.problems`). */
export function assertVerified(result: VerifyResult, where: string): void {
  if (result.ok) return;
  const first = result.problems[0]!;
  const more = result.problems.length > 1 ? ` (and ${result.problems.length - 1} more)` : '';
  throw new AntidoteError('INTEGRITY_MISMATCH', `${where}: ${first.message}${more}`, {
    path: where,
    problems: result.problems,
  });
}

/** Record-level differences; label changes are listed apart from other changes. */
export interface RecordDiff {
  readonly added: string[];
  readonly removed: string[];
  /** Features or source changed, label unchanged. */
  readonly changed: { id: string; fields: string[] }[];
  /** Label changed (a label-flip shows up here); `featuresChanged` tells if more changed. */
  readonly labelChanged: {
    id: string;
    from: string | number;
    to: string | number;
    featuresChanged: boolean;
  }[];
}

function diffRecordLists(a: readonly RecordDigest[], b: readonly RecordDigest[]): RecordDiff {
  const diff: RecordDiff = { added: [], removed: [], changed: [], labelChanged: [] };
  const bById = new Map(b.map((r) => [r.id, r]));
  const aIds = new Set<string>();
  for (const ra of a) {
    aIds.add(ra.id);
    const rb = bById.get(ra.id);
    if (!rb) {
      diff.removed.push(ra.id);
      continue;
    }
    if (ra.digest === rb.digest) continue;
    const fields: string[] = [];
    if (ra.features !== rb.features) fields.push('features');
    if (ra.source !== rb.source) fields.push('source');
    if (ra.label !== rb.label) {
      diff.labelChanged.push({
        id: ra.id,
        from: ra.label,
        to: rb.label,
        featuresChanged: fields.includes('features'),
      });
    } else {
      diff.changed.push({ id: ra.id, fields: fields.length ? fields : ['digest'] });
    }
  }
  for (const rb of b) if (!aIds.has(rb.id)) diff.added.push(rb.id);
  return diff;
}

/** Differences between two manifests, files and records. */
export interface ManifestDiff {
  readonly files: { added: string[]; removed: string[]; changed: string[] };
  /** Present when both manifests hold records. */
  readonly records?: RecordDiff;
  /** True when nothing differs. */
  readonly identical: boolean;
}

/** Lists added, removed and changed files and records from `a` to `b`, label changes apart. */
export function diffManifests(a: Manifest, b: Manifest): ManifestDiff {
  const fa = new Map(a.files.map((f) => [f.path, f.digest]));
  const fb = new Map(b.files.map((f) => [f.path, f.digest]));
  const files = {
    added: [...fb.keys()].filter((p) => !fa.has(p)),
    removed: [...fa.keys()].filter((p) => !fb.has(p)),
    changed: [...fa.keys()].filter((p) => fb.has(p) && fb.get(p) !== fa.get(p)),
  };
  const records =
    a.records && b.records ? diffRecordLists(a.records.items, b.records.items) : undefined;
  const identical =
    files.added.length + files.removed.length + files.changed.length === 0 &&
    (!records ||
      records.added.length +
        records.removed.length +
        records.changed.length +
        records.labelChanged.length ===
        0);
  return { files, ...(records ? { records } : {}), identical };
}
