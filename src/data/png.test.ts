import { describe, expect, it } from 'vitest';
import { decodePng, encodePng } from './png.js';

describe('PNG home', () => {
  it('round-trips an RGBA raster', () => {
    const data = Uint8Array.from({ length: 2 * 3 * 4 }, (_, i) => (i * 37) % 256);
    expect(decodePng(encodePng({ width: 2, height: 3, data }))).toEqual({
      width: 2,
      height: 3,
      data,
    });
  });

  it('unreadable bytes are INVALID_FORMAT naming where, in the caller’s words when given', () => {
    const bad = new Uint8Array([137, 80, 78, 71]);
    expect(() => decodePng(bad, 'a.png')).toThrow(
      expect.objectContaining({
        code: 'INVALID_FORMAT',
        message: expect.stringMatching(/^a\.png is not a readable PNG: /),
        details: { path: 'a.png' },
      }),
    );
    expect(() => decodePng(bad, 'a.png', (r) => `a.png: unreadable PNG: ${r}`)).toThrow(
      /^a\.png: unreadable PNG: /,
    );
  });

  it('refuses a raster whose byte count does not match its size', () => {
    expect(() => encodePng({ width: 2, height: 2, data: new Uint8Array(3) })).toThrow(
      expect.objectContaining({ code: 'SHAPE_MISMATCH' }),
    );
  });
});
