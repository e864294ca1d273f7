import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { rejects } from '../testing/rejects.js';
import { expectThrowsCode } from '../testing/throws-code.js';
import { arraysToDataset, labelsPathFor, loadNpyArrays, loadNpzArrays } from './bare-arrays.js';
import { ndarray, writeNpy } from './npy.js';
import { writeNpz } from './npz.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'antidote-bare-'));
const images = (n: number, h: number, w: number) =>
  ndarray(
    'uint8',
    [n, h, w],
    Uint8Array.from({ length: n * h * w }, (_, i) => i % 256),
  );

describe('bare NumPy arrays', () => {
  it('reads an .npz with x and y: classes 0..K-1, HW images with a channel axis and a notice', async () => {
    const path = join(tmp(), 'digits.npz');
    await writeNpz(path, {
      x: images(4, 5, 6),
      y: ndarray('int64', [4], BigInt64Array.from([0n, 2n, 1n, 2n])),
    });
    const { dataset, notices } = await loadNpzArrays(path);
    expect(dataset.shape).toEqual([4, 5, 6, 1]);
    expect(dataset.classes).toEqual(['0', '1', '2']);
    expect([...dataset.y]).toEqual([0, 2, 1, 2]);
    expect(dataset.ids).toEqual(['0', '1', '2', '3']);
    expect(dataset.x[7]).toBe(7);
    expect(notices).toHaveLength(1);
    expect(notices[0]).toMatch(/read as HW grayscale images: shape \[4, 5, 6, 1\]/);
  });

  it('takes other array names and class names; says which arrays there are when one is missing', async () => {
    const path = join(tmp(), 'keras.npz');
    await writeNpz(path, {
      x_train: ndarray('float32', [2, 3], Float32Array.from([1, 2, 3, 4, 5, 6])),
      y_train: ndarray('uint8', [2, 1], Uint8Array.from([1, 0])),
    });
    await rejects(
      loadNpzArrays(path),
      'INVALID_FORMAT',
      /has no array "x" \(arrays: x_train, y_train\).*--x-key x_train --y-key y_train/,
    );
    const { dataset, notices } = await loadNpzArrays(path, {
      xKey: 'x_train',
      yKey: 'y_train',
      classes: ['cat', 'dog'],
    });
    expect(dataset.shape).toEqual([2, 3]);
    expect(dataset.classes).toEqual(['cat', 'dog']);
    expect([...dataset.y]).toEqual([1, 0]);
    expect(notices).toEqual([]);
  });

  it('pairs x….npy with y….npy, transposing CHW images', async () => {
    const dir = tmp();
    await writeNpy(
      join(dir, 'X_train.npy'),
      ndarray('float32', [2, 3, 5, 5], new Float32Array(150)),
    );
    await rejects(
      loadNpyArrays(join(dir, 'X_train.npy')),
      'NOT_FOUND',
      /y_train\.npy does not exist/,
    );
    await writeNpy(join(dir, 'y_train.npy'), ndarray('int32', [2], Int32Array.from([1, 1])));
    const { dataset, notices } = await loadNpyArrays(join(dir, 'X_train.npy'));
    expect(dataset.shape).toEqual([2, 5, 5, 3]);
    expect(dataset.classes).toEqual(['0', '1']);
    expect(notices[0]).toMatch(/CHW images/);
    expect(labelsPathFor('/a/feat.npy', 'lab')).toBe(join('/a', 'lab.npy'));
    expectThrowsCode(() => labelsPathFor('/a/feat.npy'), 'INVALID_ARGUMENT');
  });

  it('refuses labels that are not whole non-negative numbers, or of the wrong length', () => {
    const x = ndarray('float32', [2, 2], new Float32Array(4));
    const yf = ndarray('float64', [2], Float64Array.from([0, 1]));
    expect([...arraysToDataset(x, yf, 'w').dataset.y]).toEqual([0, 1]);
    const frac = ndarray('float64', [2], Float64Array.from([0, 0.5]));
    expectThrowsCode(() => arraysToDataset(x, frac, 'w'), 'UNSUPPORTED_DTYPE');
    const neg = ndarray('int32', [2], Int32Array.from([0, -1]));
    expectThrowsCode(() => arraysToDataset(x, neg, 'w'), 'LABEL_OUT_OF_RANGE');
    const short = ndarray('int32', [3], Int32Array.from([0, 1, 1]));
    expectThrowsCode(() => arraysToDataset(x, short, 'w'), 'SHAPE_MISMATCH');
    const flat = ndarray('float32', [4], new Float32Array(4));
    expectThrowsCode(() => arraysToDataset(flat, yf, 'w'), 'SHAPE_MISMATCH');
  });
});
