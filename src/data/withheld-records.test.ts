import { describe, expect, it } from 'vitest';
import { isAntidoteError } from '../errors.js';
import type { Dataset } from './dataset.js';
import { isWithheldRead, withheldRecords } from './withheld-records.js';

/** The error `f` throws. */
function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  throw new Error('did not throw');
}

describe('withheldRecords', () => {
  it('refuses every look inside with INVALID_STATE naming the data', () => {
    const x = withheldRecords('mnist:train');
    const looks: (() => unknown)[] = [
      () => x[0],
      () => x.length,
      () => x.subarray(0, 1),
      () => {
        x[0] = 1;
      },
      () => 0 in x,
      () => Object.keys(x),
      () => [...x],
      () => Float32Array.from(x),
      () => x instanceof Float32Array,
      () => JSON.stringify({ x }),
    ];
    for (const look of looks) {
      const e = thrown(look);
      expect(isAntidoteError(e, 'INVALID_STATE')).toBe(true);
      expect(isWithheldRead(e)).toBe(true);
      expect((e as Error).message).toContain('mnist:train');
    }
    expect(isWithheldRead(new Error('other'))).toBe(false);
  });

  it('can be held, spread into datasets and used as a key without being read', () => {
    const x = withheldRecords('d');
    const ds: Dataset = {
      x,
      shape: [2, 1, 1, 1],
      y: Int32Array.of(0, 1),
      classes: ['a', 'b'],
      ids: ['0', '1'],
    };
    const copy = { ...ds, source: ['s', 't'] };
    expect(copy.x).toBe(x);
    const byRecords = new WeakMap<Float32Array, number>([[x, 7]]);
    expect(byRecords.get(copy.x)).toBe(7);
    expect(isWithheldRead(thrown(() => copy.x.length))).toBe(true);
  });
});
