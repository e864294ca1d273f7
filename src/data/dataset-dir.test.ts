import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { Dataset } from './dataset.js';
import { DatasetJsonSchema, isDatasetDir, readDatasetDir, writeDatasetDir } from './dataset-dir.js';
import { type NdArray, ndarray } from './npy.js';
import { encodeNpz } from './npz.js';

/** NumPy-written fixtures: ../shared/reference/npy from the repo root when present, else the in-repo copy. */
const SHARED = fileURLToPath(new URL('../../../shared/reference/npy/', import.meta.url));
const FIXTURES = existsSync(SHARED)
  ? SHARED
  : fileURLToPath(new URL('./fixtures/npy/', import.meta.url));
const tmp = () => mkdtempSync(join(tmpdir(), 'antidote-dsdir-'));

const small: Dataset = {
  x: Float32Array.from([0, 0.5, 1, 0.25, 0.75, 1, 0, 0, 0.125, 1, 1, 1]),
  shape: [3, 2, 2, 1],
  y: Int32Array.from([1, 0, 1]),
  classes: ['cat', 'dog'],
  ids: ['a', 'b', 'c'],
  source: ['alice', 'bob', 'alice'],
};

/** A dataset directory made the way a NumPy user would: data.npz + a JSON with classes. */
function userDir(npz: Uint8Array | string, json: unknown): string {
  const dir = join(tmp(), 'ds');
  mkdirSync(dir);
  if (typeof npz === 'string') copyFileSync(npz, join(dir, 'data.npz'));
  else writeFileSync(join(dir, 'data.npz'), npz);
  writeFileSync(join(dir, 'dataset.json'), typeof json === 'string' ? json : JSON.stringify(json));
  return dir;
}

describe('dataset directory', () => {
  it('round-trips a dataset with sources, attack record and metadata', async () => {
    const dir = join(tmp(), 'out');
    const attack = { attack: 'label-flip', seed: 3, indices: [0, 2] };
    await writeDatasetDir(dir, small, { attack, meta: { note: 'x' } });
    expect(readdirSync(dir).sort()).toEqual(['data.npz', 'dataset.json']);
    expect(await isDatasetDir(dir)).toBe(true);
    const back = await readDatasetDir(dir);
    expect(Array.from(back.dataset.x)).toEqual(Array.from(small.x));
    expect(back.dataset.shape).toEqual(small.shape);
    expect(Array.from(back.dataset.y)).toEqual([1, 0, 1]);
    expect(back.dataset.classes).toEqual(small.classes);
    expect(back.dataset.ids).toEqual(small.ids);
    expect(back.dataset.source).toEqual(small.source);
    expect(back.dataset.text).toBeUndefined();
    expect(back.attack).toEqual(attack);
    expect(back.meta).toEqual({ note: 'x' });
    const json = JSON.parse(readFileSync(join(dir, 'dataset.json'), 'utf8'));
    expect(json.format).toBe('antidote-dataset');
    expect(json.version).toBe(1);
    expect(DatasetJsonSchema.safeParse(json).success).toBe(true);
  });

  it('writes byte-identical files for equal datasets (compressed or not)', async () => {
    for (const compress of [false, true]) {
      const a = join(tmp(), 'a');
      const b = join(tmp(), 'b');
      await writeDatasetDir(a, small, {}, { compress });
      await writeDatasetDir(b, { ...small, x: small.x.slice() }, {}, { compress });
      for (const f of ['data.npz', 'dataset.json']) {
        expect(readFileSync(join(a, f)).equals(readFileSync(join(b, f)))).toBe(true);
      }
    }
  });

  it('round-trips a text dataset of shape [N, 0]', async () => {
    const dir = join(tmp(), 't');
    const text: Dataset = {
      x: new Float32Array(0),
      shape: [2, 0],
      y: Int32Array.from([0, 1]),
      classes: ['ham', 'spam'],
      ids: ['m1', 'm2'],
      text: ['hello', 'win $$$'],
    };
    await writeDatasetDir(dir, text);
    const back = await readDatasetDir(dir);
    expect(back.dataset.shape).toEqual([2, 0]);
    expect(back.dataset.text).toEqual(['hello', 'win $$$']);
  });

  it('reads what np.savez wrote, with a JSON of just classes (int64 labels, default ids)', async () => {
    const dir = userDir(join(FIXTURES, 'pair.npz'), { classes: ['a', 'b', 'c', 'd', 'e'] });
    const { dataset } = await readDatasetDir(dir);
    expect(dataset.shape).toEqual([5, 4, 3]);
    expect(Array.from(dataset.y)).toEqual([1, 2, 3, 4, 0]);
    expect(dataset.ids).toEqual(['0', '1', '2', '3', '4']);
    const compressed = userDir(join(FIXTURES, 'pair_compressed.npz'), {
      classes: ['a', 'b', 'c', 'd', 'e'],
    });
    expect(Array.from((await readDatasetDir(compressed)).dataset.x)).toEqual(Array.from(dataset.x));
  });

  it('accepts uint8 images and converts them to float32 as stored', async () => {
    const npz = encodeNpz({
      x: ndarray('uint8', [2, 2], Uint8Array.from([0, 255, 3, 4])),
      y: ndarray('int64', [2], BigInt64Array.from([0n, 1n])),
    });
    const { dataset } = await readDatasetDir(userDir(npz, { classes: ['0', '1'] }));
    expect(Array.from(dataset.x)).toEqual([0, 255, 3, 4]);
  });

  describe('bad input', () => {
    const xy = (
      x: NdArray = ndarray('float32', [3, 2], Float32Array.from([1, 2, 3, 4, 5, 6])),
      y: NdArray = ndarray('int32', [3], Int32Array.from([0, 1, 0])),
    ) => encodeNpz({ x, y });
    const cases: [string, () => string, string, RegExp][] = [
      [
        'labels out of range',
        () => userDir(join(FIXTURES, 'pair.npz'), { classes: ['a', 'b', 'c'] }),
        'LABEL_OUT_OF_RANGE',
        /record 2 \(id 2\) has label 3, outside \[0, 3\) in .*ds/,
      ],
      [
        'negative label',
        () =>
          userDir(xy(undefined, ndarray('int32', [3], Int32Array.from([0, -1, 0]))), {
            classes: ['a', 'b'],
          }),
        'LABEL_OUT_OF_RANGE',
        /record 1 \(id 1\) has label -1/,
      ],
      [
        'NaN feature',
        () =>
          userDir(xy(ndarray('float32', [3, 2], Float32Array.from([1, 2, 3, Number.NaN, 5, 6]))), {
            classes: ['a', 'b'],
          }),
        'NON_FINITE_VALUE',
        /record 1 \(id 1\) has a non-finite feature \(NaN\) at offset 1/,
      ],
      [
        'float64 overflowing float32',
        () =>
          userDir(xy(ndarray('float64', [3, 2], Float64Array.from([1, 2, 3, 1e300, 5, 6]))), {
            classes: ['a', 'b'],
          }),
        'NON_FINITE_VALUE',
        /record 1/,
      ],
      [
        'float labels',
        () =>
          userDir(xy(undefined, ndarray('float32', [3], Float32Array.from([0, 1, 0]))), {
            classes: ['a', 'b'],
          }),
        'UNSUPPORTED_DTYPE',
        /data\.npz:y: expected an integer array, got float32/,
      ],
      [
        'shape differs from dataset.json',
        () => userDir(xy(), { classes: ['a', 'b'], shape: [3, 3] }),
        'SHAPE_MISMATCH',
        /says shape \[3, 3\] but x .* \[3, 2\]/,
      ],
      [
        'y of another length',
        () =>
          userDir(xy(undefined, ndarray('int32', [2], Int32Array.from([0, 1]))), {
            classes: ['a', 'b'],
          }),
        'SHAPE_MISMATCH',
        /y must have shape \[3\]/,
      ],
      [
        '1-d x',
        () => userDir(xy(ndarray('float32', [3], new Float32Array(3))), { classes: ['a', 'b'] }),
        'SHAPE_MISMATCH',
        /at least 2 dimensions/,
      ],
      [
        'ids of another length',
        () => userDir(xy(), { classes: ['a', 'b'], ids: ['p', 'q'] }),
        'SHAPE_MISMATCH',
        /3 records but 2 ids/,
      ],
      [
        'duplicate ids',
        () => userDir(xy(), { classes: ['a', 'b'], ids: ['p', 'q', 'p'] }),
        'INVALID_FORMAT',
        /"p" appears twice/,
      ],
      [
        'missing y',
        () =>
          userDir(encodeNpz({ x: ndarray('float32', [1, 1], new Float32Array(1)) }), {
            classes: ['a'],
          }),
        'INVALID_FORMAT',
        /has no array "y" \(arrays: x\)/,
      ],
      [
        'no classes',
        () => userDir(xy(), { ids: ['1', '2', '3'] }),
        'INVALID_FORMAT',
        /dataset\.json: not a valid dataset description: classes: /,
      ],
      [
        'unknown key',
        () => userDir(xy(), { classes: ['a', 'b'], clases: [] }),
        'INVALID_FORMAT',
        /clases/,
      ],
      [
        'wrong version',
        () => userDir(xy(), { classes: ['a', 'b'], version: 2 }),
        'INVALID_FORMAT',
        /version/,
      ],
      [
        'malformed JSON',
        () => userDir(xy(), '{"classes": [}'),
        'INVALID_FORMAT',
        /dataset\.json: malformed JSON/,
      ],
      [
        'data.npz not a zip',
        () => userDir(new Uint8Array([1, 2, 3]), { classes: ['a'] }),
        'INVALID_FORMAT',
        /data\.npz: not a ZIP archive/,
      ],
    ];
    for (const [name, make, code, pattern] of cases) {
      it(`${name} → ${code}`, async () => {
        await expect(readDatasetDir(make())).rejects.toMatchObject({
          code,
          message: expect.stringMatching(pattern),
        });
      });
    }

    it('missing directory or files → NOT_FOUND', async () => {
      await expect(readDatasetDir(join(tmp(), 'none'))).rejects.toMatchObject({
        code: 'NOT_FOUND',
      });
      const dir = tmp();
      await expect(readDatasetDir(dir)).rejects.toMatchObject({
        code: 'NOT_FOUND',
        message: expect.stringContaining('dataset.json'),
      });
      writeFileSync(join(dir, 'dataset.json'), '{"classes":["a"]}');
      await expect(readDatasetDir(dir)).rejects.toMatchObject({
        code: 'NOT_FOUND',
        message: expect.stringContaining('data.npz'),
      });
    });
  });

  it('refuses to overwrite unless asked, and never writes an invalid dataset', async () => {
    const dir = join(tmp(), 'out');
    await writeDatasetDir(dir, small);
    await expect(writeDatasetDir(dir, small)).rejects.toMatchObject({ code: 'ALREADY_EXISTS' });
    await writeDatasetDir(
      dir,
      { ...small, classes: ['cat', 'dog', 'eel'] },
      {},
      { overwrite: true },
    );
    expect((await readDatasetDir(dir)).dataset.classes).toEqual(['cat', 'dog', 'eel']);
    const other = join(tmp(), 'bad');
    await expect(
      writeDatasetDir(other, { ...small, y: Int32Array.from([0, 5, 1]) }),
    ).rejects.toMatchObject({
      code: 'LABEL_OUT_OF_RANGE',
    });
    expect(existsSync(other)).toBe(false);
  });
});
