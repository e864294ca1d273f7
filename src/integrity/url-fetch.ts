/**
 * `urls fetch`: downloads a URL list again and keeps only the items whose bytes hash to the
 * manifest's SHA-256 (`url-manifest.ts`), the defence Carlini et al. (IEEE S&P 2024) propose
 * against split-view poisoning: a domain that changed hands since the snapshot serves other bytes,
 * which are dropped and reported by host, so a bought domain shows up as one host whose items all
 * changed. Nothing that mismatches is written.
 */
import { join } from 'node:path';
import { forEachConcurrent } from '../util/concurrency.js';
import { writeFileAtomic } from '../util/fs.js';
import { digestEquals } from './hash.js';
import { type DownloadFailure, downloadUrl } from './url-download.js';
import { summariseByHost, type UrlHostSummary } from './url-host-summary.js';
import type { UrlItem } from './url-list.js';
import type { UrlManifest } from './url-manifest.js';
import type { UrlFetchPolicy } from './url-policy.js';
import { URL_ITEMS_DIR } from './url-snapshot.js';

/**
 * Outcome of one URL: `kept` (hash matches), `changed` (other bytes: dropped), `failed` (no
 * bytes: dropped), `unpinned` (the manifest has no hash for this id and URL: dropped).
 */
export type UrlFetchOutcome = 'kept' | 'changed' | 'failed' | 'unpinned';

/** What happened to one URL. */
export interface UrlFetchItemResult {
  readonly id: string;
  readonly url: string;
  readonly host: string;
  readonly outcome: UrlFetchOutcome;
  /** The manifest's hash. */
  readonly expected?: string;
  /** The hash of the bytes served now (`changed`). */
  readonly actual?: string;
  /** Why it failed (`failed`) or is unpinned. */
  readonly failure?: DownloadFailure;
  readonly reason?: string;
}

/** What {@link fetchVerifiedUrls} did. */
export interface UrlFetchResult {
  readonly total: number;
  readonly kept: number;
  readonly changed: number;
  readonly failed: number;
  readonly unpinned: number;
  /** Per host, the hosts with most items not kept first. */
  readonly byHost: readonly UrlHostSummary[];
  /** Every item, in list order. */
  readonly items: readonly UrlFetchItemResult[];
}

/** Options of {@link fetchVerifiedUrls}. */
export interface UrlFetchOptions {
  /** Download limits and the host allow list. */
  readonly policy: UrlFetchPolicy;
  /** Items done out of the list. */
  readonly onProgress?: (done: number, total: number) => void;
}

/**
 * Downloads `items` and writes those matching `manifest` to `outDir/items/<sha256>` (atomically;
 * bytes that do not match are never written). Network failures are outcomes, not errors.
 */
export async function fetchVerifiedUrls(
  items: readonly UrlItem[],
  manifest: UrlManifest,
  outDir: string,
  options: UrlFetchOptions,
): Promise<UrlFetchResult> {
  const pinned = new Map(manifest.entries.map((e) => [e.id, e]));
  const results = new Array<UrlFetchItemResult>(items.length);
  let done = 0;
  await forEachConcurrent(items, options.policy.concurrency, async (item, i) => {
    results[i] = await fetchOne(item, pinned.get(item.id), outDir, options.policy);
    options.onProgress?.(++done, items.length);
  });
  const count = (o: UrlFetchOutcome) => results.filter((r) => r.outcome === o).length;
  return {
    total: items.length,
    kept: count('kept'),
    changed: count('changed'),
    failed: count('failed'),
    unpinned: count('unpinned'),
    byHost: summariseByHost(results, 'kept'),
    items: results,
  };
}

async function fetchOne(
  item: UrlItem,
  pin: UrlManifest['entries'][number] | undefined,
  outDir: string,
  policy: UrlFetchPolicy,
): Promise<UrlFetchItemResult> {
  const base = { id: item.id, url: item.url, host: item.host };
  if (!pin?.sha256) {
    const reason = pin
      ? `the snapshot did not get it (${pin.error ?? 'no hash'})`
      : 'not in the manifest';
    return { ...base, outcome: 'unpinned', reason };
  }
  if (pin.url !== item.url) {
    return { ...base, outcome: 'unpinned', reason: `the manifest pins ${pin.url} for this id` };
  }
  const r = await downloadUrl(item.url, policy);
  if (!r.ok) {
    return {
      ...base,
      outcome: 'failed',
      expected: pin.sha256,
      failure: r.failure,
      reason: r.reason,
    };
  }
  if (!digestEquals(r.sha256, pin.sha256)) {
    return { ...base, outcome: 'changed', expected: pin.sha256, actual: r.sha256 };
  }
  await writeFileAtomic(join(outDir, URL_ITEMS_DIR, r.sha256), r.bytes);
  return { ...base, outcome: 'kept', expected: pin.sha256 };
}
