import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { AntidoteError } from '../errors.js';
import { writeDirAtomic } from '../util/fs.js';
import {
  createManifest,
  diffManifests,
  type Manifest,
  type ManifestDiff,
  manifestBytes,
  manifestDigest,
  parseManifest,
  writeManifest,
} from './manifest.js';
import type { ObjectStore } from './object-store.js';
import type { RecordInput } from './record-hash.js';

/** What a version is of. */
export type VersionKind = 'dataset' | 'model';

/** An immutable committed version. */
export interface VersionRecord {
  /** `name@seq`, e.g. `mnist@3`. */
  readonly id: string;
  readonly kind: VersionKind;
  readonly name: string;
  /** 1, 2, 3… per name. */
  readonly seq: number;
  /** Digest of the canonical manifest (also its object id in the store). */
  readonly manifestDigest: string;
  /** Files root digest. */
  readonly rootDigest: string;
  readonly recordsRoot?: string;
  readonly recordCount?: number;
  readonly message: string;
  readonly author?: string;
  /** ISO 8601. */
  readonly createdAt: string;
  /** The previous version's id. */
  readonly parent?: string;
}

/** The new-version fields a caller supplies; the catalogue assigns `id` and `seq`. */
export type NewVersion = Omit<VersionRecord, 'id' | 'seq' | 'parent'>;

/**
 * The part of the catalogue versioning needs; `CatalogueStore` (registry) implements it.
 * `insertVersion` must assign `seq` = latest + 1 and insert in one transaction, and must return
 * the existing head instead when its manifest digest equals the new one (no empty versions).
 */
export interface VersionCatalogue {
  latestVersion(kind: VersionKind, name: string): VersionRecord | undefined;
  insertVersion(v: NewVersion): { version: VersionRecord; created: boolean };
  /** By id (`name@seq`), `name` (latest) or a unique manifest-digest prefix (≥ 8 hex digits). */
  findVersion(kind: VersionKind, ref: string): VersionRecord | undefined;
  listVersions(kind: VersionKind, name?: string): VersionRecord[];
}

/** Options for {@link commitVersion}. */
export interface CommitOptions {
  readonly kind?: VersionKind;
  readonly name: string;
  readonly message: string;
  readonly author?: string;
  readonly records?: Iterable<RecordInput>;
  readonly now?: () => Date;
}

/**
 * Commits `dir` as a new version: hashes it, stores every file and the manifest in the object
 * store, and inserts the version. Committing content equal to the head returns the head with
 * `created: false`.
 */
export async function commitVersion(
  dir: string,
  catalogue: VersionCatalogue,
  objects: ObjectStore,
  options: CommitOptions,
): Promise<{ version: VersionRecord; created: boolean; manifest: Manifest }> {
  const kind = options.kind ?? 'dataset';
  const manifest = await createManifest(dir, {
    name: options.name,
    ...(options.records ? { records: options.records } : {}),
  });
  const md = manifestDigest(manifest);
  const head = catalogue.latestVersion(kind, options.name);
  if (head && head.manifestDigest === md) return { version: head, created: false, manifest };
  for (const f of manifest.files) {
    if (!objects.has(f.digest)) await objects.putFile(join(dir, f.path), f.digest);
  }
  const stored = await objects.putBytes(manifestBytes(manifest));
  if (stored !== md)
    throw new AntidoteError('INVALID_STATE', 'manifest digest changed while storing');
  const r = catalogue.insertVersion({
    kind,
    name: options.name,
    manifestDigest: md,
    rootDigest: manifest.rootDigest,
    ...(manifest.records
      ? { recordsRoot: manifest.records.merkleRoot, recordCount: manifest.records.count }
      : {}),
    message: options.message,
    ...(options.author ? { author: options.author } : {}),
    createdAt: (options.now?.() ?? new Date()).toISOString(),
  });
  return { ...r, manifest };
}

/** Resolves a version reference or fails with `NOT_FOUND`. */
export function resolveVersion(
  catalogue: VersionCatalogue,
  kind: VersionKind,
  ref: string,
): VersionRecord {
  const v = catalogue.findVersion(kind, ref);
  if (!v) throw new AntidoteError('NOT_FOUND', `no ${kind} version "${ref}"`, { ref });
  return v;
}

/** Loads a version's manifest from the object store (digest-checked). */
export async function loadVersionManifest(
  v: VersionRecord,
  objects: ObjectStore,
): Promise<Manifest> {
  const m = parseManifest(await objects.readBytes(v.manifestDigest), `manifest of ${v.id}`);
  if (manifestDigest(m) !== v.manifestDigest) {
    throw new AntidoteError('INTEGRITY_MISMATCH', `manifest of ${v.id} is not canonical`, {
      version: v.id,
    });
  }
  return m;
}

/** Differences between two versions (files and records, label changes apart). */
export async function diffVersions(
  a: VersionRecord,
  b: VersionRecord,
  objects: ObjectStore,
): Promise<ManifestDiff> {
  return diffManifests(
    await loadVersionManifest(a, objects),
    await loadVersionManifest(b, objects),
  );
}

/**
 * Writes version `v` into `dst` (atomically: a temporary directory renamed at the end), every file
 * re-hashed from the object store, plus its manifest.
 */
export async function checkoutVersion(
  v: VersionRecord,
  dst: string,
  objects: ObjectStore,
  options: { overwrite?: boolean } = {},
): Promise<Manifest> {
  const m = await loadVersionManifest(v, objects);
  await writeDirAtomic(
    dst,
    async (tmp) => {
      for (const f of m.files) {
        const out = join(tmp, ...f.path.split('/'));
        await mkdir(dirname(out), { recursive: true });
        await objects.copyOut(f.digest, out);
      }
      await writeManifest(tmp, m);
    },
    { overwrite: options.overwrite ?? false },
  );
  return m;
}

/** Result of {@link collectGarbage}. */
export interface GcResult {
  /** Unreferenced objects removed (or, with `dryRun`, that would be). */
  readonly objects: number;
  /** Leftover temporary files of interrupted writes removed. */
  readonly temps: number;
  /** Bytes freed. */
  readonly bytes: number;
  /** Objects still referenced by a version. */
  readonly kept: number;
  /** Unreferenced files left alone because they are younger than the grace period. */
  readonly young: number;
  readonly dryRun: boolean;
}

/**
 * Garbage collection of the object store (issue 19, item 7): removes every object no dataset or
 * model version references (neither its manifest nor any file of it) and the temporary files of
 * interrupted writes — what a killed or failed `commit` leaves behind. Files younger than
 * `graceMs` (default one hour) are kept, so a commit running meanwhile (objects stored, version
 * not yet inserted) loses nothing. A manifest that cannot be read aborts the collection before
 * anything is removed (`NOT_FOUND` / `INTEGRITY_MISMATCH`): nothing is deleted on a guess.
 */
export async function collectGarbage(
  catalogue: VersionCatalogue,
  objects: ObjectStore,
  options: {
    graceMs?: number;
    dryRun?: boolean;
    now?: () => number;
    /** Further objects to keep (the registered models' content: registry/model-content.ts). */
    referenced?: Iterable<string>;
  } = {},
): Promise<GcResult> {
  const graceMs = options.graceMs ?? 3_600_000;
  const now = options.now?.() ?? Date.now();
  // The inventory first: an object stored after it is not swept, whatever it belongs to.
  const files = await objects.inventory();
  const referenced = new Set<string>(options.referenced ?? []);
  for (const kind of ['dataset', 'model'] as const) {
    for (const v of catalogue.listVersions(kind)) {
      referenced.add(v.manifestDigest);
      for (const f of (await loadVersionManifest(v, objects)).files) referenced.add(f.digest);
    }
  }
  let removedObjects = 0;
  let temps = 0;
  let bytes = 0;
  let kept = 0;
  let young = 0;
  for (const f of files) {
    if (f.digest && referenced.has(f.digest)) {
      kept++;
      continue;
    }
    if (now - f.mtimeMs < graceMs) {
      young++;
      continue;
    }
    if (!options.dryRun) await objects.remove(f.path);
    if (f.digest) removedObjects++;
    else temps++;
    bytes += f.bytes;
  }
  return { objects: removedObjects, temps, bytes, kept, young, dryRun: options.dryRun === true };
}
