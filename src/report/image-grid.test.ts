import { describe, expect, it } from 'vitest';
import { decodePng, encodePng } from '../data/png.js';
import { isAntidoteError } from '../errors.js';
import { imageGridRaster, renderImageGrid } from './image-grid.js';

describe('image grid', () => {
  const gray = (v: number[]) => ({ data: Float32Array.from(v), shape: [2, 2, 1] });
  it('lays out rows, upscales with nearest neighbour, pads with the background', () => {
    const rows = [[gray([0, 1, 1, 0]), gray([0.5, 0.5, 0.5, 0.5])], [gray([1, 1, 1, 1])]];
    const r = imageGridRaster(rows, { scale: 3, padding: 1, background: 0 });
    expect(r.width).toBe(2 * 6 + 3);
    expect(r.height).toBe(2 * 6 + 3);
    const px = (x: number, y: number) =>
      Array.from(r.data.subarray((y * r.width + x) * 4, (y * r.width + x) * 4 + 4));
    expect(px(0, 0)).toEqual([0, 0, 0, 255]); // padding
    expect(px(1, 1)).toEqual([0, 0, 0, 255]); // image 0 pixel (0,0) = 0
    expect(px(4, 1)).toEqual([255, 255, 255, 255]); // pixel (0,1) = 1, upscaled ×3 → x 4..6
    expect(px(6, 3)).toEqual([255, 255, 255, 255]);
    expect(px(8, 1)).toEqual([128, 128, 128, 255]); // second image
    expect(px(1, 8)).toEqual([255, 255, 255, 255]); // row 1, column 0
    expect(px(13, 13)).toEqual([0, 0, 0, 255]); // empty cell shows the background
  });
  it('renders RGB and round-trips through PNG', () => {
    const rgb = { data: Float32Array.from([0, 1, 1, 1, 0, 0, 0, 0, 0, 1, 1, 1]), shape: [2, 2, 3] };
    const png = renderImageGrid([[rgb]], { scale: 1, padding: 0 });
    const back = decodePng(png);
    expect(back.width).toBe(2);
    expect(Array.from(back.data.subarray(0, 8))).toEqual([0, 255, 255, 255, 255, 0, 0, 255]);
    expect(() => decodePng(new Uint8Array([1, 2, 3]))).toThrow(/not a readable PNG/);
    expect(() => encodePng({ width: 2, height: 2, data: new Uint8Array(3) })).toThrow(
      /needs 16 bytes/,
    );
  });
  it('rejects mixed shapes and bad options', () => {
    const err = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return e;
      }
      return undefined;
    };
    expect(
      isAntidoteError(
        err(() =>
          imageGridRaster([[gray([0, 0, 0, 0]), { data: new Float32Array(9), shape: [3, 3] }]]),
        ),
        'SHAPE_MISMATCH',
      ),
    ).toBe(true);
    expect(
      isAntidoteError(
        err(() => imageGridRaster([[gray([0, 0, 0, 0])]], { scale: 0 })),
        'INVALID_ARGUMENT',
      ),
    ).toBe(true);
    expect(
      isAntidoteError(
        err(() => imageGridRaster([])),
        'INVALID_ARGUMENT',
      ),
    ).toBe(true);
  });
});
