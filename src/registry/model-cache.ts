/**
 * The local cache of fetched models (`.antidote/models/<manifest digest>/`): what `gate`,
 * `serve` and `promote` fetched from the catalogue's object store on a machine that did not
 * register the model (./model-content.ts). Copies are re-fetched (and re-verified) on demand,
 * so removing one loses nothing; this module lists them and prunes them, like the cache
 * commands of package managers and of the Hugging Face hub (`scan-cache` / `delete-cache`).
 * Design: ../shared/DESIGN.md.
 */
import { existsSync } from 'node:fs';
import { lstat, readdir, rename, rm, utimes } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { AntidoteError } from '../errors.js';
import { tempPathFor } from '../util/fs.js';
import type { ModelVersion, Stage } from './model-registry.js';
import { PROJECT_FOLDER } from './store.js';

/** Folder under `.antidote/` holding models fetched from the store, one per manifest digest. */
export const MODEL_CACHE_FOLDER = 'models';

/** A fetched copy's folder name: the version's manifest digest (hex SHA-256). */
const DIGEST_NAME = /^[0-9a-f]{64}$/;
/** What an interrupted fetch leaves: `writeDirAtomic`'s temporary sibling of a copy. */
const LEFTOVER_NAME = /^\.([0-9a-f]{64})\.[0-9a-f]{12}\.tmp$/;

/** Why a copy is (or would be) removed by {@link pruneModelCache}. */
export type CacheRemovalReason = 'unreferenced' | 'archived' | 'over-size' | 'leftover';

/** One entry of the model cache. */
export interface CachedModel {
  /** The manifest digest the copy was fetched for (the folder's name). */
  readonly digest: string;
  /** The folder. */
  readonly path: string;
  /** Bytes of its files (symbolic links are not followed). */
  readonly bytes: number;
  /** When it was last fetched or used (the folder's modification time). */
  readonly lastUsed: Date;
  /** The registered versions with this manifest digest, with their stages (none: unreferenced). */
  readonly versions: readonly { readonly id: string; readonly stage: Stage }[];
  /** An interrupted fetch's temporary folder, not a usable copy. */
  readonly leftover: boolean;
}

/** The cache folder of a project. */
export function modelCacheDir(projectDir: string): string {
  return resolve(projectDir, PROJECT_FOLDER, MODEL_CACHE_FOLDER);
}

/** Bytes under `path`, symbolic links counted as links (never followed). */
async function folderBytes(path: string): Promise<number> {
  const st = await lstat(path);
  if (!st.isDirectory()) return st.size;
  let total = 0;
  for (const name of await readdir(path)) total += await folderBytes(join(path, name));
  return total;
}

/**
 * The copies in the model cache of `projectDir`, least recently used first, each with the
 * registered `versions` that share its manifest digest. Names the cache does not produce are
 * ignored (never listed, never removed).
 */
export async function listModelCache(
  projectDir: string,
  versions: readonly ModelVersion[],
): Promise<CachedModel[]> {
  const dir = modelCacheDir(projectDir);
  if (!existsSync(dir)) return [];
  const byDigest = new Map<string, { id: string; stage: Stage }[]>();
  for (const v of versions) {
    const list = byDigest.get(v.manifestDigest) ?? [];
    list.push({ id: v.id, stage: v.stage });
    byDigest.set(v.manifestDigest, list);
  }
  const out: CachedModel[] = [];
  for (const name of await readdir(dir)) {
    const leftover = LEFTOVER_NAME.exec(name);
    if (!DIGEST_NAME.test(name) && !leftover) continue;
    const path = join(dir, name);
    const st = await lstat(path).catch(() => undefined);
    if (!st?.isDirectory()) continue;
    const digest = leftover ? leftover[1]! : name;
    out.push({
      digest,
      path,
      bytes: await folderBytes(path).catch(() => 0),
      lastUsed: st.mtime,
      versions: leftover ? [] : (byDigest.get(digest) ?? []),
      leftover: leftover !== null,
    });
  }
  return out.sort(
    (a, b) => a.lastUsed.getTime() - b.lastUsed.getTime() || (a.path < b.path ? -1 : 1),
  );
}

/**
 * Marks a cached copy as just used (its folder's modification time), so size-bounded pruning
 * removes the least recently used copies first. A copy that vanished meanwhile is ignored.
 */
export async function touchCachedModel(folder: string): Promise<void> {
  const now = new Date();
  await utimes(folder, now, now).catch(() => undefined);
}

/** Options of {@link pruneModelCache}. */
export interface PruneModelCacheOptions {
  /**
   * Keep the cache at or below this many bytes: after the unreferenced and archived copies,
   * the least recently used copies that serve no production or staging version are removed
   * until it fits. Production and staging copies are never removed for size.
   */
  readonly maxBytes?: number;
  /** Report what would be removed, remove nothing. */
  readonly dryRun?: boolean;
  /**
   * Leftovers of interrupted fetches younger than this are kept (a fetch may be running).
   * Default one hour.
   */
  readonly graceMs?: number;
  /** The clock (tests). */
  readonly now?: () => Date;
}

/** Result of {@link pruneModelCache}. */
export interface PruneModelCacheResult {
  readonly removed: readonly (CachedModel & { readonly reason: CacheRemovalReason })[];
  readonly kept: readonly CachedModel[];
  /** Bytes removed (or that would be, on a dry run). */
  readonly freedBytes: number;
  /** Bytes of the kept copies. */
  readonly keptBytes: number;
  readonly dryRun: boolean;
}

const ACTIVE: ReadonlySet<Stage> = new Set<Stage>(['production', 'staging']);

/**
 * Prunes the model cache of `projectDir`: removes copies no registered version references
 * (`unreferenced`: the version was deleted, or the catalogue is another one), copies only
 * archived versions reference (`archived`), leftovers of interrupted fetches older than the
 * grace period (`leftover`), and, with `maxBytes`, the least recently used remaining copies
 * that serve no production or staging version (`over-size`). Each removal renames the folder
 * away first, so a reader sees a whole copy or none (and a later load fetches it again).
 */
export async function pruneModelCache(
  projectDir: string,
  versions: readonly ModelVersion[],
  options: PruneModelCacheOptions = {},
): Promise<PruneModelCacheResult> {
  const { maxBytes, dryRun = false, graceMs = 3_600_000 } = options;
  if (maxBytes !== undefined && !(Number.isFinite(maxBytes) && maxBytes >= 0)) {
    throw new AntidoteError('INVALID_ARGUMENT', `maxBytes must be a number ≥ 0, got ${maxBytes}`);
  }
  if (!(Number.isFinite(graceMs) && graceMs >= 0)) {
    throw new AntidoteError('INVALID_ARGUMENT', `graceMs must be a number ≥ 0, got ${graceMs}`);
  }
  const now = (options.now ?? (() => new Date()))().getTime();
  const entries = await listModelCache(projectDir, versions);
  const removed: (CachedModel & { reason: CacheRemovalReason })[] = [];
  let kept: CachedModel[] = [];
  for (const e of entries) {
    if (e.leftover) {
      if (now - e.lastUsed.getTime() >= graceMs) removed.push({ ...e, reason: 'leftover' });
      else kept.push(e);
    } else if (e.versions.length === 0) removed.push({ ...e, reason: 'unreferenced' });
    else if (e.versions.every((v) => v.stage === 'archived')) {
      removed.push({ ...e, reason: 'archived' });
    } else kept.push(e);
  }
  if (maxBytes !== undefined) {
    let total = kept.reduce((s, e) => s + e.bytes, 0);
    const next: CachedModel[] = [];
    // `kept` is least recently used first: the oldest inactive copies go first.
    for (const e of kept) {
      const active = e.leftover || e.versions.some((v) => ACTIVE.has(v.stage));
      if (total > maxBytes && !active) {
        removed.push({ ...e, reason: 'over-size' });
        total -= e.bytes;
      } else next.push(e);
    }
    kept = next;
  }
  if (!dryRun) {
    for (const e of removed) {
      const away = tempPathFor(e.path);
      const moved = await rename(e.path, away).then(
        () => true,
        () => false,
      );
      if (moved) await rm(away, { recursive: true, force: true });
    }
  }
  return {
    removed,
    kept,
    freedBytes: removed.reduce((s, e) => s + e.bytes, 0),
    keptBytes: kept.reduce((s, e) => s + e.bytes, 0),
    dryRun,
  };
}

/** Parses a size such as `500M`, `2G`, `1.5GiB` or `1048576` (bytes; K/M/G/T are powers of 1024). */
export function parseByteSize(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(?:([kmgt])(?:i?b)?|b)?\s*$/i.exec(text);
  if (!m) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `not a size: ${JSON.stringify(text)} (use bytes, or a number with K, M, G or T)`,
    );
  }
  const power = m[2] ? 'kmgt'.indexOf(m[2].toLowerCase()) + 1 : 0;
  return Math.round(Number(m[1]) * 1024 ** power);
}
