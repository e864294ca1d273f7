import { describe, expect, it } from 'vitest';
import { isAntidoteError } from '../errors.js';
import { decodeTyped, encodeTyped } from './typed-codec.js';

describe('typed codec', () => {
  it('round-trips typed arrays and the numbers JSON cannot hold, bit for bit', () => {
    const value = {
      a: Float32Array.from([1.5, -0, Number.NaN, 3.4e38]),
      b: Float64Array.from([Math.PI, 1e-310, -Number.MAX_VALUE]),
      c: Int32Array.from([-1, 2 ** 31 - 1]),
      d: Uint8Array.from([1, 2, 3]),
      nested: [{ x: Number.POSITIVE_INFINITY, y: -0, z: Number.NaN, w: 0.1 + 0.2 }, null, 'ok'],
      sub: new Float64Array(new Float64Array([9, 8, 7, 6]).buffer, 8, 2),
      skipped: undefined,
    };
    const back = decodeTyped(encodeTyped(value)) as Record<string, unknown>;
    expect(back.a).toBeInstanceOf(Float32Array);
    expect(new Uint8Array((back.a as Float32Array).buffer)).toEqual(new Uint8Array(value.a.buffer));
    expect(Array.from(back.b as Float64Array)).toEqual(Array.from(value.b));
    expect(Array.from(back.c as Int32Array)).toEqual([-1, 2 ** 31 - 1]);
    expect(back.d).toBeInstanceOf(Uint8Array);
    expect(Array.from(back.sub as Float64Array)).toEqual([8, 7]);
    const n = (back.nested as unknown[])[0] as Record<string, number>;
    expect(n.x).toBe(Number.POSITIVE_INFINITY);
    expect(Object.is(n.y, -0)).toBe(true);
    expect(n.z).toBeNaN();
    expect(n.w).toBe(0.1 + 0.2);
    expect('skipped' in back).toBe(false);
  });

  it('decodes from a Node Buffer that is a view into a larger pool', () => {
    const bytes = encodeTyped({ a: Float64Array.from([1, 2, 3]), b: Int32Array.from([7]) });
    const pool = Buffer.alloc(bytes.length + 13, 0xee);
    pool.set(bytes, 5);
    const back = decodeTyped(pool.subarray(5, 5 + bytes.length)) as Record<
      string,
      ArrayLike<number>
    >;
    expect(Array.from(back.a!)).toEqual([1, 2, 3]);
    expect(Array.from(back.b!)).toEqual([7]);
  });

  it('refuses what it cannot encode, and bytes it did not write', () => {
    const code = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return isAntidoteError(e) ? e.code : 'other';
      }
      return 'none';
    };
    expect(code(() => encodeTyped({ f: () => 1 }))).toBe('INVALID_ARGUMENT');
    expect(code(() => encodeTyped(new Map()))).toBe('INVALID_ARGUMENT');
    expect(code(() => decodeTyped(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8])))).toBe(
      'INVALID_FORMAT',
    );
    const ok = encodeTyped({ a: new Float64Array(4) });
    expect(code(() => decodeTyped(ok.subarray(0, ok.length - 8)))).toBe('INVALID_FORMAT');
  });
});
