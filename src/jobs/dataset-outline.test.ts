import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Dataset } from '../data/dataset.js';
import type { LoadedDataset } from '../data/load.js';
import { inspectRange, normalizeRange, valueRange } from '../data/range.js';
import { isWithheldRead } from '../data/withheld-records.js';
import {
  cachedDatasetOutline,
  datasetOutline,
  outlinedDataset,
  storeDatasetOutline,
} from './dataset-outline.js';
import { cacheSubject } from './digest-cache.js';

const root = await mkdtemp(join(tmpdir(), 'antidote-outline-'));
afterAll(() => rm(root, { recursive: true, force: true }));

/** Six 2×2 one-channel images of 0–255 values, three classes, with sources. */
function images(): LoadedDataset {
  const n = 6;
  const dataset: Dataset = {
    x: Float32Array.from({ length: n * 4 }, (_, i) => (i * 37) % 251),
    shape: [n, 2, 2, 1],
    y: Int32Array.of(0, 1, 2, 2, 1, 0),
    classes: ['cat', 'dog', 'eel'],
    ids: ['a', 'b', 'c', 'd', 'e', 'f'],
    source: ['s1', 's1', 's2', 's2', 's3', 's3'],
  };
  return {
    kind: 'dataset-dir',
    spec: 'data',
    dataset,
    attack: { kind: 'label-flip', poisoned: [1] },
  };
}

describe('dataset outlines', () => {
  it('keep all but the record values, and stand in for a read with the range the scan measured', async () => {
    const loaded = images();
    const range = normalizeRange(loaded.dataset, 'data');
    expect(range.notice).toBeDefined();
    const outline = datasetOutline(loaded, range.range, range.notice)!;
    expect(outline).toMatchObject({ shape: [6, 2, 2, 1], divideBy255: true, min: 0 });
    const stand = outlinedDataset(outline);
    expect(stand.attack).toEqual(loaded.attack);
    expect(stand.dataset.y).toEqual(loaded.dataset.y);
    expect(stand.dataset.ids).toEqual(loaded.dataset.ids);
    expect(stand.dataset.source).toEqual(loaded.dataset.source);
    let look: unknown;
    try {
      void stand.dataset.x.length;
    } catch (e) {
      look = e;
    }
    expect(isWithheldRead(look)).toBe(true);
    // tt's plan reads the range of the records as scanned (divided by 255): the same numbers.
    expect(valueRange(stand.dataset.x)).toEqual(valueRange(range.dataset.x));
    const [lo, hi] = valueRange(stand.dataset.x);
    expect([lo, hi]).toEqual([Math.min(...range.dataset.x), Math.max(...range.dataset.x)]);
  });

  it('are made for images only', () => {
    const loaded = images();
    const flat = { ...loaded, dataset: { ...loaded.dataset, shape: [6, 4] } };
    const text = {
      ...loaded,
      dataset: { ...loaded.dataset, text: ['t', 't', 't', 't', 't', 't'] },
    };
    for (const l of [flat, text]) {
      expect(datasetOutline(l, inspectRange(l.dataset), undefined)).toBeUndefined();
    }
  });

  it('are kept by the identity of the files read, and refused when those change or the entry is not whole', async () => {
    const cache = join(root, 'cache');
    const dir = join(root, 'files');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'data.npz'), 'records');
    const subject = (await cacheSubject(dir, { load: {} }))!;
    const loaded = images();
    const outline = datasetOutline(loaded, inspectRange(loaded.dataset), undefined)!;
    expect(await cachedDatasetOutline(subject, cache)).toBeUndefined();
    expect(await storeDatasetOutline(subject, outline, cache)).toBe(true);
    const back = (await cachedDatasetOutline(subject, cache))!;
    expect(back).toEqual(outline);
    expect(back.y).toBeInstanceOf(Int32Array);
    // Read with other loader options: another entry.
    const other = (await cacheSubject(dir, { load: { arrays: { x: 'a' } } }))!;
    expect(await cachedDatasetOutline(other, cache)).toBeUndefined();
    // An entry whose labels fall outside the classes (or whose ids are short) is not used.
    const [file] = (await readdir(cache)).filter((f) => f.endsWith('.json'));
    const path = join(cache, file!);
    const entry = JSON.parse(await readFile(path, 'utf8'));
    await writeFile(path, JSON.stringify({ ...entry, classes: ['cat', 'dog'] }));
    expect(await cachedDatasetOutline(subject, cache)).toBeUndefined();
    await writeFile(path, JSON.stringify({ ...entry, ids: ['a'] }));
    expect(await cachedDatasetOutline(subject, cache)).toBeUndefined();
    // Ids and sources must be strings, every one (checked in a loop, with zod's verdicts).
    for (const bad of [
      { ids: ['a', 'b', 'c', 'd', 'e', 6] },
      { ids: ['a', null, 'c', 'd', 'e', 'f'] },
      { source: ['s1', 's1', 's2', 's2', 's3', {}] },
      { source: 's1' },
    ]) {
      await writeFile(path, JSON.stringify({ ...entry, ...bad }));
      expect(await cachedDatasetOutline(subject, cache)).toBeUndefined();
    }
    await writeFile(path, JSON.stringify(entry));
    expect(await cachedDatasetOutline(subject, cache)).toEqual(outline);
    // The data rewritten: its files' identity changed, the outline is not used nor stored again.
    await writeFile(join(dir, 'data.npz'), 'other records');
    const now = (await cacheSubject(dir, { load: {} }))!;
    expect(await cachedDatasetOutline(now, cache)).toBeUndefined();
    expect(await storeDatasetOutline(subject, outline, cache)).toBe(false);
  });
});
