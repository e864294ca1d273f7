import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  FASHION_MNIST_CLASSES,
  FASHION_MNIST_DIR,
  fashionMnistDir,
  fashionMnistFiles,
  loadFashionMnist,
} from './fashion-mnist.js';
import { encodeIdx } from './idx.js';
import { BUILTIN_DATASETS, loadDataset } from './load.js';
import { ndarray } from './npy.js';

/** A folder with a synthetic gzipped Fashion-MNIST-like train split (3 images of 2×2). */
function syntheticDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'antidote-fmnist-'));
  const images = ndarray(
    'uint8',
    [3, 2, 2],
    Uint8Array.from([0, 255, 51, 102, 10, 20, 30, 40, 255, 255, 0, 0]),
  );
  const labels = ndarray('uint8', [3], Uint8Array.from([9, 0, 5]));
  const files = fashionMnistFiles('train', dir);
  writeFileSync(files.images, gzipSync(encodeIdx(images)));
  writeFileSync(files.labels, gzipSync(encodeIdx(labels)));
  return dir;
}

describe('Fashion-MNIST', () => {
  it('names the ten classes in label order', () => {
    expect(FASHION_MNIST_CLASSES).toHaveLength(10);
    expect(FASHION_MNIST_CLASSES[0]).toBe('T-shirt/top');
    expect(FASHION_MNIST_CLASSES[1]).toBe('Trouser');
    expect(FASHION_MNIST_CLASSES[9]).toBe('Ankle boot');
  });

  it('reads gzipped IDX files: [N, H, W, 1] in [0, 1], class names, ids and source', async () => {
    const dir = syntheticDir();
    const ds = await loadFashionMnist('train', { dir });
    expect(ds.shape).toEqual([3, 2, 2, 1]);
    expect(Array.from(ds.y)).toEqual([9, 0, 5]);
    expect(ds.classes).toEqual(FASHION_MNIST_CLASSES);
    expect(ds.x[1]).toBeCloseTo(1, 6);
    expect(ds.x[2]).toBeCloseTo(0.2, 6);
    expect(ds.ids).toEqual([
      'fashion-mnist-train-00000',
      'fashion-mnist-train-00001',
      'fashion-mnist-train-00002',
    ]);
    expect(ds.source?.[0]).toBe('dataset-fashion-mnist');
    const two = await loadFashionMnist('train', { dir, limit: 2 });
    expect(two.shape).toEqual([2, 2, 2, 1]);
  });

  it('is NOT_FOUND naming the Debian package when the files are absent', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'antidote-fmnist-none-'));
    await expect(loadFashionMnist('test', { dir })).rejects.toMatchObject({
      code: 'NOT_FOUND',
      message: expect.stringContaining('apt-get install dataset-fashion-mnist'),
    });
    await expect(loadFashionMnist('valid' as 'train', { dir })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
  });

  it('takes its folder from ANTIDOTE_FASHION_MNIST, else the Debian path', () => {
    expect(fashionMnistDir({})).toBe(FASHION_MNIST_DIR);
    expect(fashionMnistDir({ ANTIDOTE_FASHION_MNIST: '/x' })).toBe('/x');
  });

  it('is a built-in of loadDataset (fashion-mnist:train:N)', async () => {
    expect(BUILTIN_DATASETS).toContain('fashion-mnist:test');
    const before = process.env.ANTIDOTE_FASHION_MNIST;
    process.env.ANTIDOTE_FASHION_MNIST = syntheticDir();
    try {
      const loaded = await loadDataset('fashion-mnist:train:2');
      expect(loaded.kind).toBe('builtin');
      expect(loaded.dataset.shape).toEqual([2, 2, 2, 1]);
      expect(loaded.dataset.classes[0]).toBe('T-shirt/top');
    } finally {
      if (before === undefined) delete process.env.ANTIDOTE_FASHION_MNIST;
      else process.env.ANTIDOTE_FASHION_MNIST = before;
    }
  });

  const real = existsSync(fashionMnistFiles('test', FASHION_MNIST_DIR).images);
  it.skipIf(!real)('reads the Debian package files (t10k: 10,000 records)', async () => {
    const ds = await loadFashionMnist('test', { dir: FASHION_MNIST_DIR, limit: 100 });
    expect(ds.shape).toEqual([100, 28, 28, 1]);
    const full = await loadFashionMnist('test', { dir: FASHION_MNIST_DIR });
    expect(full.shape[0]).toBe(10000);
    const counts = new Array(10).fill(0);
    for (const v of full.y) counts[v]++;
    expect(counts).toEqual(new Array(10).fill(1000));
  });
});
