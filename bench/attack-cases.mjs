// The attack cases of the attack benchmark (issue 20) and how each poisons a training set, shared
// by bench/attacks.mjs and bench/clean-label-detection.mjs.
import { adaptiveBlendAttack, adaptiveBlendTestTrigger } from '../dist/attacks/adaptive-blend.js';
import {
  ADAPTIVE_PATCH_DEFAULTS,
  adaptivePatchAttack,
  adaptivePatchTestTrigger,
  adaptivePatchTriggers,
} from '../dist/attacks/adaptive-patch.js';
import { cleanLabelBackdoor } from '../dist/attacks/clean-label-backdoor.js';
import { sigAttack, sigTestTrigger } from '../dist/attacks/sig.js';
import { blendNoiseKey } from '../dist/attacks/triggers.js';
import { wanetAttack, wanetTrigger } from '../dist/attacks/wanet.js';
import { evaluateDetection } from '../dist/eval/detection.js';

const round = (v, d = 4) => (v === undefined || v === null ? null : Number(v.toFixed(d)));

/** The attack cases against target class `target` (name → family, options, victim epochs). */
export function attackCases(target) {
  const corner4 = { kind: 'corner', size: 3, corners: 'four', amplitude: 0.5 };
  /** An Adaptive-* case: `rate` poisons, `covers` times as many covers. */
  const adaptive = (family, rate, covers) => ({
    family,
    options: { target, rate, coverRate: covers * rate },
  });
  return {
    // SIG (Barni et al. 2019): the paper's sinusoid, and the ramp that did best on MNIST.
    'sig-sin-20%': {
      family: 'sig',
      options: { target, rate: 0.2, signal: 'sin', delta: 20 / 255, frequency: 6 },
      testDelta: 0.3,
    },
    'sig-ramp-20%': {
      family: 'sig',
      options: { target, rate: 0.2, signal: 'ramp', delta: 0.2 },
      testDelta: 0.6,
    },
    // Turner et al. 2019 as the paper does it: robust surrogate, four corners, amplitude 0.5.
    'clean-label-20%': {
      family: 'clean-label',
      options: { target, rate: 0.2, epsilon: 0.3, trigger: corner4, pgd: { steps: 20 } },
    },
    'clean-label-10%': {
      family: 'clean-label',
      options: { target, rate: 0.1, epsilon: 0.3, trigger: corner4, pgd: { steps: 20 } },
    },
    // WaNet (Nguyen & Tran 2021), MNIST settings: k 4, s 0.5, noise mode (cross ratio 2).
    'wanet-10%': { family: 'wanet', options: { target, rate: 0.1, crossRatio: 2 }, epochs: 8 },
    'wanet-0.5%': { family: 'wanet', options: { target, rate: 0.005, crossRatio: 2 }, epochs: 8 },
    // Adaptive-Blend (Qi et al. 2023): 16 pieces, 8 masked, α 0.15 / 0.2, noise key, covers 1×.
    'adaptive-blend-0.3%': adaptive('adaptive-blend', 0.003, 1),
    'adaptive-blend-1%': adaptive('adaptive-blend', 0.01, 1),
    // Adaptive-Patch (Qi et al. 2023): four 4×4 corner patches, α 0.5 / 0.2 / 0.5 / 0.3, covers 2×.
    'adaptive-patch-0.3%': adaptive('adaptive-patch', 0.003, 2),
    'adaptive-patch-1%': adaptive('adaptive-patch', 0.01, 2),
  };
}

/**
 * Poisons `train` (record shape `shape`) with case `c`: the result `r`, the test trigger's
 * `apply`, and a word on the test trigger. `surrogate()` gives the clean-label backdoor's robust
 * surrogate.
 */
export async function poisonCase(train, shape, c, rng, surrogate) {
  switch (c.family) {
    case 'sig': {
      const r = sigAttack.poison(train, c.options, rng);
      return {
        r,
        apply: sigTestTrigger({ ...c.options, testDelta: c.testDelta }).apply,
        test: `testDelta ${round(c.testDelta, 3)}`,
      };
    }
    case 'clean-label': {
      const r = await cleanLabelBackdoor(train, await surrogate(), c.options, rng);
      return { r, apply: r.testTrigger.apply, test: 'four corners, full amplitude' };
    }
    case 'wanet': {
      const r = wanetAttack.poison(train, c.options, rng);
      const grid = Float32Array.from(r.record.params.controlGrid);
      return { r, apply: wanetTrigger(grid, r.record.params).apply, test: 'warp' };
    }
    case 'adaptive-blend': {
      const key = blendNoiseKey(shape, 0);
      const r = adaptiveBlendAttack.poison(
        train,
        { ...c.options, key, keyInfo: { blendSeed: 0 } },
        rng,
      );
      return { r, apply: adaptiveBlendTestTrigger(key, 0.2).apply, test: 'full trigger, α 0.2' };
    }
    case 'adaptive-patch': {
      const patches = adaptivePatchTriggers(shape, ADAPTIVE_PATCH_DEFAULTS.alphas, 4, 0);
      const r = adaptivePatchAttack.poison(
        train,
        { ...c.options, patches, patchInfo: { size: 4, patchSeed: 0 } },
        rng,
      );
      return { r, apply: adaptivePatchTestTrigger(patches, 1).apply, test: 'all patches, α 1' };
    }
    default:
      throw new Error(c.family);
  }
}

/** Precision / recall / F1 of a 0/1 flag array against the ground truth, to `digits` places. */
export function flagScore(flagged, truth, y, digits = 4) {
  const ev = evaluateDetection(
    { scores: Float32Array.from(flagged), flagged },
    { poisoned: truth, y },
  );
  const n = flagged.reduce((a, b) => a + b, 0);
  return {
    precision: n ? round(ev.precision, digits) : null,
    recall: round(ev.recall, digits),
    f1: round(ev.f1, digits),
    flagged: n,
  };
}
