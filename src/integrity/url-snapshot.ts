/**
 * `urls snapshot`: downloads each URL of a list once, under a default-deny policy
 * (`url-policy.ts`), stores the bytes content-addressed (`DIR/items/<sha256>`) and records the
 * SHA-256 per URL in a manifest (`url-manifest.ts`), the pin that defeats split-view poisoning
 * (Carlini et al., "Poisoning Web-Scale Training Datasets is Practical", IEEE S&P 2024).
 * Resumable: the manifest is checkpointed atomically while the run goes, and a re-run into the
 * same directory skips every URL it already holds (failed ones are retried).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { forEachConcurrent } from '../util/concurrency.js';
import { writeFileAtomic } from '../util/fs.js';
import { downloadUrl } from './url-download.js';
import { summariseByHost, type UrlHostSummary } from './url-host-summary.js';
import type { UrlItem } from './url-list.js';
import {
  buildUrlManifest,
  readUrlManifest,
  URL_MANIFEST_FILE,
  type UrlManifest,
  type UrlManifestEntry,
  writeUrlManifest,
} from './url-manifest.js';
import type { UrlFetchPolicy } from './url-policy.js';

/** Folder of the downloaded bytes inside a snapshot or fetch directory. */
export const URL_ITEMS_DIR = 'items';

/** Options of {@link snapshotUrls}. */
export interface UrlSnapshotOptions {
  /** Download limits and the host allow list. */
  readonly policy: UrlFetchPolicy;
  /** Items done (downloaded, failed or skipped) out of the list. */
  readonly onProgress?: (done: number, total: number) => void;
  /** Checkpoint the manifest after this many downloads (default 500). */
  readonly checkpointEvery?: number;
}

/** Outcome of one URL in a snapshot. */
export type UrlSnapshotOutcome = 'downloaded' | 'skipped' | 'failed';

/** What {@link snapshotUrls} did. */
export interface UrlSnapshotResult {
  readonly manifestPath: string;
  readonly manifest: UrlManifest;
  readonly total: number;
  /** Downloaded in this run. */
  readonly downloaded: number;
  /** Already in the snapshot (a resumed run). */
  readonly skipped: number;
  readonly failed: number;
  /** Per host; `failed` hosts first. */
  readonly byHost: readonly UrlHostSummary[];
}

/** The previous run's entries that need no new download (hash recorded and bytes on disk). */
async function resumable(
  dir: string,
): Promise<{ done: Map<string, UrlManifestEntry>; createdAt?: string }> {
  const path = join(dir, URL_MANIFEST_FILE);
  if (!existsSync(path)) return { done: new Map() };
  const previous = await readUrlManifest(path);
  const done = new Map<string, UrlManifestEntry>();
  for (const e of previous.entries) {
    if (e.sha256 && existsSync(join(dir, URL_ITEMS_DIR, e.sha256))) done.set(e.id, e);
  }
  return { done, createdAt: previous.createdAt };
}

/**
 * Snapshots `items` into `dir` (created when missing; a previous snapshot there is resumed). The
 * manifest lists every item, with its hash or its error. Network failures are recorded, not
 * thrown; filesystem failures throw (`IO_ERROR`), leaving the last checkpoint to resume from.
 */
export async function snapshotUrls(
  items: readonly UrlItem[],
  dir: string,
  options: UrlSnapshotOptions,
): Promise<UrlSnapshotResult> {
  const { done, createdAt = new Date().toISOString() } = await resumable(dir);
  const manifestPath = join(dir, URL_MANIFEST_FILE);
  const entries = new Map<string, UrlManifestEntry>();
  const outcome = new Map<string, UrlSnapshotOutcome>();
  let finished = 0;
  let sinceCheckpoint = 0;
  let writing: Promise<void> = Promise.resolve();
  const checkpoint = async (): Promise<UrlManifest> => {
    const m = buildUrlManifest([...entries.values()], createdAt);
    writing = writing.then(() => writeUrlManifest(manifestPath, m));
    await writing;
    return m;
  };
  const every = options.checkpointEvery ?? 500;
  const todo: UrlItem[] = [];
  for (const item of items) {
    const prev = done.get(item.id);
    if (prev && prev.url === item.url) {
      entries.set(item.id, prev);
      outcome.set(item.id, 'skipped');
      finished++;
    } else {
      todo.push(item);
    }
  }
  options.onProgress?.(finished, items.length);
  await forEachConcurrent(todo, options.policy.concurrency, async (item) => {
    const r = await downloadUrl(item.url, options.policy);
    if (r.ok) {
      const path = join(dir, URL_ITEMS_DIR, r.sha256);
      if (!existsSync(path)) await writeFileAtomic(path, r.bytes);
      entries.set(item.id, { ...item, sha256: r.sha256, size: r.bytes.byteLength });
      outcome.set(item.id, 'downloaded');
    } else {
      entries.set(item.id, { ...item, error: `${r.failure}: ${r.reason}` });
      outcome.set(item.id, 'failed');
    }
    options.onProgress?.(++finished, items.length);
    if (++sinceCheckpoint >= every) {
      sinceCheckpoint = 0;
      await checkpoint();
    }
  });
  const manifest = await checkpoint();
  const count = (o: UrlSnapshotOutcome) => [...outcome.values()].filter((v) => v === o).length;
  return {
    manifestPath,
    manifest,
    total: items.length,
    downloaded: count('downloaded'),
    skipped: count('skipped'),
    failed: count('failed'),
    byHost: summariseByHost(
      items.map((i) => ({ host: i.host, outcome: outcome.get(i.id) ?? 'failed' })),
      'downloaded',
    ),
  };
}
