import { existsSync } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import { AntidoteError } from '../../errors.js';
import { fetchVerifiedUrls, type UrlFetchResult } from '../../integrity/url-fetch.js';
import type { UrlHostSummary } from '../../integrity/url-host-summary.js';
import { readUrlList } from '../../integrity/url-list.js';
import { readUrlManifest, URL_MANIFEST_FILE } from '../../integrity/url-manifest.js';
import { DEFAULT_URL_FETCH_POLICY, urlFetchPolicy } from '../../integrity/url-policy.js';
import { snapshotUrls, type UrlSnapshotResult } from '../../integrity/url-snapshot.js';
import { writeDirAtomic, writeFileAtomic } from '../../util/fs.js';
import { parseInteger } from '../options.js';
import { type OutputOptions, printResult } from '../output.js';
import { createProgressBar, progressEnabled } from '../progress.js';

/** The report `urls fetch` writes into its output directory. */
export const URL_FETCH_REPORT_FILE = 'fetch-report.json';
/** The kept items (`id,url,host,sha256,file`) `urls fetch` writes into its output directory. */
export const URL_KEPT_FILE = 'kept.csv';

interface UrlsCliOptions extends OutputOptions {
  data?: string;
  out: string;
  allowHost: string[];
  timeout: number;
  maxBytes: number;
  concurrency: number;
  force?: boolean;
  seed: number;
}

interface FetchCliOptions extends UrlsCliOptions {
  manifest: string;
  manifestDigest?: string;
  strict?: boolean;
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];

/** The flags both subcommands share (the house convention: --data, --out, --json, ...). */
function addCommonOptions(cmd: Command): Command {
  const d = DEFAULT_URL_FETCH_POLICY;
  return cmd
    .option('--data <list>', 'the URL list (CSV with a url column, or one URL per line)')
    .option(
      '--allow-host <host>',
      'a host that may be contacted (host, host:port or *.domain); repeat for more. Required: nothing is fetched from a host not listed',
      collect,
      [],
    )
    .option('--timeout <ms>', 'deadline of one item (headers and body)', parseInteger, d.timeoutMs)
    .option('--max-bytes <n>', 'largest item accepted', parseInteger, d.maxBytes)
    .option('--concurrency <n>', 'requests in flight at once', parseInteger, d.concurrency)
    .option(
      '--seed <n>',
      'unused (no random choice is made); accepted for the convention',
      parseInteger,
      1,
    )
    .option('--json', 'print the result as JSON')
    .option('--quiet', 'no progress bar');
}

/** The list argument or `--data` (one of them, or both the same). */
function listPath(arg: string | undefined, o: UrlsCliOptions): string {
  if (arg && o.data && arg !== o.data) {
    throw new AntidoteError('INVALID_ARGUMENT', `two URL lists given: ${arg} and --data ${o.data}`);
  }
  const path = arg ?? o.data;
  if (!path) throw new AntidoteError('INVALID_ARGUMENT', 'no URL list: give LIST or --data LIST');
  return path;
}

function policyOf(o: UrlsCliOptions) {
  if (o.allowHost.length === 0) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      'no --allow-host: nothing may be fetched by default; name every host the list may use',
    );
  }
  return urlFetchPolicy({
    allowHosts: o.allowHost,
    timeoutMs: o.timeout,
    maxBytes: o.maxBytes,
    concurrency: o.concurrency,
  });
}

function hostLines(byHost: readonly UrlHostSummary[], limit = 20): string[] {
  const lines = byHost.slice(0, limit).map((h) => {
    const counts = Object.entries(h.outcomes)
      .map(([k, v]) => `${v} ${k}`)
      .join(', ');
    return `  ${h.host}: ${h.items} items (${counts})`;
  });
  if (byHost.length > limit) lines.push(`  … ${byHost.length - limit} more hosts`);
  return lines;
}

function snapshotText(r: UrlSnapshotResult): string {
  return [
    `${r.manifestPath}: ${r.total} URLs, ${r.downloaded} downloaded, ${r.skipped} already held, ${r.failed} failed (re-run to retry)`,
    `manifest digest ${r.manifest.digest}`,
    'by host:',
    ...hostLines(r.byHost),
  ].join('\n');
}

function fetchText(r: UrlFetchResult, out: string): string {
  const lines = [
    `${out}: ${r.kept} of ${r.total} items kept (hash matches the manifest); ${r.changed} changed, ${r.failed} failed, ${r.unpinned} not pinned — none of them kept`,
    'by host:',
    ...hostLines(r.byHost),
  ];
  const changed = r.items.filter((i) => i.outcome === 'changed');
  if (changed.length) {
    lines.push('changed since the snapshot (possible split-view poisoning):');
    for (const i of changed.slice(0, 20)) lines.push(`  ! ${i.id} ${i.url}`);
    if (changed.length > 20) lines.push(`  … ${changed.length - 20} more`);
  }
  return lines.join('\n');
}

function csvField(v: string): string {
  return /[",\n\r]/.test(v) ? `"${v.replaceAll('"', '""')}"` : v;
}

async function runSnapshot(arg: string | undefined, o: UrlsCliOptions): Promise<void> {
  const items = await readUrlList(listPath(arg, o));
  const policy = policyOf(o);
  if (existsSync(o.out) && !existsSync(join(o.out, URL_MANIFEST_FILE))) {
    const entries = await readdir(o.out).catch(() => ['(not a directory)']);
    if (entries.length > 0 && !o.force) {
      throw new AntidoteError(
        'ALREADY_EXISTS',
        `${o.out} exists and is not a URL snapshot; refusing to write into it (use --force)`,
        { path: o.out },
      );
    }
  }
  if (o.force) await rm(o.out, { recursive: true, force: true });
  const bar = createProgressBar('urls snapshot', items.length, progressEnabled(o));
  try {
    const r = await snapshotUrls(items, o.out, {
      policy,
      onProgress: (done, total) => bar.update(done, '', total),
    });
    bar.stop();
    printResult(o, () => snapshotText(r), {
      manifest: r.manifestPath,
      digest: r.manifest.digest,
      total: r.total,
      downloaded: r.downloaded,
      skipped: r.skipped,
      failed: r.failed,
      byHost: r.byHost,
    });
  } finally {
    bar.stop();
  }
}

/** The fetch's counts, hosts and the items not kept (the report file and `--json`). */
function fetchSummary(r: UrlFetchResult, manifest: string, manifestDigest: string) {
  const { items, ...counts } = r;
  return {
    manifest,
    manifestDigest,
    ...counts,
    notKept: items.filter((i) => i.outcome !== 'kept'),
  };
}

async function runFetch(arg: string | undefined, o: FetchCliOptions): Promise<void> {
  const items = await readUrlList(listPath(arg, o));
  const policy = policyOf(o);
  const manifestPath = existsSync(join(o.manifest, URL_MANIFEST_FILE))
    ? join(o.manifest, URL_MANIFEST_FILE)
    : o.manifest;
  const manifest = await readUrlManifest(manifestPath, o.manifestDigest);
  const bar = createProgressBar('urls fetch', items.length, progressEnabled(o));
  let result: UrlFetchResult | undefined;
  try {
    await writeDirAtomic(
      o.out,
      async (tmp) => {
        result = await fetchVerifiedUrls(items, manifest, tmp, {
          policy,
          onProgress: (done, total) => bar.update(done, '', total),
        });
        const r = result;
        const report = fetchSummary(r, manifestPath, manifest.digest);
        await writeFileAtomic(
          join(tmp, URL_FETCH_REPORT_FILE),
          `${JSON.stringify(report, null, 1)}\n`,
        );
        const kept = r.items
          .filter((i) => i.outcome === 'kept')
          .map((i) =>
            [i.id, i.url, i.host, i.expected!, `items/${i.expected}`].map(csvField).join(','),
          );
        await writeFileAtomic(
          join(tmp, URL_KEPT_FILE),
          `${['id,url,host,sha256,file', ...kept].join('\n')}\n`,
        );
      },
      { overwrite: o.force ?? false },
    );
  } finally {
    bar.stop();
  }
  const r = result!;
  printResult(o, () => fetchText(r, o.out), {
    out: o.out,
    ...fetchSummary(r, manifestPath, manifest.digest),
  });
  // A pipeline gate: the matching items are written, but the run fails when any pinned item
  // could not be kept (changed content, failed download, no pinned digest).
  const notKept = r.changed + r.failed + r.unpinned;
  if (o.strict && notKept > 0) {
    throw new AntidoteError(
      'INTEGRITY_MISMATCH',
      `--strict: ${notKept} of ${r.total} items not kept (${r.changed} changed, ${r.failed} failed, ${r.unpinned} unpinned); the ${r.kept} matching items are in ${o.out}`,
    );
  }
}

/**
 * `antidote urls snapshot|fetch`: integrity of datasets distributed as URL lists against
 * split-view poisoning (Carlini et al., "Poisoning Web-Scale Training Datasets is Practical",
 * IEEE S&P 2024). See docs/urls.md.
 */
export function registerUrlsCommand(program: Command): void {
  const cmd = program
    .command('urls')
    .description(
      'URL-list datasets: snapshot each URL’s SHA-256, fetch keeping only matching items',
    );
  addCommonOptions(
    cmd
      .command('snapshot [list]')
      .description(
        `download each URL of LIST once (allowed hosts only) into DIR/items/<sha256> and write DIR/${URL_MANIFEST_FILE} (SHA-256 per URL); a re-run resumes`,
      )
      .requiredOption('--out <dir>', 'snapshot directory (an existing snapshot is resumed)')
      .option('--force', 'discard what DIR holds and start over'),
  ).action((list: string | undefined, o: UrlsCliOptions) => runSnapshot(list, o));
  addCommonOptions(
    cmd
      .command('fetch [list]')
      .description(
        'download LIST again and keep only the items whose SHA-256 matches the manifest; report what changed, by host',
      )
      .requiredOption('--manifest <file>', `the snapshot's manifest (or its directory)`)
      .option('--manifest-digest <hex>', 'refuse a manifest whose digest is not this one')
      .option(
        '--strict',
        'exit 3 (INTEGRITY_MISMATCH) when any item is not kept (changed, failed or unpinned), after writing the matching ones',
      )
      .requiredOption(
        '--out <dir>',
        `output directory: items/<sha256>, ${URL_KEPT_FILE}, ${URL_FETCH_REPORT_FILE}`,
      )
      .option('--force', 'replace an existing output directory'),
  ).action((list: string | undefined, o: FetchCliOptions) => runFetch(list, o));
}
