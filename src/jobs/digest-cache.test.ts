import { chmod, mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  cachedModelDigest,
  cachedRangeDigests,
  cacheSubject,
  filesIdentity,
  MAX_CACHE_ENTRIES,
  specFiles,
  storeModelDigest,
  storeRangeDigests,
} from './digest-cache.js';

const root = await mkdtemp(join(tmpdir(), 'antidote-digest-cache-'));
afterAll(() => rm(root, { recursive: true, force: true }));

const digests = { records: 3, divideBy255: true, shard: 1024, digests: ['a'.repeat(64)] };

describe('the cache of verified model digests', () => {
  it('hits while the model files keep their identity, misses once one is rewritten', async () => {
    const cache = join(root, 'cache-model');
    const dir = join(root, 'model');
    await mkdir(dir, { recursive: true });
    const files = [join(dir, 'model.json'), join(dir, 'weights.bin')];
    await writeFile(files[0]!, '{}');
    await writeFile(files[1]!, 'w1');
    const identity = (await filesIdentity(files))!;
    const m = { files, identity, digest: 'b'.repeat(64) };
    expect(await cachedModelDigest(dir, {}, cache)).toBeUndefined();
    expect(await storeModelDigest(dir, {}, m, cache)).toBe(true);
    expect(await cachedModelDigest(dir, {}, cache)).toEqual(m);
    // Loaded with other options: another entry.
    expect(await cachedModelDigest(dir, { layout: 'nhwc' }, cache)).toBeUndefined();
    // A weights file rewritten: a miss, and an identity taken before it is not stored again.
    await writeFile(files[1]!, 'w2');
    expect(await cachedModelDigest(dir, {}, cache)).toBeUndefined();
    expect(await storeModelDigest(dir, {}, m, cache)).toBe(false);
  });
});

describe('the cache of verified range digests', () => {
  it('hits for the same files read the same way, misses once a file is rewritten', async () => {
    const cache = join(root, 'cache-1');
    const file = join(root, 'data.npy');
    await writeFile(file, 'one');
    const subject = (await cacheSubject(file, { load: {} }))!;
    expect(await cachedRangeDigests(subject, cache)).toBeUndefined();
    expect(await storeRangeDigests(subject, digests, cache)).toBe(true);
    expect((await stat(join(cache))).mode & 0o777).toBe(0o700);
    expect(await cachedRangeDigests((await cacheSubject(file, { load: {} }))!, cache)).toEqual(
      digests,
    );
    // Read another way: another entry.
    expect(await cachedRangeDigests((await cacheSubject(file, { load: { x: 1 } }))!, cache)).toBe(
      undefined,
    );
    // The same bytes written again: a new identity (times), a miss.
    await writeFile(file, 'one');
    expect(await cachedRangeDigests((await cacheSubject(file, { load: {} }))!, cache)).toBe(
      undefined,
    );
  });

  it('stores nothing when the files changed after the identity was taken', async () => {
    const cache = join(root, 'cache-2');
    const file = join(root, 'moving.npy');
    await writeFile(file, 'one');
    const subject = (await cacheSubject(file, {}))!;
    await writeFile(file, 'two!');
    expect(await storeRangeDigests(subject, digests, cache)).toBe(false);
    expect(await cachedRangeDigests(subject, cache)).toBeUndefined();
  });

  it('uses no folder that others may write', async () => {
    const cache = join(root, 'cache-3');
    const file = join(root, 'open.npy');
    await writeFile(file, 'x');
    const subject = (await cacheSubject(file, {}))!;
    expect(await storeRangeDigests(subject, digests, cache)).toBe(true);
    await chmod(cache, 0o777);
    expect(await cachedRangeDigests(subject, cache)).toBeUndefined();
    expect(await storeRangeDigests(subject, digests, cache)).toBe(false);
  });

  it('knows the files of built-in splits, files and folders, not of named datasets', async () => {
    expect((await specFiles('mnist:train:100'))!.map((f) => f.split('/').pop())).toEqual([
      'train-images-idx3-ubyte',
      'train-labels-idx1-ubyte',
    ]);
    const dir = join(root, 'folder');
    await writeFile(join(root, 'top.npy'), 'x');
    await rm(dir, { recursive: true, force: true });
    await mkdir(join(dir, 'sub'), { recursive: true });
    await writeFile(join(dir, 'b.json'), '{}');
    await writeFile(join(dir, 'sub', 'a.bin'), 'x');
    expect((await specFiles(dir))!.map((f) => f.slice(dir.length))).toEqual([
      '/b.json',
      '/sub/a.bin',
    ]);
    expect(await specFiles('sentiment')).toBeUndefined();
    expect(await filesIdentity([join(root, 'missing')])).toBeUndefined();
  });
});

describe('the cache’s size', () => {
  it('keeps the newest entries only', async () => {
    const cache = join(root, 'cache-4');
    const file = join(root, 'many.npy');
    await writeFile(file, 'x');
    for (let k = 0; k <= MAX_CACHE_ENTRIES; k++) {
      const subject = (await cacheSubject(file, { k }))!;
      expect(await storeRangeDigests(subject, digests, cache)).toBe(true);
    }
    expect((await readdir(cache)).filter((n) => n.endsWith('.json'))).toHaveLength(
      MAX_CACHE_ENTRIES,
    );
    const newest = (await cacheSubject(file, { k: MAX_CACHE_ENTRIES }))!;
    expect(await cachedRangeDigests(newest, cache)).toEqual(digests);
  });
});
