#!/usr/bin/env node
// URL-list integrity benchmark (issue 18): `urls fetch` of 10,000 local items (8 KiB each, over
// two loopback hosts served by a child process) after a snapshot, with 5% of one host's items
// changed in between (split-view poisoning). Reports snapshot and fetch throughput, the fetch's
// peak RSS (measured in a child process of its own) and checks that no mismatching item is kept.
// Needs `npm run build` first. `--quick`: 1,000 items.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hasFlag, writeResult } from './common.mjs';

const lib = await import('../dist/integrity/index.js');
const sha = (b) => createHash('sha256').update(b).digest('hex');

// Child mode 1: the two loopback hosts. Item i of host h is 8 KiB derived from (h, i); after a
// line "switch" on stdin, every 20th item of host 1 serves other bytes.
if (process.argv[2] === '--server') {
  const { createServer } = await import('node:http');
  const size = 8192;
  let switched = false;
  const body = (h, i) => {
    const seed = createHash('sha256')
      .update(`${h}:${i}:${switched && h === 1 && i % 20 === 0 ? 'poison' : 'clean'}`)
      .digest();
    const out = Buffer.alloc(size);
    for (let o = 0; o < size; o += seed.length) seed.copy(out, o);
    return out;
  };
  const ports = [];
  for (const h of [0, 1]) {
    const server = createServer((req, res) => {
      const i = Number(req.url.slice(1));
      res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(body(h, i));
    });
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    ports.push(server.address().port);
  }
  process.stdout.write(`${JSON.stringify(ports)}\n`);
  process.stdin.on('data', (d) => {
    if (String(d).includes('switch')) {
      switched = true;
      process.stdout.write('switched\n');
    }
  });
  process.stdin.on('end', () => process.exit(0));
} else if (process.argv[2] === '--fetch') {
  // Child mode 2: one verified fetch, so its peak RSS is its own.
  const [, , , listPath, manifestPath, out, hosts] = process.argv;
  const items = await lib.readUrlList(listPath);
  const manifest = await lib.readUrlManifest(manifestPath);
  const policy = lib.urlFetchPolicy({ allowHosts: hosts.split(','), concurrency: 16 });
  const t = performance.now();
  const r = await lib.fetchVerifiedUrls(items, manifest, out, { policy });
  const seconds = (performance.now() - t) / 1000;
  const { items: _all, ...summary } = r;
  process.stdout.write(
    JSON.stringify({ seconds, maxRssMiB: process.resourceUsage().maxRSS / 1024, ...summary }),
  );
} else {
  const quick = hasFlag('--quick');
  const N = quick ? 1000 : 10_000;
  const log = (...a) => console.error('bench urls:', ...a);
  const dir = mkdtempSync(join(tmpdir(), 'antidote-bench-urls-'));
  const server = spawn(process.execPath, [process.argv[1], '--server'], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = [];
  server.stdout.on('data', (d) => lines.push(...String(d).trim().split('\n')));
  const waitLine = async (pred) => {
    for (;;) {
      const l = lines.find(pred);
      if (l) return l;
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  try {
    const ports = JSON.parse(await waitLine((l) => l.startsWith('[')));
    const hosts = ports.map((p) => `127.0.0.1:${p}`);
    const list = join(dir, 'list.csv');
    const rows = Array.from({ length: N }, (_, i) => `${i},http://${hosts[i % 2]}/${i >> 1}`);
    writeFileSync(list, ['id,url', ...rows].join('\n'));
    const items = await lib.readUrlList(list);
    const policy = lib.urlFetchPolicy({ allowHosts: hosts, concurrency: 16 });
    const snapDir = join(dir, 'snap');
    let t = performance.now();
    const snap = await lib.snapshotUrls(items, snapDir, { policy });
    const snapSeconds = (performance.now() - t) / 1000;
    log(`snapshot: ${snap.downloaded} items in ${snapSeconds.toFixed(2)} s`);
    server.stdin.write('switch\n');
    await waitLine((l) => l === 'switched');
    const out = join(dir, 'out');
    t = performance.now();
    const child = spawnSync(
      process.execPath,
      [process.argv[1], '--fetch', list, snap.manifestPath, out, hosts.join(',')],
      { encoding: 'utf8', maxBuffer: 64 * 2 ** 20 },
    );
    if (child.status !== 0) throw new Error(`fetch child failed: ${child.stderr}`);
    const fetch = JSON.parse(child.stdout);
    // Audit what was kept: every file's bytes hash to its name, and to the pinned hash of an id.
    const pinned = new Set(snap.manifest.entries.map((e) => e.sha256));
    const poison = new Set(
      items
        .filter((it) => it.host === hosts[1] && (Number(it.id) >> 1) % 20 === 0)
        .map((it) => it.id),
    );
    let mismatchingKept = 0;
    const files = readdirSync(join(out, 'items'));
    for (const name of files) {
      const h = sha(readFileSync(join(out, 'items', name)));
      if (h !== name || !pinned.has(h)) mismatchingKept++;
    }
    const result = {
      quick,
      items: N,
      itemBytes: 8192,
      hosts: 2,
      concurrency: 16,
      changedServed: poison.size,
      snapshot: { seconds: snapSeconds, itemsPerSecond: N / snapSeconds },
      fetch: {
        seconds: fetch.seconds,
        itemsPerSecond: N / fetch.seconds,
        MBPerSecond: (N * 8192) / 1e6 / fetch.seconds,
        maxRssMiB: Math.round(fetch.maxRssMiB),
        kept: fetch.kept,
        changed: fetch.changed,
        failed: fetch.failed,
        unpinned: fetch.unpinned,
        byHost: fetch.byHost,
      },
      filesKept: files.length,
      mismatchingKept,
    };
    log(JSON.stringify(result.fetch));
    if (mismatchingKept !== 0 || fetch.changed !== poison.size) {
      throw new Error(
        `mismatching items kept: ${mismatchingKept}; changed ${fetch.changed} of ${poison.size}`,
      );
    }
    writeResult(quick ? 'urls-quick' : 'urls', result);
  } finally {
    server.stdin.end();
    server.kill();
    rmSync(dir, { recursive: true, force: true });
  }
}
