import { describe, expect, it } from 'vitest';
import type { Dataset } from './dataset.js';
import { inspectRange, normalizeRange, rememberValueRange, valueRange } from './range.js';

function ds(values: number[], shape: number[]): Dataset {
  const n = shape[0]!;
  return {
    x: Float32Array.from(values),
    shape,
    y: new Int32Array(n),
    classes: ['a', 'b'],
    ids: Array.from({ length: n }, (_, i) => String(i)),
  };
}

describe('inspectRange', () => {
  it('recognises 0–255 image records and leaves [0, 1] images and other data alone', () => {
    expect(inspectRange(ds([0, 17, 255, 3], [1, 2, 2, 1]))).toEqual({
      min: 0,
      max: 255,
      looksUint8: true,
    });
    expect(inspectRange(ds([0, 0.5, 1, 0.2], [1, 2, 2, 1])).looksUint8).toBe(false);
    // Tabular or flat features may legitimately exceed 1.
    expect(inspectRange(ds([0, 17, 255, 3], [1, 4])).looksUint8).toBe(false);
    // Standardised (negative) or out-of-byte-range images are not uint8-style.
    expect(inspectRange(ds([-1, 2, 3, 4], [1, 2, 2, 1])).looksUint8).toBe(false);
    expect(inspectRange(ds([0, 2, 3, 300], [1, 2, 2, 1])).looksUint8).toBe(false);
    expect(inspectRange(ds([], [0, 2, 2, 1]))).toEqual({ min: 0, max: 0, looksUint8: false });
  });

  it('leaves NaN out of the range, wherever it is', () => {
    for (const values of [
      [Number.NaN, 17, 255, 3],
      [0, 17, Number.NaN, 255],
      [3, 17, 255, Number.NaN],
    ]) {
      const r = inspectRange(ds(values, [1, 2, 2, 1]));
      expect(r.max).toBe(255);
      expect(r.looksUint8).toBe(true);
    }
    expect(inspectRange(ds([Number.NaN, 0.5], [1, 2]))).toEqual({
      min: 0.5,
      max: 0.5,
      looksUint8: false,
    });
  });
});

describe('normalizeRange', () => {
  it('divides 0–255 images by 255 with a notice, and returns other data unchanged', () => {
    const raw = ds([0, 51, 255, 102], [1, 2, 2, 1]);
    const r = normalizeRange(raw, 'd.npz');
    expect(Array.from(r.dataset.x)).toEqual([0, 0.2, 1, 0.4].map((v) => Math.fround(v)));
    expect(r.notice).toMatch(/^d\.npz: pixel values span 0–255, not \[0, 1\]: .*divided by 255/);
    // The input is not modified.
    expect(raw.x[1]).toBe(51);
    const unit = ds([0, 0.5, 1, 0.2], [1, 2, 2, 1]);
    const same = normalizeRange(unit, 'u');
    expect(same.dataset).toBe(unit);
    expect(same.notice).toBeUndefined();
  });
});

describe('valueRange', () => {
  it('measures an array once and keeps what it found, NaN left out', () => {
    const x = Float32Array.from([0.5, Number.NaN, -2, 3]);
    expect(valueRange(x)).toEqual([-2, 3]);
    // Arrays are never written in place once loaded: a second look returns what the first found.
    x[3] = 9;
    expect(valueRange(x)).toEqual([-2, 3]);
    expect(valueRange(new Float32Array(0))).toEqual([
      Number.POSITIVE_INFINITY,
      Number.NEGATIVE_INFINITY,
    ]);
  });

  it('takes a remembered range instead of reading the array', () => {
    const x = Float32Array.from([0, 1]);
    rememberValueRange(x, -5, 5);
    expect(valueRange(x)).toEqual([-5, 5]);
  });

  it('knows the range of the records normalizeRange divided: the range a pass over them finds', () => {
    const values = [0, 17, 254, 3, 128, 7, 99, 200];
    const { dataset } = normalizeRange(ds(values, [2, 2, 2, 1]), 'data');
    const measured = [Math.min(...dataset.x), Math.max(...dataset.x)];
    expect(valueRange(dataset.x)).toEqual(measured);
    expect(measured).toEqual([0, Math.fround(254 / 255)]);
  });
});
