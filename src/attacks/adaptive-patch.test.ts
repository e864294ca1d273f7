import { describe, expect, it } from 'vitest';
import { recordSize } from '../data/dataset.js';
import { expectOnlyListedModified } from '../testing/modified-records.js';
import { syntheticImages } from '../testing/synthetic-images.js';
import { expectThrowsCode } from '../testing/throws-code.js';
import { Rng } from '../util/rng.js';
import {
  type AdaptivePatchOptions,
  adaptivePatchAttack,
  adaptivePatchTestTrigger,
  adaptivePatchTriggers,
  applyPatch,
  patchGroup,
} from './adaptive-patch.js';

const shape = [10, 10, 2];
const ds = syntheticImages(600, shape, 3, 4);
const size = recordSize(ds);
const alphas = [0.5, 0.2, 0.5, 0.3];
const patches = adaptivePatchTriggers(shape, alphas, 3, 7);
const base: AdaptivePatchOptions = { target: 0, rate: 0.02, coverRate: 0.04, patches };

/** The pixels (row·w + col) of patch k's mask. */
const maskPixels = (k: number) =>
  new Set(Array.from(patches[k]!.mask.keys()).filter((px) => patches[k]!.mask[px] === 1));

describe('Adaptive-Patch (Qi et al. 2023)', () => {
  it('built-in triggers: seeded 3×3 0/1 squares in four distinct corners', () => {
    const corners = [
      [1, 1],
      [6, 6],
      [1, 6],
      [6, 1],
    ];
    patches.forEach((p, k) => {
      const px = maskPixels(k);
      expect(px.size).toBe(9);
      const [r0, c0] = corners[k]!;
      for (let i = 0; i < 3; i++)
        for (let j = 0; j < 3; j++) expect(px.has((r0! + i) * 10 + c0! + j)).toBe(true);
      expect(p.alpha).toBe(alphas[k]);
      for (const v of p.mark) expect(v === 0 || v === 1).toBe(true);
      for (const q of px) expect(p.mark[q * 2]).toBe(p.mark[q * 2 + 1]);
    });
    expect(adaptivePatchTriggers(shape, alphas, 3, 7)).toEqual(patches);
    expect(adaptivePatchTriggers(shape, alphas, 3, 8).map((p) => p.mark)).not.toEqual(
      patches.map((p) => p.mark),
    );
  });

  it('groups: k equal consecutive groups', () => {
    expect(Array.from({ length: 12 }, (_, j) => patchGroup(j, 12, 4))).toEqual([
      0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3,
    ]);
    expect(Array.from({ length: 5 }, (_, j) => patchGroup(j, 5, 4))).toEqual([0, 0, 1, 2, 3]);
  });

  it('poisons and covers get one trigger each at its opacity, nothing else moves; labels: poisons → target, covers kept', () => {
    const before = ds.x.slice();
    const r = adaptivePatchAttack.poison(ds, base, new Rng(2));
    const p = r.record.params as Record<string, unknown>;
    expect(p.poisons).toBe(12);
    expect(p.regularization).toBe(24);
    expect(p).toMatchObject({ alphas, testAlpha: 1, coverRate: 0.04, rate: 0.02 });
    expect(new Set(r.record.indices).size).toBe(36);
    const kinds: { poison: number[]; cover: number[] } = { poison: [], cover: [] };
    expectOnlyListedModified(ds, before, r, (i, row, orig) => {
      const isPoison = r.dataset.y[i] !== ds.y[i];
      if (isPoison) {
        expect(ds.y[i]).not.toBe(0);
        expect(r.dataset.y[i]).toBe(0);
      }
      // Exactly one trigger's pixels may move, blended at that trigger's opacity.
      const which = patches.findIndex((q) => {
        const expected = applyPatch(orig, shape, q, q.alpha);
        return expected.every((v, j) => Math.abs(v - row[j]!) < 1e-6);
      });
      expect(which).toBeGreaterThanOrEqual(0);
      const inside = maskPixels(which);
      for (let j = 0; j < size; j++) {
        if (!inside.has(Math.floor(j / 2))) expect(row[j]).toBe(orig[j]);
      }
      (isPoison ? kinds.poison : kinds.cover).push(which);
    });
    // Ascending records: trigger k on the k-th quarter of the poisons and of the covers.
    expect(kinds.poison).toEqual([0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]);
    expect(kinds.cover).toEqual(Array.from({ length: 24 }, (_, j) => Math.floor(j / 6)));
    const again = adaptivePatchAttack.poison(ds, base, new Rng(2));
    expect(again.dataset.x).toEqual(r.dataset.x);
    expect(again.record).toEqual(r.record);
    expect(adaptivePatchAttack.poison(ds, base, new Rng(3)).record.indices).not.toEqual(
      r.record.indices,
    );
  });

  it('the test trigger draws every patch at full opacity by default, nothing else', () => {
    const img = ds.x.slice(0, size);
    const out = adaptivePatchTestTrigger(patches).apply(img, shape, new Rng(1));
    const all = new Set(patches.flatMap((_, k) => [...maskPixels(k)]));
    for (let j = 0; j < size; j++) {
      const px = Math.floor(j / 2);
      const k = patches.findIndex((q) => q.mask[px] === 1);
      expect(out[j]).toBe(all.has(px) ? patches[k]!.mark[j] : img[j]);
    }
    const half = adaptivePatchTestTrigger(patches, 0.5).apply(img, shape, new Rng(1));
    const px = [...maskPixels(1)][0]!;
    expect(half[px * 2]).toBeCloseTo(
      img[px * 2]! + 0.5 * (patches[1]!.mark[px * 2]! - img[px * 2]!),
      6,
    );
  });

  it('rejects bad parameters with INVALID_ARGUMENT', () => {
    const bad: AdaptivePatchOptions[] = [
      { ...base, target: 3 },
      { ...base, rate: 0 },
      { ...base, rate: 1 },
      { ...base, coverRate: -0.1 },
      { ...base, coverRate: 1 },
      { ...base, testAlpha: 0 },
      { ...base, testAlpha: 1.5 },
      { ...base, patches: patches.slice(0, 1) },
      { ...base, patches: [patches[0]!, { ...patches[1]!, alpha: 0 }] },
      { ...base, patches: [patches[0]!, { ...patches[1]!, mark: new Float32Array(10) }] },
      { ...base, patches: [patches[0]!, { ...patches[1]!, mask: new Uint8Array(100) }] },
    ];
    for (const o of bad) {
      expectThrowsCode(() => adaptivePatchAttack.poison(ds, o, new Rng(1)));
    }
    expectThrowsCode(() => adaptivePatchTriggers(shape, [0.5], 3, 1));
    expectThrowsCode(() => adaptivePatchTriggers(shape, [0.5, 0.5, 0.5, 0.5, 0.5], 3, 1));
    expectThrowsCode(() => adaptivePatchTriggers(shape, alphas, 5, 1)); // corners overlap
    expectThrowsCode(() => adaptivePatchTriggers(shape, alphas, 0, 1));
  });
});
