import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { rejects } from '../testing/rejects.js';
import { expectThrowsCode } from '../testing/throws-code.js';
import { startUrlServer, type TestUrlServer } from '../testing/url-server.js';
import { sha256Hex } from './hash.js';
import { downloadUrl } from './url-download.js';
import { fetchVerifiedUrls } from './url-fetch.js';
import { parseUrlList } from './url-list.js';
import { readUrlManifest, URL_MANIFEST_FILE } from './url-manifest.js';
import { urlFetchPolicy } from './url-policy.js';
import { snapshotUrls, URL_ITEMS_DIR } from './url-snapshot.js';

let a: TestUrlServer; // the honest host
let b: TestUrlServer; // a second host (its domain "changes hands" in the split-view test)
let dir: string;

beforeEach(async () => {
  a = await startUrlServer();
  b = await startUrlServer();
  for (let i = 0; i < 6; i++) a.routes.set(`/img${i}.png`, { body: `a-original-${i}` });
  for (let i = 0; i < 4; i++) b.routes.set(`/img${i}.png`, { body: `b-original-${i}` });
  dir = await mkdtemp(join(tmpdir(), 'antidote-urls-'));
});

afterEach(async () => {
  await a.close();
  await b.close();
  await rm(dir, { recursive: true, force: true });
});

const policy = (extra: Partial<Parameters<typeof urlFetchPolicy>[0]> = {}) =>
  urlFetchPolicy({ allowHosts: [a.host, b.host], timeoutMs: 2000, concurrency: 3, ...extra });

const listOf = () =>
  parseUrlList(
    [
      'id,url,caption',
      ...Array.from({ length: 6 }, (_, i) => `a${i},${a.base}/img${i}.png,a cat`),
      ...Array.from({ length: 4 }, (_, i) => `b${i},${b.base}/img${i}.png,a dog`),
    ].join('\n'),
  );

describe('parseUrlList', () => {
  it('reads a CSV with url and id columns, or one URL per line', () => {
    const items = parseUrlList('id,URL\nx,http://Example.com/a\ny,https://e.org:8443/b\n');
    expect(items).toEqual([
      { id: 'x', url: 'http://Example.com/a', host: 'example.com' },
      { id: 'y', url: 'https://e.org:8443/b', host: 'e.org:8443' },
    ]);
    expect(parseUrlList('http://h/a\nhttp://h/b\n').map((i) => i.id)).toEqual(['1', '2']);
  });

  it('rejects non-http URLs, duplicate ids and empty lists', () => {
    expectThrowsCode(() => parseUrlList('url\nfile:///etc/passwd\n'), 'INVALID_FORMAT');
    expectThrowsCode(() => parseUrlList('id,url\n1,http://h/a\n1,http://h/b\n'), 'INVALID_FORMAT');
    expectThrowsCode(() => parseUrlList('url\n'), 'INVALID_FORMAT');
  });
});

describe('urlFetchPolicy', () => {
  it('rejects a malformed host and non-positive limits', () => {
    expectThrowsCode(() => urlFetchPolicy({ allowHosts: ['http://x/'] }));
    expectThrowsCode(() => urlFetchPolicy({ maxBytes: 0 }));
    expectThrowsCode(() => urlFetchPolicy({ concurrency: 1.5 }));
  });
});

describe('downloadUrl', () => {
  it('refuses everything by default (no allowed host)', async () => {
    const r = await downloadUrl(`${a.base}/img0.png`, urlFetchPolicy());
    expect(r).toMatchObject({ ok: false, failure: 'refused' });
    expect(a.requests).toBe(0);
  });

  it('refuses a host off the allow list without contacting it', async () => {
    const r = await downloadUrl(`${b.base}/img0.png`, urlFetchPolicy({ allowHosts: [a.host] }));
    expect(r).toMatchObject({ ok: false, failure: 'refused' });
    expect(b.requests).toBe(0);
  });

  it('follows a same-host redirect and refuses one to another host', async () => {
    a.routes.set('/moved', { status: 302, headers: { location: '/img1.png' } });
    a.routes.set('/away', { status: 302, headers: { location: `${b.base}/img0.png` } });
    const same = await downloadUrl(`${a.base}/moved`, policy());
    expect(same).toMatchObject({ ok: true, sha256: sha256Hex('a-original-1') });
    const off = await downloadUrl(`${a.base}/away`, policy());
    expect(off).toMatchObject({ ok: false, failure: 'refused' });
    expect(off.ok ? '' : off.reason).toMatch(/off-host/);
    expect(b.requests).toBe(0);
  });

  it('refuses an oversize body, declared or streamed, and times out a slow server', async () => {
    a.routes.set('/big', { body: 'x'.repeat(5000) });
    const big = await downloadUrl(`${a.base}/big`, policy({ maxBytes: 4096 }));
    expect(big).toMatchObject({ ok: false, failure: 'oversize' });
    a.routes.set('/chunked', {
      body: 'y'.repeat(5000),
      headers: { 'transfer-encoding': 'chunked' },
    });
    const chunked = await downloadUrl(`${a.base}/chunked`, policy({ maxBytes: 4096 }));
    expect(chunked).toMatchObject({ ok: false, failure: 'oversize' });
    a.routes.set('/slow', { body: 'late', delayMs: 1500 });
    const t0 = Date.now();
    const slow = await downloadUrl(`${a.base}/slow`, policy({ timeoutMs: 200 }));
    expect(slow).toMatchObject({ ok: false, failure: 'timeout' });
    expect(Date.now() - t0).toBeLessThan(1400);
    const missing = await downloadUrl(`${a.base}/nope`, policy());
    expect(missing).toMatchObject({ ok: false, failure: 'http', reason: 'HTTP 404' });
  });
});

describe('snapshot then fetch (split-view poisoning)', () => {
  it('pins every URL, keeps only matching bytes and reports the changed host', async () => {
    const items = listOf();
    const snap = await snapshotUrls(items, dir, { policy: policy() });
    expect(snap).toMatchObject({ total: 10, downloaded: 10, skipped: 0, failed: 0 });
    const manifest = await readUrlManifest(join(dir, URL_MANIFEST_FILE));
    expect(manifest.entries.find((e) => e.id === 'b2')?.sha256).toBe(sha256Hex('b-original-2'));
    expect(await readFile(join(dir, URL_ITEMS_DIR, sha256Hex('a-original-3')), 'utf8')).toBe(
      'a-original-3',
    );

    // Host b's domain changes hands: 3 of its 4 items now serve poison; a's item 5 disappears.
    for (let i = 0; i < 3; i++) b.routes.set(`/img${i}.png`, { body: `POISON-${i}` });
    a.routes.delete('/img5.png');
    const out = join(dir, 'fetched');
    const r = await fetchVerifiedUrls(items, manifest, out, { policy: policy() });
    expect(r).toMatchObject({ total: 10, kept: 6, changed: 3, failed: 1, unpinned: 0 });
    expect(r.byHost[0]).toEqual({ host: b.host, items: 4, outcomes: { changed: 3, kept: 1 } });
    expect(r.byHost[1]).toEqual({ host: a.host, items: 6, outcomes: { kept: 5, failed: 1 } });
    const written = await readdir(join(out, URL_ITEMS_DIR));
    expect(written).toHaveLength(6);
    for (const name of written) {
      const bytes = await readFile(join(out, URL_ITEMS_DIR, name));
      expect(sha256Hex(bytes)).toBe(name);
      expect(bytes.toString()).not.toMatch(/POISON/);
    }
    expect(r.items.find((x) => x.id === 'b0')).toMatchObject({
      outcome: 'changed',
      expected: sha256Hex('b-original-0'),
      actual: sha256Hex('POISON-0'),
    });
  });

  it('resumes: a re-run skips what it holds and retries what failed', async () => {
    a.routes.delete('/img4.png');
    const first = await snapshotUrls(listOf(), dir, { policy: policy(), checkpointEvery: 2 });
    expect(first).toMatchObject({ downloaded: 9, failed: 1 });
    a.routes.set('/img4.png', { body: 'a-original-4' });
    a.requests = 0;
    const second = await snapshotUrls(listOf(), dir, { policy: policy() });
    expect(second).toMatchObject({ downloaded: 1, skipped: 9, failed: 0 });
    expect(a.requests).toBe(1);
    expect(second.manifest.entries.every((e) => e.sha256)).toBe(true);
  });

  it('a URL the snapshot could not get is unpinned at fetch time, never kept', async () => {
    a.routes.delete('/img0.png');
    await snapshotUrls(listOf(), dir, { policy: policy() });
    a.routes.set('/img0.png', { body: 'whatever-now' });
    const manifest = await readUrlManifest(join(dir, URL_MANIFEST_FILE));
    const r = await fetchVerifiedUrls(listOf(), manifest, join(dir, 'out'), { policy: policy() });
    expect(r.items.find((x) => x.id === 'a0')?.outcome).toBe('unpinned');
    expect(r.kept).toBe(9);
  });

  it('rejects a tampered manifest, and one whose digest is not the pinned one', async () => {
    const snap = await snapshotUrls(listOf(), dir, { policy: policy() });
    const path = join(dir, URL_MANIFEST_FILE);
    const text = await readFile(path, 'utf8');
    await readUrlManifest(path, snap.manifest.digest); // the pinned digest matches
    await rejects(readUrlManifest(path, '0'.repeat(64)), 'INTEGRITY_MISMATCH', /pinned/);
    // An attacker re-pins b0 to the poison's hash without recomputing the digest.
    const tampered = text.replace(sha256Hex('b-original-0'), sha256Hex('POISON-0'));
    expect(tampered).not.toBe(text);
    await writeFile(path, tampered);
    await rejects(readUrlManifest(path), 'INTEGRITY_MISMATCH', /digest/);
    await writeFile(path, text.replace('"version": 1', '"version": 2'));
    await rejects(readUrlManifest(path), 'INVALID_FORMAT', /version/);
    expect(existsSync(path)).toBe(true);
  });
});
