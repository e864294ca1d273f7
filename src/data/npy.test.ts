import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  decodeNpy,
  encodeNpy,
  fortranToC,
  type NdArray,
  NPY_DTYPES,
  type NpyDtype,
  ndarray,
  ndToFloat32,
  ndToInt32,
  ndToNumbers,
  parsePyLiteral,
} from './npy.js';

/** The in-repo copy of the NumPy reference fixtures (a fresh clone has no ../shared). */
const COPY = fileURLToPath(new URL('./fixtures/npy/', import.meta.url));
const EXTRA = fileURLToPath(new URL('./fixtures/npy-extra/', import.meta.url));
/** The shared reference, resolved from this file: <repo>/src/data → <repo>/../shared/reference. */
const SHARED = fileURLToPath(new URL('../../../shared/reference/npy/', import.meta.url));
/** The reference itself when present, else its copy. */
const FIXTURES = existsSync(SHARED) ? SHARED : COPY;

const read = (dir: string, name: string): NdArray => decodeNpy(readFileSync(join(dir, name)), name);
const values = (a: NdArray): unknown[] =>
  a.dtype === 'int64' || a.dtype === 'uint64'
    ? Array.from(a.data as BigInt64Array, String)
    : Array.from(a.data as ArrayLike<number>);

describe('NumPy reference fixtures', () => {
  const expected = JSON.parse(readFileSync(join(FIXTURES, 'expected.json'), 'utf8'));

  it.skipIf(!existsSync(SHARED))(
    'the in-repo copy matches ../shared/reference byte for byte',
    () => {
      const names = readdirSync(SHARED).sort();
      expect(readdirSync(COPY).sort()).toEqual(names);
      for (const name of names) {
        if (name.endsWith('.json')) {
          // The in-repo copy is reformatted by biome; compare its content.
          expect(JSON.parse(readFileSync(join(COPY, name), 'utf8'))).toEqual(
            JSON.parse(readFileSync(join(SHARED, name), 'utf8')),
          );
          continue;
        }
        expect(readFileSync(join(COPY, name)).equals(readFileSync(join(SHARED, name))), name).toBe(
          true,
        );
      }
    },
  );

  const npyNames = Object.keys(expected).filter((k) => k.endsWith('.npy'));
  it('covers every .npy fixture', () => {
    expect(npyNames.sort()).toEqual(
      readdirSync(FIXTURES)
        .filter((f) => f.endsWith('.npy'))
        .sort(),
    );
  });

  for (const name of npyNames) {
    it(`reads ${name} exactly`, () => {
      const e = expected[name];
      const a = read(FIXTURES, name);
      expect(a.shape).toEqual(e.shape);
      const dtypeName = e.dtype === '>f4' ? 'float32' : e.dtype;
      expect(a.dtype).toBe(dtypeName);
      if (e.values) {
        const want = e.dtype === 'bool' ? e.values.map((v: boolean) => (v ? 1 : 0)) : e.values;
        expect(Array.from(ndToNumbers(a))).toEqual(want);
      }
      if (e.values_c_order) expect(values(a)).toEqual(e.values_c_order);
      if (e.sum !== undefined) {
        const d = a.data as Float32Array;
        let s = 0;
        for (const v of d) s += v;
        expect(s).toBeCloseTo(e.sum, 10);
        expect(d[0]).toBe(e.first);
        expect(d[d.length - 1]).toBe(e.last);
      }
    });
  }
});

describe('more NumPy-written files', () => {
  const expected = JSON.parse(readFileSync(join(EXTRA, 'expected.json'), 'utf8'));
  const dtypeOf: Record<string, NpyDtype> = {
    f4: 'float32',
    f8: 'float64',
    i1: 'int8',
    i2: 'int16',
    i4: 'int32',
    i8: 'int64',
    u1: 'uint8',
    u2: 'uint16',
    u4: 'uint32',
    u8: 'uint64',
    b1: 'bool',
  };
  for (const [name, e] of Object.entries<Record<string, unknown>>(expected)) {
    if (name === 'about') continue;
    it(`reads ${name} (${e.dtype}${e.fortran_order ? ', Fortran order' : ''})`, () => {
      const a = read(EXTRA, name);
      expect(a.dtype).toBe(dtypeOf[(e.dtype as string).slice(1)]);
      expect(a.shape).toEqual(e.shape);
      expect(values(a)).toEqual(e.values_c_order);
    });
  }

  for (const [file, dtype] of [
    ['complex.npy', '<c16'],
    ['unicode.npy', '<U3'],
    ['object.npy', '|O'],
    ['float16.npy', '<f2'],
  ] as const) {
    it(`refuses ${file} with UNSUPPORTED_DTYPE naming ${dtype} and the file`, () => {
      expect(() => read(EXTRA, file)).toThrow(
        expect.objectContaining({
          code: 'UNSUPPORTED_DTYPE',
          message: expect.stringMatching(new RegExp(`${file}.*'\\${dtype}'`)),
        }),
      );
    });
  }
  it('refuses a structured dtype', () => {
    expect(() => read(EXTRA, 'structured.npy')).toThrow(
      expect.objectContaining({
        code: 'UNSUPPORTED_DTYPE',
        message: expect.stringContaining('structured.npy'),
      }),
    );
  });
});

function sample(dtype: NpyDtype, shape: number[]): NdArray {
  const n = shape.reduce((a, b) => a * b, 1);
  const nums = Array.from({ length: n }, (_, i) => ((i * 37) % 101) - 50);
  const map = {
    float32: () => Float32Array.from(nums, (v) => v / 7),
    float64: () => Float64Array.from(nums, (v) => v / 7),
    uint8: () => Uint8Array.from(nums, (v) => v + 50),
    int8: () => Int8Array.from(nums),
    int16: () => Int16Array.from(nums, (v) => v * 600),
    uint16: () => Uint16Array.from(nums, (v) => (v + 50) * 600),
    int32: () => Int32Array.from(nums, (v) => v * 40_000_000),
    uint32: () => Uint32Array.from(nums, (v) => (v + 50) * 40_000_000),
    int64: () => BigInt64Array.from(nums, (v) => BigInt(v) * 10n ** 17n),
    uint64: () => BigUint64Array.from(nums, (v) => BigInt(v + 50) * 10n ** 17n),
    bool: () => Uint8Array.from(nums, (v) => (v > 0 ? 1 : 0)),
  } as const;
  return ndarray(dtype, shape, map[dtype]() as never) as NdArray;
}

describe('encodeNpy / decodeNpy round trip', () => {
  for (const dtype of NPY_DTYPES) {
    for (const shape of [[3, 4, 5], [7], [0, 3], []]) {
      it(`${dtype} [${shape.join(', ')}]`, () => {
        const a = sample(dtype, shape);
        const bytes = encodeNpy(a);
        expect((bytes.length - a.data.byteLength) % 64).toBe(0);
        const b = decodeNpy(bytes);
        expect(b.dtype).toBe(dtype);
        expect(b.shape).toEqual(shape);
        expect(b.data.constructor).toBe(a.data.constructor);
        expect(values(b)).toEqual(values(a));
      });
    }
  }

  it('writes the same header as np.save', () => {
    const bytes = encodeNpy(ndarray('float32', [5, 4, 3], new Float32Array(60)));
    const header = new TextDecoder('latin1').decode(bytes.subarray(10, 128));
    expect(header).toBe(
      `{'descr': '<f4', 'fortran_order': False, 'shape': (5, 4, 3), }`.padEnd(117, ' ') + '\n',
    );
    // Same bytes as the NumPy-written fixture's header.
    const ref = readFileSync(join(FIXTURES, 'f32_5x4x3.npy'));
    expect(Buffer.from(bytes.subarray(0, 128)).equals(ref.subarray(0, 128))).toBe(true);
  });

  it('switches to format 2.0 when the header outgrows 64 KiB', () => {
    const shape = Array.from({ length: 25000 }, () => 1);
    const bytes = encodeNpy(ndarray('uint8', shape, new Uint8Array([9])));
    expect(bytes[6]).toBe(2);
    const b = decodeNpy(bytes);
    expect(b.shape.length).toBe(25000);
    expect(Array.from(b.data as Uint8Array)).toEqual([9]);
  });
});

describe('bad .npy input', () => {
  const good = encodeNpy(ndarray('float32', [2, 3], Float32Array.from([1, 2, 3, 4, 5, 6])));
  const expectFormat = (bytes: Uint8Array, pattern: RegExp) =>
    expect(() => decodeNpy(bytes, 'bad.npy')).toThrow(
      expect.objectContaining({ code: 'INVALID_FORMAT', message: expect.stringMatching(pattern) }),
    );

  it('truncated data', () =>
    expectFormat(
      good.subarray(0, good.length - 1),
      /bad\.npy: truncated data.*needs 24 bytes from offset 128, file has 23/,
    ));
  it('trailing bytes', () => expectFormat(new Uint8Array([...good, 0]), /1 unexpected bytes/));
  it('bad magic', () => {
    const b = good.slice();
    b[1] = 0x58;
    expectFormat(b, /bad magic/);
  });
  it('unknown version', () => {
    const b = good.slice();
    b[6] = 9;
    expectFormat(b, /version 9\.0/);
  });
  it('truncated header', () => expectFormat(good.subarray(0, 40), /truncated header/));
  it('empty file', () => expectFormat(new Uint8Array(0), /bad magic/));
  it('malformed header dict', () => {
    const b = good.slice();
    b.set(new TextEncoder().encode("{'descr': <f4"), 10);
    expectFormat(b, /malformed header/);
  });
  /** A v1 file with the given header dict and `dataBytes` zero bytes of data. */
  const withHeader = (dict: string, dataBytes = 0): Uint8Array => {
    const len = Math.ceil((10 + dict.length + 1) / 64) * 64 - 10;
    const header = dict.padEnd(len - 1, ' ') + '\n';
    const out = new Uint8Array(10 + len + dataBytes);
    out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, len & 0xff, len >> 8]);
    out.set(new TextEncoder().encode(header), 10);
    return out;
  };
  it('a well-formed hand-made header reads', () => {
    const a = decodeNpy(withHeader("{'descr': '<i2', 'fortran_order': True, 'shape': (2, 2)}", 8));
    expect(a.dtype).toBe('int16');
    expect(a.shape).toEqual([2, 2]);
  });
  it('header without shape', () =>
    expectFormat(withHeader("{'descr': '<f4', 'fortran_order': False}"), /lacks 'shape'/));
  it('negative dimension', () =>
    expectFormat(
      withHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (-2, 3)}"),
      /non-negative/,
    ));
  it('fortran_order not a bool', () =>
    expectFormat(
      withHeader("{'descr': '<f4', 'fortran_order': 0, 'shape': (1,)}", 4),
      /fortran_order/,
    ));
  it('header not a dict', () => expectFormat(withHeader("('<f4', False)"), /not a dict/));
});

describe('helpers', () => {
  it('parsePyLiteral reads the header subset and nothing else', () => {
    expect(parsePyLiteral(`{'a': (1, 2,), "b": [True, False, None], 'c': ()}`)).toEqual({
      a: [1, 2],
      b: [true, false, null],
      c: [],
    });
    expect(() => parsePyLiteral(`{'a': __import__('os')}`)).toThrow();
  });

  it('fortranToC transposes a 2x3x2 array', () => {
    // C-order values 0..11 of shape [2,3,2], laid out in Fortran order.
    const shape = [2, 3, 2];
    const f = new Int32Array(12);
    for (let i = 0; i < 2; i++)
      for (let j = 0; j < 3; j++)
        for (let k = 0; k < 2; k++) f[i + 2 * j + 6 * k] = i * 6 + j * 2 + k;
    expect(Array.from(fortranToC(f, shape))).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
  });

  it('ndToNumbers refuses 64-bit integers beyond 2^53', () => {
    const a = ndarray('int64', [2], BigInt64Array.from([1n, 2n ** 60n]));
    expect(() => ndToNumbers(a, 'y')).toThrow(
      expect.objectContaining({
        code: 'INVALID_FORMAT',
        message: expect.stringContaining('element 1'),
      }),
    );
  });

  it('ndToInt32 converts integer arrays, refuses floats and out-of-range values', () => {
    expect(Array.from(ndToInt32(ndarray('int64', [2], BigInt64Array.from([3n, -1n]))))).toEqual([
      3, -1,
    ]);
    expect(Array.from(ndToInt32(ndarray('uint8', [1], Uint8Array.from([200]))))).toEqual([200]);
    expect(() => ndToInt32(ndarray('float32', [1], new Float32Array(1)))).toThrow(
      expect.objectContaining({ code: 'UNSUPPORTED_DTYPE' }),
    );
    expect(() => ndToInt32(ndarray('uint32', [1], Uint32Array.from([2 ** 31])))).toThrow(
      expect.objectContaining({ code: 'INVALID_FORMAT' }),
    );
  });

  it('ndToFloat32 converts every dtype', () => {
    expect(Array.from(ndToFloat32(ndarray('uint8', [2], Uint8Array.from([0, 255]))))).toEqual([
      0, 255,
    ]);
    expect(Array.from(ndToFloat32(ndarray('int64', [1], BigInt64Array.from([-5n]))))).toEqual([-5]);
  });

  it('ndarray checks the element count and the typed array', () => {
    expect(() => ndarray('float32', [2, 2], new Float32Array(3))).toThrow(
      expect.objectContaining({ code: 'SHAPE_MISMATCH' }),
    );
    expect(() => ndarray('float32', [1], new Float64Array(1) as never)).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
  });
});
