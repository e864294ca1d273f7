import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  listModelCache,
  modelCacheDir,
  parseByteSize,
  pruneModelCache,
  touchCachedModel,
} from './model-cache.js';
import type { ModelVersion, Stage } from './model-registry.js';

const digest = (c: string) => c.repeat(64);
const version = (id: string, d: string, stage: Stage) =>
  ({ id, manifestDigest: d, stage }) as unknown as ModelVersion;

let project: string;
beforeEach(async () => {
  project = await mkdtemp(join(tmpdir(), 'antidote-model-cache-'));
});
afterEach(async () => {
  await rm(project, { recursive: true, force: true });
});

/** A cached copy of `bytes` bytes last used `ageS` seconds before `now`. */
async function copy(name: string, bytes: number, ageS: number, now: Date): Promise<string> {
  const dir = join(modelCacheDir(project), name);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'model.onnx'), Buffer.alloc(bytes, 1));
  const t = new Date(now.getTime() - ageS * 1000);
  await utimes(dir, t, t);
  return dir;
}

describe('the fetched-model cache', () => {
  const now = new Date('2026-12-06T12:00:00Z');

  it('lists copies least recently used first, with the versions that share their digest', async () => {
    await copy(digest('a'), 100, 10, now);
    await copy(digest('b'), 50, 500, now);
    await mkdir(join(modelCacheDir(project), 'not-a-digest'));
    const list = await listModelCache(project, [
      version('m@1', digest('a'), 'production'),
      version('m@2', digest('a'), 'candidate'),
    ]);
    expect(list.map((e) => [e.digest[0], e.bytes, e.versions.map((v) => v.id)])).toEqual([
      ['b', 50, []],
      ['a', 100, ['m@1', 'm@2']],
    ]);
    expect(await listModelCache(join(project, 'nowhere'), [])).toEqual([]);
  });

  it('prunes unreferenced and archived copies and old leftovers, never unknown names', async () => {
    const a = await copy(digest('a'), 10, 5, now);
    const b = await copy(digest('b'), 10, 5, now);
    const c = await copy(digest('c'), 10, 5, now);
    const oldTmp = await copy(`.${digest('d')}.0123456789ab.tmp`, 10, 7200, now);
    const youngTmp = await copy(`.${digest('e')}.0123456789ab.tmp`, 10, 60, now);
    const other = await copy('keep-me', 10, 99999, now);
    const versions = [
      version('m@1', digest('a'), 'production'),
      version('m@2', digest('b'), 'archived'),
    ];
    const dry = await pruneModelCache(project, versions, { dryRun: true, now: () => now });
    expect(dry.removed.map((e) => [e.digest[0], e.reason]).sort()).toEqual([
      ['b', 'archived'],
      ['c', 'unreferenced'],
      ['d', 'leftover'],
    ]);
    expect([a, b, c, oldTmp].every((p) => existsSync(p))).toBe(true);
    const r = await pruneModelCache(project, versions, { now: () => now });
    expect(r.freedBytes).toBe(30);
    expect(r.kept.map((e) => e.digest[0]).sort()).toEqual(['a', 'e']);
    expect([a, youngTmp, other].every((p) => existsSync(p))).toBe(true);
    expect([b, c, oldTmp].some((p) => existsSync(p))).toBe(false);
    // nothing left behind by the removals themselves
    expect((await readdir(modelCacheDir(project))).sort()).toEqual(
      [digest('a'), `.${digest('e')}.0123456789ab.tmp`, 'keep-me'].sort(),
    );
  });

  it('bounds the size by removing the least recently used inactive copies, never production or staging', async () => {
    await copy(digest('a'), 100, 900, now); // production, oldest
    await copy(digest('b'), 100, 800, now); // candidate
    await copy(digest('c'), 100, 700, now); // staging
    await copy(digest('d'), 100, 10, now); // candidate, recent
    const versions = [
      version('m@1', digest('a'), 'production'),
      version('m@2', digest('b'), 'candidate'),
      version('m@3', digest('c'), 'staging'),
      version('m@4', digest('d'), 'candidate'),
    ];
    const r = await pruneModelCache(project, versions, { maxBytes: 300, now: () => now });
    expect(r.removed.map((e) => [e.digest[0], e.reason])).toEqual([['b', 'over-size']]);
    expect(r.keptBytes).toBe(300);
    // the active copies stay even when the bound cannot be met
    const tight = await pruneModelCache(project, versions, { maxBytes: 0, now: () => now });
    expect(tight.removed.map((e) => e.digest[0])).toEqual(['d']);
    expect(tight.kept.map((e) => e.digest[0])).toEqual(['a', 'c']);
  });

  it('touching a copy makes it the most recently used', async () => {
    const a = await copy(digest('a'), 1, 900, new Date());
    await copy(digest('b'), 1, 100, new Date());
    await touchCachedModel(a);
    const list = await listModelCache(project, []);
    expect(list.map((e) => e.digest[0])).toEqual(['b', 'a']);
    await expect(touchCachedModel(join(project, 'gone'))).resolves.toBeUndefined();
  });

  it('refuses a negative bound and parses sizes', async () => {
    await expect(pruneModelCache(project, [], { maxBytes: -1 })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    expect(parseByteSize('1048576')).toBe(1048576);
    expect(parseByteSize('500M')).toBe(500 * 1024 ** 2);
    expect(parseByteSize('1.5GiB')).toBe(1.5 * 1024 ** 3);
    expect(parseByteSize('2 kb')).toBe(2048);
    for (const bad of ['', '-1', '5X', '1e9', 'G']) {
      expect(() => parseByteSize(bad), bad).toThrow(/not a size/);
    }
  });
});
