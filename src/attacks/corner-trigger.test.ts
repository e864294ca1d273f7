import { describe, expect, it } from 'vitest';
import { isAntidoteError } from '../errors.js';
import { Rng } from '../util/rng.js';
import { type CornerTriggerSpec, cornerPatternAt, cornerTrigger } from './corner-trigger.js';

const shape = [8, 9, 2];
const image = Float32Array.from({ length: 8 * 9 * 2 }, (_, i) => 0.3 + (i % 4) * 0.1);

function changed(spec: CornerTriggerSpec): Set<string> {
  const out = cornerTrigger(spec).apply(image, shape, new Rng(1));
  const s = new Set<string>();
  for (let i = 0; i < out.length; i++)
    if (out[i] !== image[i]) s.add(`${Math.floor(i / 18)},${Math.floor(i / 2) % 9}`);
  return s;
}

describe('corner trigger (Turner et al. 2019)', () => {
  it('one corner: a 3×3 checkerboard in the bottom-right, white at the corner, nothing else', () => {
    const out = cornerTrigger({ kind: 'corner', corners: 'one' }).apply(image, shape, new Rng(1));
    for (let r = 0; r < 8; r++) {
      for (let c = 0; c < 9; c++) {
        for (let ch = 0; ch < 2; ch++) {
          const i = (r * 9 + c) * 2 + ch;
          if (r >= 5 && c >= 6) expect(out[i]).toBe((7 - r + 8 - c) % 2 === 0 ? 1 : 0);
          else expect(out[i]).toBe(image[i]);
        }
      }
    }
  });

  it('four corners: the pattern mirrored into each corner (36 pixels)', () => {
    expect(changed({ kind: 'corner' }).size).toBe(36);
    for (const [r, c] of [
      [0, 0],
      [0, 8],
      [7, 0],
      [7, 8],
    ] as const) {
      expect(cornerPatternAt({ kind: 'corner' }, 8, 9, r, c)).toBe(1);
    }
    expect(cornerPatternAt({ kind: 'corner' }, 8, 9, 1, 0)).toBe(0);
    expect(cornerPatternAt({ kind: 'corner' }, 8, 9, 0, 1)).toBe(0);
    expect(cornerPatternAt({ kind: 'corner' }, 8, 9, 3, 4)).toBeUndefined();
    expect(cornerPatternAt({ kind: 'corner', corners: 'one' }, 8, 9, 0, 0)).toBeUndefined();
  });

  it('reduced amplitude moves each pixel by ±a towards its pattern value, clipped', () => {
    const a = 0.25;
    const out = cornerTrigger({ kind: 'corner', amplitude: a }).apply(image, shape, new Rng(1));
    for (let r = 0; r < 8; r++) {
      for (let c = 0; c < 9; c++) {
        const p = cornerPatternAt({ kind: 'corner' }, 8, 9, r, c);
        for (let ch = 0; ch < 2; ch++) {
          const i = (r * 9 + c) * 2 + ch;
          const want =
            p === undefined ? image[i]! : Math.min(1, Math.max(0, image[i]! + a * (2 * p - 1)));
          expect(out[i]).toBeCloseTo(want, 6);
        }
      }
    }
  });

  it('rejects bad specs with INVALID_ARGUMENT', () => {
    const bad: CornerTriggerSpec[] = [
      { kind: 'corner', amplitude: 0 },
      { kind: 'corner', amplitude: 1.5 },
      { kind: 'corner', size: 0 },
      { kind: 'corner', corners: 'two' as 'one' },
      { kind: 'corner', size: 5 }, // four 5×5 patches do not fit 8×9
    ];
    for (const spec of bad) {
      let err: unknown;
      try {
        cornerTrigger(spec).apply(image, shape, new Rng(1));
      } catch (e) {
        err = e;
      }
      expect(isAntidoteError(err) && err.code === 'INVALID_ARGUMENT').toBe(true);
    }
  });
});
