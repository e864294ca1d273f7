import { describe, expect, it } from 'vitest';
import { recordSize, validateDataset } from '../data/dataset.js';
import { isAntidoteError } from '../errors.js';
import { syntheticImages } from '../testing/synthetic-images.js';
import { Rng } from '../util/rng.js';
import {
  type AdaptiveBlendOptions,
  adaptiveBlendAttack,
  adaptiveBlendTestTrigger,
  blendMasked,
  pieceMask,
} from './adaptive-blend.js';

const shape = [9, 9, 2];
const ds = syntheticImages(500, shape, 3, 4);
const size = recordSize(ds);
// A key that differs from every pixel: each blended pixel changes.
const key = Float32Array.from({ length: size }, (_, i) => 0.1234 + (i % 5) * 1e-3);
const base: AdaptiveBlendOptions = { target: 0, rate: 0.02, coverRate: 0.04, key, pieces: 9 };

describe('Adaptive-Blend (Qi et al. 2023)', () => {
  it('piece masks: tiles of ⌊h/√p⌋ × ⌊w/√p⌋, the rest of the image always kept', () => {
    const m = pieceMask(7, 7, 4, [0, 3]); // tiles 3×3; row / column 6 belongs to no tile
    const zero = (r: number, c: number) => m[r * 7 + c] === 0;
    for (let r = 0; r < 7; r++) {
      for (let c = 0; c < 7; c++) {
        expect(zero(r, c)).toBe((r < 3 && c < 3) || (r >= 3 && r < 6 && c >= 3 && c < 6));
      }
    }
  });

  it('poisons and covers get the partial trigger on all but maskedPieces tiles; labels: poisons → target, covers kept', () => {
    const before = ds.x.slice();
    const r = adaptiveBlendAttack.poison(ds, base, new Rng(2));
    validateDataset(r.dataset);
    expect(ds.x).toEqual(before);
    const p = r.record.params as Record<string, number>;
    expect(p.poisons).toBe(10);
    expect(p.regularization).toBe(20);
    expect(p).toMatchObject({ pieces: 9, maskedPieces: 4, alpha: 0.15, testAlpha: 0.2 });
    const modified = new Set(r.record.indices);
    let poisons = 0;
    for (let i = 0; i < ds.y.length; i++) {
      const row = r.dataset.x.subarray(i * size, (i + 1) * size);
      const orig = ds.x.subarray(i * size, (i + 1) * size);
      if (!modified.has(i)) {
        expect(row).toEqual(orig);
        expect(r.dataset.y[i]).toBe(ds.y[i]);
        continue;
      }
      if (r.dataset.y[i] !== ds.y[i]) {
        poisons++;
        expect(r.dataset.y[i]).toBe(0);
      }
      // Pixels changed: exactly those of 9 − 4 = 5 tiles of 3×3, blended with α = 0.15.
      let changed = 0;
      for (let px = 0; px < 81; px++) {
        const moved = row[px * 2] !== orig[px * 2];
        if (moved) {
          changed++;
          for (const ch of [0, 1]) {
            const j = px * 2 + ch;
            expect(row[j]).toBeCloseTo(orig[j]! + 0.15 * (key[j]! - orig[j]!), 6);
          }
        } else {
          expect(row[px * 2 + 1]).toBe(orig[px * 2 + 1]);
        }
      }
      expect(changed).toBe(5 * 9);
    }
    expect(poisons).toBe(10);
    const again = adaptiveBlendAttack.poison(ds, base, new Rng(2));
    expect(again.dataset.x).toEqual(r.dataset.x);
    expect(again.record).toEqual(r.record);
    expect(adaptiveBlendAttack.poison(ds, base, new Rng(3)).dataset.x).not.toEqual(r.dataset.x);
  });

  it('the test trigger blends every pixel with the test opacity', () => {
    const img = ds.x.slice(0, size);
    const out = adaptiveBlendTestTrigger(key, 0.2).apply(img, shape, new Rng(1));
    expect(out).toEqual(blendMasked(img, shape, key, 0.2));
    out.forEach((v, i) => {
      expect(v).toBeCloseTo(img[i]! + 0.2 * (key[i]! - img[i]!), 6);
    });
  });

  it('rejects bad parameters with INVALID_ARGUMENT', () => {
    const bad: AdaptiveBlendOptions[] = [
      { ...base, target: 3 },
      { ...base, rate: 0 },
      { ...base, coverRate: -0.1 },
      { ...base, coverRate: 1 },
      { ...base, pieces: 8 },
      { ...base, pieces: 1 },
      { ...base, maskedPieces: 9 },
      { ...base, maskedPieces: 0 },
      { ...base, alpha: 0 },
      { ...base, testAlpha: 1.5 },
      { ...base, key: new Float32Array(10) },
      { ...base, pieces: 100 }, // 10×10 tiles do not fit a 9×9 image
    ];
    for (const o of bad) {
      let err: unknown;
      try {
        adaptiveBlendAttack.poison(ds, o, new Rng(1));
      } catch (e) {
        err = e;
      }
      expect(isAntidoteError(err) && err.code === 'INVALID_ARGUMENT').toBe(true);
    }
  });
});
