import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import { rejects } from '../testing/rejects.js';
import type { Dataset } from './dataset.js';
import { writeDatasetDir } from './dataset-dir.js';
import { dataDomain, loadDataset, parseTabularColumns, tabularMeta } from './load.js';
import { ndarray, writeNpy } from './npy.js';
import { writeNpz } from './npz.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'antidote-load-'));

describe('loadDataset', () => {
  it('resolves the MNIST built-ins with limits', async () => {
    const a = await loadDataset('mnist', { limit: 5 });
    expect(a.kind).toBe('builtin');
    expect(a.dataset.ids[0]).toBe('mnist-train-00000');
    expect(a.dataset.shape).toEqual([5, 28, 28, 1]);
    const b = await loadDataset('mnist:test:7');
    expect(b.dataset.ids).toHaveLength(7);
    expect(b.dataset.ids[0]).toBe('mnist-test-00000');
    expect((await loadDataset('mnist:test:7', { limit: 3 })).dataset.shape[0]).toBe(3);
    expect((await loadDataset('mnist:train', { limit: 2 })).dataset.ids[1]).toBe(
      'mnist-train-00001',
    );
  });

  it('reads a dataset directory with its attack record', async () => {
    const dir = join(tmp(), 'd');
    const ds: Dataset = {
      x: Float32Array.from([1, 2, 3, 4]),
      shape: [2, 2],
      y: Int32Array.from([0, 1]),
      classes: ['a', 'b'],
      ids: ['p', 'q'],
    };
    await writeDatasetDir(dir, ds, { attack: { attack: 'x' } });
    const got = await loadDataset(dir);
    expect(got.kind).toBe('dataset-dir');
    expect(got.attack).toEqual({ attack: 'x' });
    expect((await loadDataset(dir, { limit: 1 })).dataset.ids).toEqual(['p']);
  });

  it('reads CSV, text and PNG folders by kind', async () => {
    const d = tmp();
    writeFileSync(join(d, 't.csv'), 'a,label\n1,x\n2,y\n');
    writeFileSync(join(d, 't.tsv'), 'a\tlabel\n1\tx\n');
    writeFileSync(join(d, 't.jsonl'), '{"text":"hi","label":"x"}\n');
    const png = new PNG({ width: 2, height: 2 });
    mkdirSync(join(d, 'imgs', 'cls'), { recursive: true });
    writeFileSync(join(d, 'imgs', 'cls', 'a.png'), PNG.sync.write(png));
    expect((await loadDataset(join(d, 't.csv'))).dataset.shape).toEqual([2, 1]);
    expect(
      (await loadDataset(join(d, 't.csv'), { csv: { classes: ['y', 'x'] } })).dataset.y[0],
    ).toBe(1);
    expect((await loadDataset(join(d, 't.tsv'))).kind).toBe('csv');
    expect((await loadDataset(join(d, 't.jsonl'))).dataset.text).toEqual(['hi']);
    const imgs = await loadDataset(join(d, 'imgs'));
    expect(imgs.kind).toBe('png-folder');
    expect(imgs.dataset.shape).toEqual([1, 2, 2, 1]);
  });

  it('unknown names → NOT_FOUND listing the built-ins; other files → INVALID_ARGUMENT', async () => {
    await expect(loadDataset('cifar10')).rejects.toMatchObject({
      code: 'NOT_FOUND',
      message: expect.stringContaining('mnist, mnist:train, mnist:test'),
    });
    await expect(loadDataset('mnist:valid')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    const d = tmp();
    writeFileSync(join(d, 'x.bin'), 'x');
    await expect(loadDataset(join(d, 'x.bin'))).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(loadDataset('mnist', { limit: -2 })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
  });

  it('a directory with data.npz but no dataset.json says what is missing', async () => {
    const d = tmp();
    writeFileSync(join(d, 'data.npz'), 'x');
    await expect(loadDataset(d)).rejects.toMatchObject({
      code: 'NOT_FOUND',
      message: expect.stringContaining('dataset.json'),
    });
  });
});

describe('loadDataset: text and tabular data', () => {
  it('splits a named dataset with :train / :test (disjoint, stratified, fixed) before a limit', async () => {
    const train = await loadDataset('sentiment:yelp:train');
    const test = await loadDataset('sentiment:yelp:test');
    expect(train.dataset.ids).toHaveLength(800);
    expect(test.dataset.ids).toHaveLength(200);
    const seen = new Set(train.dataset.ids);
    expect(test.dataset.ids.some((id) => seen.has(id))).toBe(false);
    expect(test.dataset.y.reduce((a, b) => a + b, 0)).toBe(100);
    expect(test.meta).toMatchObject({ dataset: 'sentiment', type: 'text', split: 'test' });
    const first = await loadDataset('sentiment:test:50');
    expect(first.dataset.ids).toHaveLength(50);
    expect((await loadDataset('sentiment:test', { limit: 7 })).dataset.ids).toEqual(
      first.dataset.ids.slice(0, 7),
    );
    await expect(loadDataset('sentiment:train:test')).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
  });

  it('CSV files and dataset directories with meta.columns are tabular', async () => {
    const d = tmp();
    writeFileSync(join(d, 't.csv'), 'amount,age,label\n1,20,x\n2,30,y\n');
    const csv = await loadDataset(join(d, 't.csv'));
    expect(csv.columns).toEqual([
      { name: 'amount', kind: 'numeric' },
      { name: 'age', kind: 'numeric' },
    ]);
    expect(dataDomain(csv)).toBe('tabular');
    const dir = join(d, 'tab');
    await writeDatasetDir(dir, csv.dataset, { meta: tabularMeta(csv.columns!) });
    expect((await loadDataset(dir)).columns).toEqual(csv.columns);
    const text = await loadDataset('sentiment:10');
    expect(dataDomain(text)).toBe('text');
    expect(dataDomain(await loadDataset('mnist:test:2'))).toBe('features');
    // A schema that does not match the records, or is not one.
    const bad = join(d, 'bad');
    await writeDatasetDir(bad, csv.dataset, { meta: tabularMeta(csv.columns!.slice(0, 1)) });
    await expect(loadDataset(bad)).rejects.toMatchObject({ code: 'SHAPE_MISMATCH' });
    const worse = join(d, 'worse');
    await writeDatasetDir(worse, csv.dataset, { meta: { columns: [{ name: 'a' }] } });
    await expect(loadDataset(worse)).rejects.toMatchObject({ code: 'INVALID_FORMAT' });
    expect(() =>
      parseTabularColumns(
        [
          { name: 'a', kind: 'numeric' },
          { name: 'a', kind: 'numeric' },
        ],
        'x',
      ),
    ).toThrow(/share a name/);
    expect(() =>
      parseTabularColumns([{ name: 'a', kind: 'categorical', levels: ['x', 'y', 'x'] }], 'x'),
    ).toThrow(/"a" lists a level twice/);
  });
});

describe('loadDataset: bare arrays and half-made dataset directories (issue 21)', () => {
  const xy = {
    x: ndarray('float32', [3, 4, 4], new Float32Array(48)),
    y: ndarray('int32', [3], Int32Array.from([0, 1, 1])),
  };

  it('reads a bare .npz and a folder of x.npy + y.npy, with layout notices', async () => {
    const dir = tmp();
    await writeNpz(join(dir, 'd.npz'), xy);
    const npz = await loadDataset(join(dir, 'd.npz'), { limit: 2 });
    expect(npz.kind).toBe('arrays');
    expect(npz.dataset.shape).toEqual([2, 4, 4, 1]);
    expect(npz.notices?.[0]).toMatch(/HW grayscale/);
    const pair = join(dir, 'pair');
    mkdirSync(pair);
    await writeNpy(join(pair, 'x.npy'), xy.x);
    await writeNpy(join(pair, 'y.npy'), xy.y);
    const got = await loadDataset(pair, { arrays: { classes: ['no', 'yes'] } });
    expect(got.kind).toBe('arrays');
    expect(got.dataset.classes).toEqual(['no', 'yes']);
    expect((await loadDataset(join(pair, 'x.npy'))).dataset.shape).toEqual([3, 4, 4, 1]);
  });

  it('says what a dataset directory holds when one of its two files is missing', async () => {
    const dir = join(tmp(), 'only-data');
    mkdirSync(dir);
    await writeNpz(join(dir, 'data.npz'), xy);
    await rejects(
      loadDataset(dir),
      'NOT_FOUND',
      /has data\.npz but no dataset\.json: a dataset directory holds data\.npz \(arrays x.*\{"classes": \[.*Also accepted: the \.npz file itself/,
    );
    const other = join(tmp(), 'only-json');
    mkdirSync(other);
    writeFileSync(join(other, 'dataset.json'), '{"classes": ["a"]}');
    await rejects(loadDataset(other), 'NOT_FOUND', /has dataset\.json but no data\.npz/);
  });

  it('gives [N, H, W] records of a dataset directory a channel axis, with a notice', async () => {
    const dir = join(tmp(), 'hw');
    mkdirSync(dir);
    await writeNpz(join(dir, 'data.npz'), xy);
    writeFileSync(join(dir, 'dataset.json'), '{"classes": ["a", "b"]}');
    const got = await loadDataset(dir);
    expect(got.kind).toBe('dataset-dir');
    expect(got.dataset.shape).toEqual([3, 4, 4, 1]);
    expect(got.notices).toHaveLength(1);
    const forced = await loadDataset(dir, { arrays: { layout: 'hw' } });
    expect(forced.dataset.shape).toEqual([3, 4, 4, 1]);
    expect(forced.notices).toBeUndefined();
  });

  it('names .npz and .npy among the kinds it knows', async () => {
    const f = join(tmp(), 'data.parquet');
    writeFileSync(f, 'x');
    await rejects(loadDataset(f), 'INVALID_ARGUMENT', /\.npz or \.npy file/);
  });
});
