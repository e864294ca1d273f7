import { describe, expect, it } from 'vitest';
import { recordSize, validateDataset } from '../data/dataset.js';
import { isAntidoteError } from '../errors.js';
import { syntheticImages } from '../testing/synthetic-images.js';
import { Rng } from '../util/rng.js';
import {
  gridSample,
  upsampleBicubic,
  type WanetOptions,
  wanetAttack,
  wanetControlGrid,
  wanetField,
  wanetTrigger,
} from './wanet.js';

const shape = [10, 10, 1];
const ds = syntheticImages(400, shape, 4, 8);
const size = recordSize(ds);
const base: WanetOptions = { target: 2, rate: 0.05, crossRatio: 2 };

function identityField(h: number, w: number): Float32Array {
  const f = new Float32Array(h * w * 2);
  for (let r = 0; r < h; r++) {
    for (let c = 0; c < w; c++) {
      f[2 * (r * w + c)] = -1 + (2 * c) / (w - 1);
      f[2 * (r * w + c) + 1] = -1 + (2 * r) / (h - 1);
    }
  }
  return f;
}

describe('WaNet (Nguyen & Tran 2021)', () => {
  it('control grid: U(−1, 1) normalised to mean |P| = 1, seeded', () => {
    const p = wanetControlGrid(4, new Rng(3));
    expect(p.length).toBe(32);
    expect(p.reduce((a, v) => a + Math.abs(v), 0) / 32).toBeCloseTo(1, 5);
    expect(wanetControlGrid(4, new Rng(3))).toEqual(p);
    expect(wanetControlGrid(4, new Rng(4))).not.toEqual(p);
  });

  it('bicubic upsampling with aligned corners hits the control points and keeps constants', () => {
    const plane = Float32Array.from({ length: 16 }, (_, i) => Math.sin(i));
    const up = upsampleBicubic(plane, 4, 28, 28);
    // Output o maps to input o·3/27: rows / columns 0, 9, 18, 27 are the control points.
    for (const [o, i] of [
      [0, 0],
      [9, 1],
      [18, 2],
      [27, 3],
    ] as const) {
      for (const [p, j] of [
        [0, 0],
        [9, 1],
        [27, 3],
      ] as const) {
        expect(up[o * 28 + p]).toBeCloseTo(plane[i * 4 + j]!, 5);
      }
    }
    const flat = upsampleBicubic(new Float32Array(16).fill(0.7), 4, 13, 9);
    for (const v of flat) expect(v).toBeCloseTo(0.7, 6);
  });

  it('the field is clamp((identity + s·P↑/h)·rescale, −1, 1)', () => {
    const k = 3;
    const control = wanetControlGrid(k, new Rng(1));
    const f = wanetField(control, k, 8, 8, { strength: 0.7, gridRescale: 1.1 });
    const ux = upsampleBicubic(control.subarray(0, 9), k, 8, 8);
    const uy = upsampleBicubic(control.subarray(9), k, 8, 8);
    for (let r = 0; r < 8; r++) {
      for (let c = 0; c < 8; c++) {
        const i = r * 8 + c;
        const cl = (v: number) => Math.min(1, Math.max(-1, v));
        expect(f[2 * i]).toBeCloseTo(cl((-1 + (2 * c) / 7 + (0.7 * ux[i]!) / 8) * 1.1), 5);
        expect(f[2 * i + 1]).toBeCloseTo(cl((-1 + (2 * r) / 7 + (0.7 * uy[i]!) / 8) * 1.1), 5);
      }
    }
  });

  it('grid sampling: identity is exact, shifts interpolate bilinearly, outside is zero', () => {
    const img = Float32Array.from({ length: 5 * 6 * 2 }, (_, i) => (i % 7) / 7);
    const same = gridSample(img, [5, 6, 2], identityField(5, 6));
    // Exact up to float rounding.
    same.forEach((v, i) => {
      expect(v).toBeCloseTo(img[i]!, 6);
    });
    // Half a pixel to the right: the mean of two neighbours; past the last column, zero padding.
    const f = identityField(5, 6);
    for (let i = 0; i < 30; i++) f[2 * i]! += 1 / 5;
    const out = gridSample(img, [5, 6, 2], f);
    for (let r = 0; r < 5; r++) {
      for (let c = 0; c < 6; c++) {
        for (let ch = 0; ch < 2; ch++) {
          const at = (cc: number) => (cc < 6 ? img[(r * 6 + cc) * 2 + ch]! : 0);
          expect(out[(r * 6 + c) * 2 + ch]).toBeCloseTo((at(c) + at(c + 1)) / 2, 5);
        }
      }
    }
  });

  it('poisons are warped and relabelled, noise-mode records warped otherwise and keep labels, the rest untouched', () => {
    const before = ds.x.slice();
    const r = wanetAttack.poison(ds, base, new Rng(6));
    validateDataset(r.dataset);
    expect(ds.x).toEqual(before);
    const p = r.record.params as { poisons: number; regularization: number; controlGrid: number[] };
    expect(p.poisons).toBe(20);
    expect(p.regularization).toBe(40);
    expect(r.record.indices.length).toBe(60);
    const trigger = wanetTrigger(Float32Array.from(p.controlGrid), { strength: 0.5 });
    const modified = new Set(r.record.indices);
    let relabelled = 0;
    for (let i = 0; i < ds.y.length; i++) {
      const row = r.dataset.x.subarray(i * size, (i + 1) * size);
      const orig = ds.x.subarray(i * size, (i + 1) * size);
      expect(r.poisoned[i]).toBe(modified.has(i) ? 1 : 0);
      if (!modified.has(i)) {
        expect(row).toEqual(orig);
        expect(r.dataset.y[i]).toBe(ds.y[i]);
      } else if (r.dataset.y[i] !== ds.y[i]) {
        relabelled++;
        expect(r.dataset.y[i]).toBe(2);
        expect(row).toEqual(trigger.apply(orig, shape, new Rng(0)));
      } else {
        // Noise mode: the warp plus a random perturbation, not the exact warp.
        expect(row).not.toEqual(trigger.apply(orig, shape, new Rng(0)));
        expect(row).not.toEqual(orig);
      }
    }
    expect(relabelled).toBe(20);
    const j = r.record.indices.indexOf(r.record.indices.find((i) => r.dataset.y[i] !== ds.y[i])!);
    expect(r.record.originalLabels[j]).not.toBe(2);
    expect(r.record.poisonedLabels[j]).toBe(2);
    const again = wanetAttack.poison(ds, base, new Rng(6));
    expect(again.dataset.x).toEqual(r.dataset.x);
    expect(again.record).toEqual(r.record);
    expect(
      wanetAttack.poison(ds, { ...base, crossRatio: 0 }, new Rng(6)).record.indices.length,
    ).toBe(20);
  });

  it('rejects bad parameters with INVALID_ARGUMENT', () => {
    const bad: WanetOptions[] = [
      { ...base, target: 4 },
      { ...base, rate: 0 },
      { ...base, rate: 1 },
      { ...base, gridSize: 1 },
      { ...base, gridSize: 2.5 },
      { ...base, strength: 0 },
      { ...base, gridRescale: -1 },
      { ...base, crossRatio: -1 },
      { ...base, rate: 0.2, crossRatio: 5 }, // more noise records than records left
    ];
    for (const o of bad) {
      let err: unknown;
      try {
        wanetAttack.poison(ds, o, new Rng(1));
      } catch (e) {
        err = e;
      }
      expect(isAntidoteError(err) && err.code === 'INVALID_ARGUMENT').toBe(true);
    }
  });
});
