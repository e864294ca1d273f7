/**
 * A registered model's content in the catalogue's object store (issue 22): `registry register`
 * stores every file its manifest lists, the manifest itself (so its object id is the version's
 * manifest digest) and the signature and provenance artefacts beside it; `registry pull` and the
 * commands that load a registered version on another machine (serve, gate, promote) write them
 * back, each file re-hashed against the manifest. The SQLite store keeps the objects in
 * `.antidote/objects/`, the PostgreSQL store in the database (./pg-object-store.ts), so every
 * client of a shared catalogue gets the model. Design: ../shared/DESIGN.md.
 */

import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { isOnnxPath } from '../engine/model-summary.js';
import { AntidoteError } from '../errors.js';
import {
  type Manifest,
  manifestBytes,
  manifestDigest,
  PROVENANCE_FILE,
  PROVENANCE_SIGNATURE_FILE,
  parseManifest,
  SIGNATURE_FILE,
} from '../integrity/manifest.js';
import type { ObjectStore } from '../integrity/object-store.js';
import { writeDirAtomic } from '../util/fs.js';
import { MODEL_CACHE_FOLDER, touchCachedModel } from './model-cache.js';
import { modelManifest } from './model-manifest.js';
import type { ModelVersion } from './model-registry.js';
import { PG_OBJECT_MAX_BYTES } from './pg-object-store.js';
import type { SqlDatabase } from './sql-database.js';
import { PROJECT_FOLDER } from './store.js';

/**
 * Files (and a manifest) up to this size are read into memory and stored together
 * ({@link stageModelContent}); larger ones are streamed one by one. One row of the PostgreSQL
 * store, so that they can be written in the catalogue's own transaction.
 */
const SMALL_FILE_BYTES = PG_OBJECT_MAX_BYTES;

/** At most this many bytes of small files are held and stored at once. */
const BATCH_BYTES = 16 * 1024 * 1024;

/**
 * Files beside a model that its manifest leaves out but its checks read: the signature bundle
 * (`antidote.sig`, or the OMS convention's `model.sig`) and the SLSA provenance with its
 * signature. Stored with the content when present, so a pulled copy verifies and gates as the
 * original does.
 */
export const MODEL_EXTRA_FILES: readonly string[] = [
  SIGNATURE_FILE,
  'model.sig',
  PROVENANCE_FILE,
  PROVENANCE_SIGNATURE_FILE,
];

/**
 * What a version records about its stored content (`ModelInfo.content`): the model's files are
 * the objects its manifest (object id = the version's manifest digest) lists; `extras` maps the
 * name of each stored {@link MODEL_EXTRA_FILES} file to its object digest.
 */
export interface StoredModelContent {
  readonly stored: true;
  readonly extras?: { readonly [name: string]: string };
}

/** The folder holding the model's files: the directory itself, or an ONNX file's folder. */
function filesFolder(path: string): string {
  return isOnnxPath(path) ? dirname(path) : path;
}

/**
 * A model's content staged for storing ({@link stageModelContent}): what the version will record,
 * and the last objects, held in memory, that are not stored yet (the manifest among them).
 */
export interface StagedModelContent {
  readonly content: StoredModelContent;
  /**
   * Small objects still to store (`putAllBytes` or `putAllBytesSync`), each of at most one
   * PostgreSQL row, the manifest last when it is among them.
   */
  readonly pending: readonly Uint8Array[];
  /** The manifest's object digest where the manifest is pending (undefined: stored already). */
  readonly manifestDigest: string | undefined;
}

/**
 * Stages the model at `path` (whose manifest is `manifest`) for `objects`: every listed file
 * (content-addressed, identical files are stored once), the canonical manifest, and the
 * {@link MODEL_EXTRA_FILES} present. Files over {@link SMALL_FILE_BYTES} and the extras are
 * stored now; the small files are read, checked and held with the manifest, in batches of at
 * most {@link BATCH_BYTES} (earlier batches stored now), so that the last batch is stored with
 * the version that needs it: on PostgreSQL in the version's own transaction (one commit: every
 * write to the catalogue is serialised by its lock). A file that changed since it was hashed
 * fails with `INTEGRITY_MISMATCH`.
 */
export async function stageModelContent(
  objects: ObjectStore,
  path: string,
  manifest: Manifest,
): Promise<StagedModelContent> {
  const base = filesFolder(path);
  let batch: Uint8Array[] = [];
  let batchBytes = 0;
  const add = async (data: Uint8Array) => {
    if (batchBytes + data.byteLength > BATCH_BYTES && batch.length > 0) {
      await objects.putAllBytes(batch);
      batch = [];
      batchBytes = 0;
    }
    batch.push(data);
    batchBytes += data.byteLength;
  };
  for (const f of manifest.files) {
    const p = join(base, ...f.path.split('/'));
    if (f.size > SMALL_FILE_BYTES) {
      if (!objects.has(f.digest)) await objects.putFile(p, f.digest);
      continue;
    }
    // Read at once: a small file's asynchronous read cost 20 times a synchronous one here.
    let data: Buffer;
    try {
      data = readFileSync(p);
    } catch (e) {
      throw new AntidoteError('NOT_FOUND', `cannot open ${p}: ${(e as Error).message}`, {
        path: p,
      });
    }
    if (createHash('sha256').update(data).digest('hex') !== f.digest) {
      throw new AntidoteError('INTEGRITY_MISMATCH', `${p} changed while it was being committed`, {
        path: p,
      });
    }
    await add(data);
  }
  const extras: Record<string, string> = {};
  const listed = new Set(manifest.files.map((f) => f.path));
  // One listing of the folder, not a failed lstat per absent extra (each cost as much).
  const present = new Set(
    (await readdir(base, { withFileTypes: true }))
      .filter((e) => e.isFile() && MODEL_EXTRA_FILES.includes(e.name))
      .map((e) => e.name),
  );
  for (const name of MODEL_EXTRA_FILES) {
    if (listed.has(name) || !present.has(name)) continue; // `model.sig` may be a model file
    extras[name] = await objects.putFile(join(base, name));
  }
  const mb = manifestBytes(manifest);
  const md = manifestDigest(manifest);
  // A manifest over one row (a model of thousands of files) is stored now, in chunks.
  if (mb.byteLength > SMALL_FILE_BYTES) {
    if ((await objects.putBytes(mb)) !== md) throw manifestChanged();
  } else await add(mb);
  return {
    content: { stored: true, ...(Object.keys(extras).length > 0 ? { extras } : {}) },
    pending: batch,
    manifestDigest: mb.byteLength > SMALL_FILE_BYTES ? undefined : md,
  };
}

function manifestChanged(): AntidoteError {
  return new AntidoteError('INVALID_STATE', 'the model manifest changed while it was stored');
}

/** Stores the objects `staged` still holds (synchronously with `sync`: in the caller's transaction). */
export function storeStaged(objects: ObjectStore, staged: StagedModelContent, sync: true): void;
export function storeStaged(
  objects: ObjectStore,
  staged: StagedModelContent,
  sync?: false,
): Promise<void>;
export function storeStaged(
  objects: ObjectStore,
  staged: StagedModelContent,
  sync = false,
): void | Promise<void> {
  const check = (digests: readonly string[]) => {
    if (staged.manifestDigest !== undefined && digests.at(-1) !== staged.manifestDigest) {
      throw manifestChanged();
    }
  };
  if (sync) return check(objects.putAllBytesSync(staged.pending));
  return objects.putAllBytes(staged.pending).then(check);
}

/**
 * Stores the model at `path` (whose manifest is `manifest`) in `objects`
 * ({@link stageModelContent}, then the rest at once) and returns what the version records.
 */
export async function storeModelContent(
  objects: ObjectStore,
  path: string,
  manifest: Manifest,
): Promise<StoredModelContent> {
  const staged = await stageModelContent(objects, path, manifest);
  await storeStaged(objects, staged);
  return staged.content;
}

/** `NOT_FOUND` for a version whose content is not in the store (registered before issue 22). */
function notStored(v: ModelVersion): AntidoteError {
  return new AntidoteError(
    'NOT_FOUND',
    `${v.id} was registered before models' content was stored in the catalogue, and ${v.dir} is not on this machine: register the model again (antidote registry register), or pull it on the machine that registered it`,
    { version: v.id, path: v.dir },
  );
}

/**
 * The manifest of `v` from the store, checked: its canonical digest must be the version's
 * manifest digest and its root digest the version's (`INTEGRITY_MISMATCH` otherwise).
 */
export async function storedModelManifest(
  objects: ObjectStore,
  v: ModelVersion,
): Promise<Manifest> {
  if (!v.info.content?.stored) throw notStored(v);
  const m = parseManifest(await objects.readBytes(v.manifestDigest), `manifest of ${v.id}`);
  if (manifestDigest(m) !== v.manifestDigest || m.rootDigest !== v.rootDigest) {
    throw new AntidoteError(
      'INTEGRITY_MISMATCH',
      `the stored manifest of ${v.id} does not match the version`,
      { version: v.id },
    );
  }
  return m;
}

/** The model's path inside a folder its content was written to (an ONNX model: its file). */
export function modelPathIn(folder: string, v: ModelVersion): string {
  return isOnnxPath(v.dir) ? join(folder, basename(v.dir)) : folder;
}

/** Result of {@link writeModelContent}. */
export interface WrittenModel {
  /** The path to load: `folder`, or the `.onnx` file in it. */
  readonly path: string;
  readonly files: number;
  readonly bytes: number;
}

/**
 * Writes the stored content of `v` into `folder`: every file of its manifest, each re-hashed
 * from the store (SHA-256; `INTEGRITY_MISMATCH` on a difference), and its extras. Atomic: the
 * files go to a temporary sibling folder, renamed to `folder` only when all verified, so a
 * failure leaves nothing. An existing `folder` is replaced only with `overwrite`
 * (`ALREADY_EXISTS` otherwise). `NOT_FOUND` for a version without stored content.
 */
export async function writeModelContent(
  objects: ObjectStore,
  v: ModelVersion,
  folder: string,
  options: { overwrite?: boolean } = {},
): Promise<WrittenModel> {
  const m = await storedModelManifest(objects, v);
  const { mkdir } = await import('node:fs/promises');
  await writeDirAtomic(
    folder,
    async (tmp) => {
      for (const f of m.files) {
        const out = join(tmp, ...f.path.split('/'));
        await mkdir(dirname(out), { recursive: true });
        await objects.copyOut(f.digest, out);
      }
      const listed = new Set(m.files.map((f) => f.path));
      for (const [name, digest] of Object.entries(v.info.content?.extras ?? {})) {
        if (!MODEL_EXTRA_FILES.includes(name) || listed.has(name)) {
          throw new AntidoteError('INVALID_FORMAT', `${v.id} records an unknown extra file`, {
            version: v.id,
          });
        }
        await objects.copyOut(digest, join(tmp, name));
      }
    },
    { overwrite: options.overwrite === true },
  );
  return {
    path: modelPathIn(folder, v),
    files: m.files.length,
    bytes: m.files.reduce((s, f) => s + f.size, 0),
  };
}

/** Where {@link localModelVersion} puts the files of `v` fetched into `projectDir`. */
export function modelCachePath(projectDir: string, v: ModelVersion): string {
  return modelPathIn(resolve(projectDir, PROJECT_FOLDER, MODEL_CACHE_FOLDER, v.manifestDigest), v);
}

/**
 * `v` with `dir` at its copy already fetched into `projectDir`'s cache when its registered path is
 * missing and such a copy exists; `v` unchanged otherwise. Fetches nothing: promotion and rollback
 * hash what this machine holds (the copy is hashed like the original; a missing model still
 * fails their integrity check).
 */
export function cachedModelVersion(projectDir: string, v: ModelVersion): ModelVersion {
  if (existsSync(v.dir)) return v;
  const path = modelCachePath(projectDir, v);
  return existsSync(path) ? { ...v, dir: path } : v;
}

/**
 * `v` as it can be loaded on this machine: unchanged when its path exists; otherwise its content
 * fetched from the store into `.antidote/models/<manifest digest>/` of `projectDir` (verified;
 * reused when a copy there still hashes to the version's root digest), with `dir` pointing there.
 * `NOT_FOUND` with what to do for a version registered before its content was stored.
 */
export async function localModelVersion(
  store: { readonly projectDir: string; readonly objects: ObjectStore },
  v: ModelVersion,
): Promise<ModelVersion> {
  if (existsSync(v.dir)) return v;
  if (!v.info.content?.stored) throw notStored(v);
  const folder = resolve(store.projectDir, PROJECT_FOLDER, MODEL_CACHE_FOLDER, v.manifestDigest);
  const path = modelCachePath(store.projectDir, v);
  const intact = async () => {
    if (!existsSync(path)) return false;
    const m = await modelManifest(path).catch(() => undefined);
    return m?.rootDigest === v.rootDigest;
  };
  if (await intact()) {
    await touchCachedModel(folder);
    return { ...v, dir: path };
  }
  try {
    await writeModelContent(store.objects, v, folder, { overwrite: true });
  } catch (e) {
    // Another process filled the cache at the same moment: its verified copy serves.
    if (!(await intact())) throw e;
  }
  return { ...v, dir: path };
}

/**
 * Every object the stored content of the registered models references: each version's manifest,
 * the files it lists and the extras (for the garbage collection of the local object store, which
 * `dataset gc` runs on SQLite; the shared store's collection sees them through
 * `referencedObjects` of ./pg-object-gc.ts). A manifest a version records as stored that cannot
 * be read fails (`NOT_FOUND` / `INTEGRITY_MISMATCH`), so the collection removes nothing on a guess.
 */
export async function registeredModelObjects(
  db: SqlDatabase,
  objects: ObjectStore,
): Promise<Set<string>> {
  const out = new Set<string>();
  const exists =
    db.dialect === 'postgres'
      ? "SELECT to_regclass('model_versions') IS NOT NULL AS x"
      : "SELECT COUNT(*) > 0 AS x FROM sqlite_master WHERE type = 'table' AND name = 'model_versions'";
  if (!(db.prepare(exists).get() as { x: boolean | number }).x) return out;
  const rows = db.prepare('SELECT id, manifest_digest, info FROM model_versions').all() as {
    id: string;
    manifest_digest: string;
    info: string;
  }[];
  for (const r of rows) {
    const content = (JSON.parse(r.info) as { content?: StoredModelContent }).content;
    if (!content?.stored) continue;
    for (const d of Object.values(content.extras ?? {})) out.add(d);
    if (out.has(r.manifest_digest)) continue;
    const m = parseManifest(await objects.readBytes(r.manifest_digest), `manifest of ${r.id}`);
    out.add(r.manifest_digest);
    for (const f of m.files) out.add(f.digest);
  }
  return out;
}
