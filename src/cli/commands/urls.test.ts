import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isAntidoteError } from '../../errors.js';
import { sha256Hex } from '../../integrity/hash.js';
import { URL_MANIFEST_FILE } from '../../integrity/url-manifest.js';
import { runJson } from '../../testing/run-program.js';
import { startUrlServer, type TestUrlServer } from '../../testing/url-server.js';
import { registerUrlsCommand, URL_FETCH_REPORT_FILE, URL_KEPT_FILE } from './urls.js';

const program = () => {
  const p = new Command('antidote').exitOverride();
  registerUrlsCommand(p);
  return p;
};

let a: TestUrlServer;
let b: TestUrlServer;
let dir: string;
let list: string;

beforeEach(async () => {
  a = await startUrlServer();
  b = await startUrlServer();
  for (let i = 0; i < 3; i++) a.routes.set(`/${i}`, { body: `a${i}` });
  for (let i = 0; i < 3; i++) b.routes.set(`/${i}`, { body: `b${i}` });
  dir = await mkdtemp(join(tmpdir(), 'antidote-urls-cli-'));
  list = join(dir, 'list.csv');
  const rows = [0, 1, 2].flatMap((i) => [`a${i},${a.base}/${i}`, `b${i},${b.base}/${i}`]);
  await writeFile(list, ['id,url', ...rows].join('\n'));
});

afterEach(async () => {
  await a.close();
  await b.close();
  await rm(dir, { recursive: true, force: true });
});

const hosts = () => ['--allow-host', a.host, '--allow-host', b.host];

describe('antidote urls', () => {
  it('snapshot then fetch: keeps matching items, reports the changed host, refuses to overwrite', async () => {
    const snap = join(dir, 'snap');
    const s = await runJson(program(), ['urls', 'snapshot', list, '--out', snap, ...hosts()]);
    expect(s.err).toBeUndefined();
    expect(s.out).toMatchObject({ total: 6, downloaded: 6, failed: 0 });

    b.routes.set('/0', { body: 'poison' });
    b.routes.set('/1', { body: 'poison too' });
    const out = join(dir, 'out');
    // biome-ignore format: one command line
    const fetchArgs = (to: string, ...extra: string[]) => ['urls', 'fetch', '--data', list, '--manifest', snap, '--out', to, ...hosts(), ...extra];
    const args = fetchArgs(out);
    const f = await runJson(program(), args);
    expect(f.err).toBeUndefined();
    expect(f.out).toMatchObject({ total: 6, kept: 4, changed: 2, failed: 0 });
    expect(f.out.byHost[0]).toEqual({ host: b.host, items: 3, outcomes: { changed: 2, kept: 1 } });
    expect((await readdir(join(out, 'items'))).sort()).toEqual(
      ['a0', 'a1', 'a2', 'b2'].map((x) => sha256Hex(x)).sort(),
    );
    const kept = await readFile(join(out, URL_KEPT_FILE), 'utf8');
    expect(kept.trim().split('\n')).toHaveLength(5);
    const report = JSON.parse(await readFile(join(out, URL_FETCH_REPORT_FILE), 'utf8'));
    expect(report.notKept.map((i: { id: string }) => i.id).sort()).toEqual(['b0', 'b1']);

    const again = await runJson(program(), args);
    expect(isAntidoteError(again.err, 'ALREADY_EXISTS')).toBe(true);

    // --strict makes the changed items fail the run, after the matching ones are written.
    const strictOut = join(dir, 'strict');
    const strict = await runJson(program(), fetchArgs(strictOut, '--strict'));
    expect(isAntidoteError(strict.err, 'INTEGRITY_MISMATCH')).toBe(true);
    expect((strict.err as Error).message).toMatch(/2 of 6 items not kept \(2 changed/);
    expect((await readdir(join(strictOut, 'items'))).length).toBe(4);
    b.routes.set('/0', { body: 'b0' });
    b.routes.set('/1', { body: 'b1' });
    const clean = await runJson(program(), fetchArgs(join(dir, 'clean'), '--strict'));
    expect(clean.err).toBeUndefined();
    expect(clean.out).toMatchObject({ kept: 6, changed: 0 });
  });

  it('default deny: no --allow-host is an error, a host left off is never contacted', async () => {
    const none = await runJson(program(), ['urls', 'snapshot', list, '--out', join(dir, 's')]);
    expect(isAntidoteError(none.err, 'INVALID_ARGUMENT')).toBe(true);
    expect((none.err as Error).message).toMatch(/--allow-host/);
    const s = await runJson(program(), [
      'urls',
      'snapshot',
      list,
      '--out',
      join(dir, 's'),
      '--allow-host',
      a.host,
    ]);
    expect(s.out).toMatchObject({ downloaded: 3, failed: 3 });
    expect(b.requests).toBe(0);
    const manifest = JSON.parse(await readFile(join(dir, 's', URL_MANIFEST_FILE), 'utf8'));
    expect(manifest.entries.find((e: { id: string }) => e.id === 'b0').error).toMatch(/allow list/);
  });

  it('refuses a tampered manifest and a snapshot into a foreign folder', async () => {
    const snap = join(dir, 'snap');
    await runJson(program(), ['urls', 'snapshot', list, '--out', snap, ...hosts()]);
    const path = join(snap, URL_MANIFEST_FILE);
    const text = await readFile(path, 'utf8');
    await writeFile(path, text.replace(sha256Hex('b0'), sha256Hex('poison')));
    const out = join(dir, 'out');
    const f = await runJson(program(), [
      'urls',
      'fetch',
      list,
      '--manifest',
      path,
      '--out',
      out,
      ...hosts(),
    ]);
    expect(isAntidoteError(f.err, 'INTEGRITY_MISMATCH')).toBe(true);
    expect(existsSync(out)).toBe(false);
    const foreign = await runJson(program(), ['urls', 'snapshot', list, '--out', dir, ...hosts()]);
    expect(isAntidoteError(foreign.err, 'ALREADY_EXISTS')).toBe(true);
  });
});
