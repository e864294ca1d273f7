import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initEngine } from '../engine/backend.js';
import type { Classifier } from '../engine/classifier.js';
import { isAntidoteError } from '../errors.js';
import { triggeredTestSet } from '../eval/metrics.js';
import { type MnistFixture, mnistFixture } from '../testing/images.js';
import { Rng } from '../util/rng.js';
import {
  entropyBits,
  fitStrip,
  stripDetect,
  stripEntropy,
  stripRates,
  stripRecords,
  stripThreshold,
} from './strip.js';

describe('STRIP primitives', () => {
  it('entropy in bits', () => {
    expect(entropyBits([0.5, 0.5])).toBeCloseTo(1, 10);
    expect(entropyBits([1, 0, 0, 0])).toBe(0);
    expect(entropyBits([0, 0.25, 0.25, 0.25, 0.25], 1, 4)).toBeCloseTo(2, 10);
  });

  it('threshold is the FRR quantile: exactly ⌊frr·n⌋ clean inputs fall below it', () => {
    const clean = Float32Array.from({ length: 200 }, (_, i) => (i * 7919) % 200);
    const t = stripThreshold(clean, 0.05);
    expect(clean.filter((h) => h < t).length).toBe(10);
  });

  it('rates use DESIGN.md names: FRR = clean rejected, FAR = triggered accepted', () => {
    const r = stripRates(Uint8Array.from([1, 0, 0, 0]), Uint8Array.from([1, 1, 0, 1, 1]));
    expect(r.frr).toBe(0.25);
    expect(r.far).toBe(0.2);
  });

  it('rejects bad parameters', async () => {
    const fake: Classifier = {
      inputShape: [2],
      numClasses: 2,
      layerNames: [],
      predictProba: async (_x, n) => new Float32Array(n * 2).fill(0.5),
      predict: async (_x, n) => new Int32Array(n),
      activations: async () => ({ data: new Float32Array(0), dim: 0 }),
    };
    const pool = { x: new Float32Array(4), n: 2 };
    const bad = [
      () => stripThreshold([1, 2], 0),
      () => stripThreshold([1, 2], 1),
      () => stripThreshold([], 0.1),
    ];
    for (const f of bad) expect(() => f()).toThrow(/FRR|clean entropies/);
    for (const run of [
      () => stripEntropy(fake, new Float32Array(3), 1, pool, { seed: 1 }),
      () => stripEntropy(fake, new Float32Array(2), 1, pool, { seed: 1, overlays: 0 }),
      () =>
        stripEntropy(fake, new Float32Array(2), 1, { x: new Float32Array(0), n: 0 }, { seed: 1 }),
      () => stripEntropy(fake, new Float32Array(2), 1, pool, { seed: 1.5 }),
    ]) {
      await expect(run()).rejects.toSatisfy((e) => isAntidoteError(e));
    }
    // A uniform model gives entropy log2(K) whatever the overlays.
    const h = await stripEntropy(fake, new Float32Array(4), 2, pool, { seed: 3, overlays: 5 });
    expect(Array.from(h)).toEqual([1, 1]);
  });
});

describe('STRIP on a BadNets-poisoned MNIST CNN', () => {
  let fx: MnistFixture;

  beforeAll(async () => {
    await initEngine();
    fx = await mnistFixture();
  });
  afterAll(() => fx?.model.dispose());

  it('rejects most triggered inputs at the chosen FRR, reproducibly', async () => {
    const { model, test } = fx;
    const fit = await fitStrip(model, stripRecords(fx.calib), stripRecords(fx.pool), {
      seed: 5,
      overlays: 16,
      frr: 0.05,
    });
    expect(fit.cleanEntropy.filter((h) => h < fit.threshold).length).toBe(10);
    const trig = triggeredTestSet(test, fx.trigger, { mode: 'all-to-one', target: 0 }, new Rng(1));
    const onTrig = await stripDetect(model, trig.x, trig.n, fit);
    const onClean = await stripDetect(model, test.x, test.y.length, fit);
    const rates = stripRates(onClean.rejected, onTrig.rejected);
    // Measured 13% FAR at 8% FRR on this tiny model (and 0% FAR on the 28 × 28 CNN of the bench).
    expect(rates.far).toBeLessThanOrEqual(0.3);
    expect(rates.frr).toBeLessThanOrEqual(0.15);
    const mean = (a: Float32Array) => a.reduce((s, v) => s + v, 0) / a.length;
    expect(mean(onTrig.entropy)).toBeLessThan(mean(onClean.entropy) / 2);
    const again = await stripDetect(model, trig.x, trig.n, fit);
    expect(Array.from(again.entropy)).toEqual(Array.from(onTrig.entropy));
    // Without the trigger the same inputs are accepted far more often.
    const plain = await stripDetect(model, test.x.slice(0, trig.n * 196), trig.n, fit);
    expect(plain.rejected.reduce((a, b) => a + b, 0)).toBeLessThan(
      onTrig.rejected.reduce((a, b) => a + b, 0) / 3,
    );
  });

  it('exact early acceptance: the decisions of the full computation, fewer overlays for clean inputs', async () => {
    const { model, test } = fx;
    const fit = await fitStrip(model, stripRecords(fx.calib), stripRecords(fx.pool), {
      seed: 5,
      overlays: 16,
      frr: 0.05,
    });
    const trig = triggeredTestSet(test, fx.trigger, { mode: 'all-to-one', target: 0 }, new Rng(1));
    for (const [x, n] of [
      [test.x, test.y.length],
      [trig.x, trig.n],
    ] as const) {
      const full = await stripDetect(model, x, n, fit, 11);
      const early = await stripDetect(model, x, n, fit, 11, { earlyAccept: true, stage: 3 });
      expect(Array.from(early.rejected)).toEqual(Array.from(full.rejected));
      expect(Array.from(full.overlaysEvaluated!).every((v) => v === 16)).toBe(true);
      for (let i = 0; i < n; i++) {
        const used = early.overlaysEvaluated![i]!;
        // Stages of 3: 3, 6, 9, 12, 15, then the last one.
        expect([3, 6, 9, 12, 15, 16]).toContain(used);
        if (early.rejected[i]) expect(used).toBe(16);
        if (used === 16) expect(early.entropy[i]).toBeCloseTo(full.entropy[i]!, 5);
        else expect(early.entropy[i]! * used).toBeGreaterThanOrEqual(16 * fit.threshold - 1e-9);
      }
    }
    // Clean inputs mostly stop early: far fewer forward passes than 16 per input.
    const clean = await stripDetect(model, test.x, test.y.length, fit, 11, { earlyAccept: true });
    const mean = clean.overlaysEvaluated!.reduce((a, b) => a + b, 0) / test.y.length;
    expect(mean).toBeLessThan(12);
    await expect(
      stripDetect(model, test.x.subarray(0, 196), 1, fit, 1, { earlyAccept: true, stage: 0 }),
    ).rejects.toSatisfy((e) => isAntidoteError(e) && e.code === 'INVALID_ARGUMENT');
  });
});
