import { beforeAll, describe, expect, it } from 'vitest';
import { initEngine } from '../engine/backend.js';
import type { TfClassifier } from '../engine/tf-classifier.js';
import { syntheticImages, trainPair, triggered } from '../testing/fixtures.js';
import { StripProbe } from './backdoor-probe.js';

describe('STRIP backdoor probe (Gao et al. 2019)', () => {
  let clean: TfClassifier;
  let backdoored: TfClassifier;
  beforeAll(async () => {
    await initEngine();
    ({ clean, backdoored } = await trainPair());
  }, 60_000);

  it('rejects triggered inputs of a backdoored model and about FRR of clean ones', async () => {
    const val = syntheticImages(200, 21);
    const test = syntheticImages(200, 22);
    const nonTarget = Array.from(test.y.keys()).filter((i) => test.y[i] !== 0);
    const tx = triggered(test);
    const rows = new Float32Array(nonTarget.length * 64);
    nonTarget.forEach((i, j) => {
      rows.set(tx.subarray(i * 64, (i + 1) * 64), j * 64);
    });
    const rate = (a: Uint8Array) => a.reduce((s, v) => s + v, 0) / a.length;
    const probe = await StripProbe.calibrate(
      backdoored,
      { x: val.x, n: 200 },
      { seed: 1, frr: 0.05 },
    );
    const onClean = await probe.score({ x: test.x, n: 200 });
    const onTrig = await probe.score({ x: rows, n: nonTarget.length });
    expect(rate(onClean.rejected)).toBeLessThan(0.15);
    expect(rate(onTrig.rejected)).toBeGreaterThan(0.8);
    // Triggered inputs win their control blends: never overlay-dominated.
    expect(rate(onTrig.overlayDominated)).toBeLessThan(0.05);
    // Clean images translated by one pixel carry little class evidence: the overlays decide each
    // blend, so STRIP's entropy is low, but that is no trigger: overlay-dominated, not rejected.
    const shifted = new Float32Array(test.x.length);
    for (let i = 0; i < 200; i++)
      for (let k = 0; k < 64; k++) {
        const r = Math.floor(k / 8) - 1;
        const c = (k % 8) - 1;
        shifted[i * 64 + k] = r >= 0 && c >= 0 ? test.x[i * 64 + r * 8 + c]! : 0;
      }
    const onShifted = await probe.score({ x: shifted, n: 200 });
    expect(rate(onShifted.rejected)).toBeLessThan(0.15);
    expect(rate(onShifted.overlayDominated)).toBeGreaterThan(0.3);
    for (let i = 0; i < 200; i++) {
      expect(onShifted.rejected[i]! + onShifted.overlayDominated[i]!).toBeLessThanOrEqual(1);
      // Dominance is measured exactly for the low-entropy records.
      if (onShifted.rejected[i] || onShifted.overlayDominated[i]) {
        expect(onShifted.dominance[i]).toBeGreaterThanOrEqual(0);
      } else expect(onShifted.dominance[i]).toBeNaN();
    }
    // The clean model has no backdoor: the trigger does not lower its entropy much.
    const cp = await StripProbe.calibrate(clean, { x: val.x, n: 200 }, { seed: 1, frr: 0.05 });
    expect(rate((await cp.score({ x: rows, n: nonTarget.length })).rejected)).toBeLessThan(0.3);
    // Seeded: the same calibration gives the same threshold.
    const again = await StripProbe.calibrate(
      backdoored,
      { x: val.x, n: 200 },
      { seed: 1, frr: 0.05 },
    );
    expect(again.threshold).toBe(probe.threshold);
  });
});
