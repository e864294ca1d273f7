import { describe, expect, it } from 'vitest';
import { expectThrowsCode } from '../testing/throws-code.js';
import { inferLayout, toHwc } from './image-layout.js';

describe('inferLayout', () => {
  it('reads rank-2 records as HW, channels last as HWC, channels first as CHW', () => {
    expect(inferLayout([8], 'x')).toEqual({ guessed: false });
    expect(inferLayout([28, 28], 'x')).toEqual({ layout: 'hw', guessed: false });
    expect(inferLayout([32, 32, 3], 'x')).toEqual({ layout: 'hwc', guessed: false });
    expect(inferLayout([3, 32, 32], 'x')).toEqual({ layout: 'chw', guessed: false });
    expect(inferLayout([1, 8, 1], 'x')).toEqual({ layout: 'hwc', guessed: true });
    expect(inferLayout([8, 8, 5], 'x')).toEqual({ layout: 'hwc', guessed: true });
    expectThrowsCode(() => inferLayout([2, 3, 4, 5], 'x'), 'SHAPE_MISMATCH');
  });
});

describe('toHwc', () => {
  it('adds a channel axis to HW records, with a notice', () => {
    const x = Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8]);
    const r = toHwc(x, [2, 2, 2], 'a.npz');
    expect(r.shape).toEqual([2, 2, 2, 1]);
    expect(r.x).toBe(x);
    expect(r.notice).toBe('a.npz: records [2, 2] read as HW grayscale images: shape [2, 2, 2, 1]');
  });

  it('transposes CHW records to HWC', () => {
    // one record, C=3, H=1, W=2: channel 0 = 1,2; channel 1 = 10,20; channel 2 = 100,200
    const x = Float32Array.from([1, 2, 10, 20, 100, 200]);
    const r = toHwc(x, [1, 3, 1, 2], 'b');
    expect(r.layout).toBe('chw');
    expect(r.shape).toEqual([1, 1, 2, 3]);
    expect([...r.x]).toEqual([1, 10, 100, 2, 20, 200]);
    expect(r.notice).toMatch(
      /CHW.*transposed to HWC: shape \[1, 1, 2, 3\]; pass --data-layout hwc if/,
    );
  });

  it('leaves HWC records and feature rows alone, without a notice', () => {
    const x = new Float32Array(2 * 5 * 5 * 3);
    expect(toHwc(x, [2, 5, 5, 3], 'c')).toEqual({ x, shape: [2, 5, 5, 3], layout: 'hwc' });
    expect(toHwc(x, [2, 75], 'c')).toEqual({ x, shape: [2, 75] });
    // 4×4 RGB could be 4 channels of 4×3: read as HWC, with a notice saying so
    expect(toHwc(new Float32Array(48), [1, 4, 4, 3], 'c').notice).toMatch(/read as HWC/);
  });

  it('follows a forced layout without a notice, and refuses one that does not fit', () => {
    const x = Float32Array.from([1, 2, 10, 20, 100, 200]);
    const r = toHwc(x, [1, 3, 1, 2], 'd', 'chw');
    expect(r.shape).toEqual([1, 1, 2, 3]);
    expect([...r.x]).toEqual([1, 10, 100, 2, 20, 200]);
    expect(r.notice).toBeUndefined();
    expect(toHwc(x, [1, 3, 1, 2], 'd', 'hwc').shape).toEqual([1, 3, 1, 2]);
    expectThrowsCode(() => toHwc(x, [1, 3, 1, 2], 'd', 'hw'), 'SHAPE_MISMATCH');
  });
});
