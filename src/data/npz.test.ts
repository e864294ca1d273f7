import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { type NdArray, NPY_DTYPES, ndarray, ndToNumbers } from './npy.js';
import { decodeNpz, encodeNpz, readNpz, writeNpz } from './npz.js';

/** NumPy-written fixtures: ../shared/reference/npy from the repo root when present, else the in-repo copy. */
const SHARED = fileURLToPath(new URL('../../../shared/reference/npy/', import.meta.url));
const FIXTURES = existsSync(SHARED)
  ? SHARED
  : fileURLToPath(new URL('./fixtures/npy/', import.meta.url));

describe('NumPy .npz fixtures', () => {
  const expected = JSON.parse(readFileSync(join(FIXTURES, 'expected.json'), 'utf8'));
  const f32 = async () =>
    (await import('./npy.js')).decodeNpy(readFileSync(join(FIXTURES, 'f32_5x4x3.npy')));
  for (const name of ['pair.npz', 'pair_compressed.npz']) {
    it(`reads ${name} exactly`, async () => {
      const arrays = await readNpz(join(FIXTURES, name));
      const e = expected[name].arrays;
      expect([...arrays.keys()]).toEqual(Object.keys(e));
      for (const [key, want] of Object.entries<{
        dtype: string;
        shape: number[];
        values?: number[];
      }>(e)) {
        const a = arrays.get(key)!;
        expect(a.dtype).toBe(want.dtype);
        expect(a.shape).toEqual(want.shape);
        if (want.values) expect(Array.from(ndToNumbers(a))).toEqual(want.values);
      }
      // x holds the same values as f32_5x4x3.npy (checked with NumPy).
      const x = arrays.get('x')!.data as Float32Array;
      const ref = (await f32()).data as Float32Array;
      expect(Array.from(x)).toEqual(Array.from(ref));
      expect(x.reduce((s, v) => s + v, 0)).toBeCloseTo(expected['f32_5x4x3.npy'].sum, 10);
    });
  }
  it('the stored and the deflated archive hold identical arrays', async () => {
    const a = await readNpz(join(FIXTURES, 'pair.npz'));
    const b = await readNpz(join(FIXTURES, 'pair_compressed.npz'));
    for (const key of ['x', 'y']) {
      expect(Array.from(ndToNumbers(b.get(key)!))).toEqual(Array.from(ndToNumbers(a.get(key)!)));
    }
  });
});

function arrayOf(dtype: (typeof NPY_DTYPES)[number]): NdArray {
  const n = 6;
  const ints = [0, 1, 2, 3, 100, 7];
  const data = {
    float32: () => Float32Array.from(ints, (v) => v / 3),
    float64: () => Float64Array.from(ints, (v) => -v / 3),
    uint8: () => Uint8Array.from(ints),
    int8: () => Int8Array.from(ints, (v) => -v),
    int16: () => Int16Array.from(ints, (v) => -v * 300),
    uint16: () => Uint16Array.from(ints, (v) => v * 600),
    int32: () => Int32Array.from(ints, (v) => -v * 1e7),
    uint32: () => Uint32Array.from(ints, (v) => v * 4e7),
    int64: () => BigInt64Array.from(ints, (v) => (-BigInt(v) * 2n ** 60n) / 128n),
    uint64: () => BigUint64Array.from(ints, (v) => BigInt(v) * 2n ** 57n),
    bool: () => Uint8Array.from(ints, (v) => v & 1),
  }[dtype]();
  return ndarray(dtype, [2, n / 2], data as never) as NdArray;
}

describe('encodeNpz / decodeNpz', () => {
  for (const compress of [false, true]) {
    it(`round-trips every dtype (compress=${compress})`, () => {
      const arrays = Object.fromEntries(NPY_DTYPES.map((d) => [d, arrayOf(d)]));
      const back = decodeNpz(encodeNpz(arrays, { compress }));
      expect([...back.keys()]).toEqual([...NPY_DTYPES]);
      for (const d of NPY_DTYPES) {
        const a = back.get(d)!;
        expect(a.dtype).toBe(d);
        expect(a.shape).toEqual([2, 3]);
        expect(Array.from(a.data as ArrayLike<unknown>)).toEqual(
          Array.from(arrays[d]!.data as ArrayLike<unknown>),
        );
      }
    });
  }

  it('gives identical bytes for identical content, smaller when deflated', () => {
    const make = () => new Map([['x', ndarray('float32', [100], new Float32Array(100))]]);
    const a = encodeNpz(make(), { compress: true });
    expect(Buffer.from(a).equals(Buffer.from(encodeNpz(make(), { compress: true })))).toBe(true);
    expect(a.length).toBeLessThan(encodeNpz(make()).length);
  });

  it('writes and reads a file; a missing file is NOT_FOUND; a bad entry names the file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'antidote-npz-'));
    const path = join(dir, 'a.npz');
    await writeNpz(path, { y: ndarray('int32', [2], Int32Array.from([4, 5])) }, { compress: true });
    expect(Array.from((await readNpz(path)).get('y')!.data as Int32Array)).toEqual([4, 5]);
    await expect(readNpz(join(dir, 'nope.npz'))).rejects.toMatchObject({ code: 'NOT_FOUND' });
    const { writeZip } = await import('./zip.js');
    const bad = writeZip([{ name: 'z.npy', data: new Uint8Array([1, 2, 3]) }]);
    expect(() => decodeNpz(bad, 'bad.npz')).toThrow(
      expect.objectContaining({
        code: 'INVALID_FORMAT',
        message: expect.stringContaining('bad.npz:z.npy'),
      }),
    );
  });
});
