import { describe, expect, it } from 'vitest';
import { recordSize, validateDataset } from '../data/dataset.js';
import { isAntidoteError } from '../errors.js';
import { syntheticImages } from '../testing/synthetic-images.js';
import { Rng } from '../util/rng.js';
import { type SigOptions, sigAttack, sigColumnSignal, sigTestTrigger, sigTrigger } from './sig.js';

const ds = syntheticImages(300, [6, 10, 2], 3, 5);
const size = recordSize(ds);
const base: SigOptions = { target: 1, rate: 0.2, signal: 'sin', delta: 0.1, frequency: 3 };

describe('SIG (Barni et al. 2019)', () => {
  it('is the paper’s signal: Δ·sin(2π·j·f/m) and j·Δ/m for the columns j = 1…m', () => {
    const sin = sigColumnSignal({ signal: 'sin', delta: 0.2, frequency: 6 }, 28);
    const ramp = sigColumnSignal({ signal: 'ramp', delta: 0.3 }, 28);
    for (let col = 0; col < 28; col++) {
      const j = col + 1;
      expect(sin[col]).toBeCloseTo(0.2 * Math.sin((2 * Math.PI * j * 6) / 28), 6);
      expect(ramp[col]).toBeCloseTo((j * 0.3) / 28, 6);
    }
    expect(ramp[27]).toBeCloseTo(0.3, 6);
  });

  it('adds the column signal to every row and channel, clipped to [0, 1]', () => {
    const image = new Float32Array(3 * 4 * 2).fill(0.5);
    image[0] = 0.98; // row 0, col 0, channel 0: clipped at 1
    image[5] = 0.01; // row 0, col 2 (signal −Δ), channel 1: clipped at 0
    const t = sigTrigger({ signal: 'sin', delta: 0.1, frequency: 1 });
    const out = t.apply(image, [3, 4, 2], new Rng(1));
    const v = [0, 1, 2, 3].map((col) => 0.1 * Math.sin((2 * Math.PI * (col + 1)) / 4));
    for (let r = 0; r < 3; r++) {
      for (let col = 0; col < 4; col++) {
        for (let ch = 0; ch < 2; ch++) {
          const i = (r * 4 + col) * 2 + ch;
          const want = Math.min(1, Math.max(0, image[i]! + v[col]!));
          expect(out[i]).toBeCloseTo(want, 6);
        }
      }
    }
    expect(out[0]).toBe(1);
    expect(out[5]).toBe(0);
    expect(image[0]).toBeCloseTo(0.98, 6); // input untouched
  });

  it('modifies only the chosen target-class records, never a label, and is seeded', () => {
    const before = ds.x.slice();
    const r = sigAttack.poison(ds, base, new Rng(3));
    validateDataset(r.dataset);
    expect(ds.x).toEqual(before);
    expect(r.dataset.y).toEqual(ds.y);
    const targetCount = ds.y.filter((c) => c === 1).length;
    expect(r.record.indices.length).toBe(Math.round(0.2 * targetCount));
    expect(r.record.achievedRate).toBeCloseTo(r.record.indices.length / targetCount, 10);
    expect(r.record.rateDefinition).toBe('of-target-class');
    expect(r.record.originalLabels).toEqual(r.record.poisonedLabels);
    expect(r.record.params).toMatchObject({
      signal: 'sin',
      delta: 0.1,
      frequency: 3,
      labelsUnchanged: true,
    });
    const chosen = new Set(r.record.indices);
    const t = sigTrigger(base);
    for (let i = 0; i < ds.y.length; i++) {
      const row = r.dataset.x.subarray(i * size, (i + 1) * size);
      const orig = ds.x.subarray(i * size, (i + 1) * size);
      if (chosen.has(i)) {
        expect(ds.y[i]).toBe(1);
        expect(row).toEqual(t.apply(orig, [6, 10, 2], new Rng(0)));
        expect(r.poisoned[i]).toBe(1);
      } else {
        expect(row).toEqual(orig);
        expect(r.poisoned[i]).toBe(0);
      }
    }
    const again = sigAttack.poison(ds, base, new Rng(3));
    expect(again.dataset.x).toEqual(r.dataset.x);
    expect(again.record).toEqual(r.record);
    const other = sigAttack.poison(ds, base, new Rng(4));
    expect(other.record.indices).not.toEqual(r.record.indices);
    expect(JSON.parse(JSON.stringify(r.record))).toEqual(r.record);
  });

  it('the test trigger uses Δ_test (default Δ)', () => {
    const img = new Float32Array(6 * 10 * 2).fill(0.5);
    const shape = [6, 10, 2];
    expect(sigTestTrigger(base).apply(img, shape, new Rng(1))).toEqual(
      sigTrigger(base).apply(img, shape, new Rng(1)),
    );
    expect(sigTestTrigger({ ...base, testDelta: 0.3 }).apply(img, shape, new Rng(1))).toEqual(
      sigTrigger({ ...base, delta: 0.3 }).apply(img, shape, new Rng(1)),
    );
  });

  it('rejects bad parameters with INVALID_ARGUMENT', () => {
    const bad: SigOptions[] = [
      { ...base, target: 3 },
      { ...base, rate: 0 },
      { ...base, rate: 1 },
      { ...base, rate: 0.001 }, // poisons no record
      { ...base, delta: 0 },
      { ...base, delta: 1.5 },
      { ...base, frequency: 0 },
      { ...base, testDelta: -1 },
      { ...base, signal: 'square' as 'sin' },
    ];
    for (const o of bad) {
      let err: unknown;
      try {
        sigAttack.poison(ds, o, new Rng(1));
      } catch (e) {
        err = e;
      }
      expect(isAntidoteError(err) && err.code === 'INVALID_ARGUMENT').toBe(true);
    }
  });
});
