import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { decodeIdx, encodeIdx, readIdx } from './idx.js';
import { type NdArray, ndarray } from './npy.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'antidote-idx-'));

describe('IDX', () => {
  const arrays: NdArray[] = [
    ndarray(
      'uint8',
      [3, 2, 2],
      Uint8Array.from({ length: 12 }, (_, i) => i * 20),
    ),
    ndarray('int8', [4], Int8Array.from([-128, -1, 0, 127])),
    ndarray('int16', [2, 2], Int16Array.from([-32768, -2, 3, 32767])),
    ndarray('int32', [3], Int32Array.from([-(2 ** 31), 5, 2 ** 31 - 1])),
    ndarray('float32', [2], Float32Array.from([0.5, -1e-3])),
    ndarray('float64', [2], Float64Array.from([Math.PI, -1e300])),
  ];
  for (const a of arrays) {
    it(`round-trips ${a.dtype}, plain and gzipped`, () => {
      const bytes = encodeIdx(a);
      for (const b of [bytes, gzipSync(bytes)]) {
        const back = decodeIdx(b);
        expect(back.dtype).toBe(a.dtype);
        expect(back.shape).toEqual(a.shape);
        expect(Array.from(back.data as ArrayLike<number>)).toEqual(
          Array.from(a.data as ArrayLike<number>),
        );
      }
    });
  }

  it('reads the MNIST label header byte layout (big endian)', () => {
    const bytes = Uint8Array.from([0, 0, 8, 1, 0, 0, 0, 3, 7, 2, 1]);
    const a = decodeIdx(bytes);
    expect(a.shape).toEqual([3]);
    expect(Array.from(a.data as Uint8Array)).toEqual([7, 2, 1]);
  });

  it('reads only the first records with a limit, from plain and gzipped files', async () => {
    const d = tmp();
    const a = arrays[0]!;
    writeFileSync(join(d, 'a.idx'), encodeIdx(a));
    writeFileSync(join(d, 'a.idx.gz'), gzipSync(encodeIdx(a)));
    for (const f of ['a.idx', 'a.idx.gz']) {
      const back = await readIdx(join(d, f), { limit: 2 });
      expect(back.shape).toEqual([2, 2, 2]);
      expect(Array.from(back.data as Uint8Array)).toEqual(
        Array.from((a.data as Uint8Array).subarray(0, 8)),
      );
      expect((await readIdx(join(d, f), { limit: 99 })).shape).toEqual([3, 2, 2]);
      expect((await readIdx(join(d, f))).shape).toEqual([3, 2, 2]);
    }
    await expect(readIdx(join(d, 'a.idx'), { limit: -1 })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
  });

  describe('bad input → INVALID_FORMAT with file and byte offset', () => {
    const good = encodeIdx(arrays[0]!);
    const cases: [string, Uint8Array, RegExp, number][] = [
      [
        'wrong magic',
        Uint8Array.from([0x50, 0x4b, 8, 1, 0, 0, 0, 0]),
        /not an IDX file.*0x50 0x4b/,
        0,
      ],
      [
        'unknown type byte',
        Uint8Array.from([0, 0, 0x0a, 1, 0, 0, 0, 0]),
        /unknown IDX type byte 0x0a/,
        2,
      ],
      ['zero dimensions', Uint8Array.from([0, 0, 8, 0]), /0 dimensions/, 3],
      ['truncated dimensions', good.subarray(0, 10), /truncated header/, 10],
      [
        'truncated data',
        good.subarray(0, good.length - 5),
        /truncated: shape \[3, 2, 2\] of uint8 needs 28 bytes, the file has 23/,
        23,
      ],
      ['trailing bytes', Uint8Array.from([...good, 1, 2]), /2 unexpected trailing bytes/, 28],
      ['tiny file', Uint8Array.from([0, 0]), /too short/, 0],
    ];
    for (const [name, bytes, pattern, offset] of cases) {
      it(name, async () => {
        expect(() => decodeIdx(bytes, 'f.idx')).toThrow(
          expect.objectContaining({
            code: 'INVALID_FORMAT',
            message: expect.stringMatching(
              new RegExp(`^f\\.idx: .*${pattern.source}.*\\(at byte ${offset}\\)$`),
            ),
            details: { path: 'f.idx', offset },
          }),
        );
        // The same from disk, with and without a limit (the limited path reads only the header).
        const p = join(tmp(), 'f.idx');
        writeFileSync(p, bytes);
        for (const limit of [undefined, 1]) {
          await expect(readIdx(p, { limit })).rejects.toMatchObject({
            code: 'INVALID_FORMAT',
            details: { path: p, offset },
          });
        }
      });
    }

    it('truncated gzip', () => {
      const gz = gzipSync(good);
      expect(() => decodeIdx(gz.subarray(0, gz.length - 6), 'f.idx.gz')).toThrow(
        expect.objectContaining({
          code: 'INVALID_FORMAT',
          message: expect.stringContaining('f.idx.gz: corrupt or truncated gzip'),
        }),
      );
    });

    it('a missing file is NOT_FOUND', async () => {
      await expect(readIdx(join(tmp(), 'none'))).rejects.toMatchObject({ code: 'NOT_FOUND' });
      await expect(readIdx(join(tmp(), 'none'), { limit: 3 })).rejects.toMatchObject({
        code: 'NOT_FOUND',
      });
    });
  });
});
