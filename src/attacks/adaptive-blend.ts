/**
 * Adaptive-Blend (Qi, Xie, Li, Wang & Mittal 2023, "Revisiting the Assumption of Latent
 * Separability for Backdoor Defenses", ICLR), a backdoor built to defeat latent-separation
 * detectors (activation clustering, spectral signatures, SPECTRE): it keeps the poisons' latent
 * representations mixed with the clean target class.
 *
 * - The trigger is a blended picture (`x + α·(key − x)`), split into `pieces` equal tiles (a
 *   √pieces × √pieces grid); every poisoned training record gets it on a random subset of tiles
 *   only (`maskedPieces` tiles left out, drawn per record), with a low opacity α (paper: 0.15).
 * - "Conservatism": `coverRate` of the training set are regularization records that carry the
 *   same partial trigger but keep their true label, so the trigger alone is weak evidence.
 * - At test time the full trigger (every tile) is blended with a higher opacity (paper: 0.2).
 *
 * Paper defaults (CIFAR-10): 16 pieces, 8 masked, α 0.15 / 0.2, poison and cover rates 0.3%
 * each. Pixels not covered by the tile grid (when the side does not divide) always get the
 * trigger, as in the authors' code. Poisons are drawn among non-target records and relabelled
 * (all-to-one); covers among the rest (`regularized-backdoor.ts`).
 */
import type { Dataset } from '../data/dataset.js';
import { AntidoteError } from '../errors.js';
import type { Rng } from '../util/rng.js';
import type { PoisoningAttack, PoisonResult } from './attack.js';
import { assembleRegularizedBackdoor, planWithCoverRate } from './regularized-backdoor.js';
import { type ImageTransform, imageRecordShape } from './target-class.js';
import { imageDims } from './triggers.js';

/** Options of {@link adaptiveBlendAttack}. */
export interface AdaptiveBlendOptions {
  readonly target: number;
  /** Share of the training set poisoned (relabelled), in (0, 1). */
  readonly rate: number;
  /** Share of the training set used as regularization (trigger, true label), in [0, 1). */
  readonly coverRate: number;
  /**
   * The blend key, `[H, W, C]` values in [0, 1], for the dataset's record shape (e.g. a noise
   * key from `blendNoiseKey` or a picture resampled by `resampleRaster`).
   */
  readonly key: Float32Array;
  /** Tiles the trigger is split into, a perfect square ≥ 4 (default 16). */
  readonly pieces?: number;
  /** Tiles left out of each poisoned / regularization record, in [1, pieces) (default pieces/2). */
  readonly maskedPieces?: number;
  /** Opacity on the training records, in (0, 1] (default 0.15). */
  readonly alpha?: number;
  /** Opacity at test time, in (0, 1] (default 0.2). */
  readonly testAlpha?: number;
  /** Description of the key for the record (e.g. `{ blendSeed: 0 }`). */
  readonly keyInfo?: Readonly<Record<string, unknown>>;
}

/** The paper's defaults. */
export const ADAPTIVE_BLEND_DEFAULTS = Object.freeze({ pieces: 16, alpha: 0.15, testAlpha: 0.2 });

function bad(field: string, message: string): never {
  throw new AntidoteError('INVALID_ARGUMENT', `Adaptive-Blend ${message}`, { field });
}

/** `INVALID_ARGUMENT` for bad options (the key's shape is checked against `shape` when given). */
export function checkAdaptiveBlendOptions(
  o: Omit<AdaptiveBlendOptions, 'key' | 'target' | 'rate'>,
  shape?: readonly number[],
  key?: Float32Array,
): void {
  const pieces = o.pieces ?? ADAPTIVE_BLEND_DEFAULTS.pieces;
  const div = Math.round(Math.sqrt(pieces));
  if (!Number.isInteger(pieces) || pieces < 4 || div * div !== pieces) {
    bad('pieces', `pieces must be a perfect square ≥ 4, got ${pieces}`);
  }
  const masked = o.maskedPieces ?? Math.floor(pieces / 2);
  if (!Number.isInteger(masked) || masked < 1 || masked >= pieces) {
    bad('maskedPieces', `masked pieces must be an integer in [1, ${pieces}), got ${masked}`);
  }
  for (const [field, v] of [
    ['alpha', o.alpha ?? ADAPTIVE_BLEND_DEFAULTS.alpha],
    ['testAlpha', o.testAlpha ?? ADAPTIVE_BLEND_DEFAULTS.testAlpha],
  ] as const) {
    if (typeof v !== 'number' || !(v > 0 && v <= 1))
      bad(field, `${field} must be in (0, 1], got ${v}`);
  }
  if (typeof o.coverRate !== 'number' || !(o.coverRate >= 0 && o.coverRate < 1)) {
    bad('coverRate', `cover rate must be in [0, 1), got ${o.coverRate}`);
  }
  if (shape) {
    const { h, w, c } = imageDims(shape);
    if (h < div || w < div) bad('pieces', `${pieces} pieces do not fit a ${h}×${w} image`);
    if (key && key.length !== h * w * c) {
      bad('key', `the key has ${key.length} values, the records ${h * w * c}`);
    }
  }
}

/**
 * The 0/1 mask `[h, w]` of the tiles kept: tile t covers rows `⌊t/√pieces⌋·⌊h/√pieces⌋ …` and
 * columns `(t mod √pieces)·⌊w/√pieces⌋ …`; `left` are the tiles left out.
 */
export function pieceMask(h: number, w: number, pieces: number, left: Iterable<number>) {
  const div = Math.round(Math.sqrt(pieces));
  const sh = Math.floor(h / div);
  const sw = Math.floor(w / div);
  const mask = new Uint8Array(h * w).fill(1);
  for (const t of left) {
    const r0 = Math.floor(t / div) * sh;
    const c0 = (t % div) * sw;
    for (let r = r0; r < r0 + sh; r++) mask.fill(0, r * w + c0, r * w + c0 + sw);
  }
  return mask;
}

/** Blends `key` into `image` with opacity `alpha` where `mask` (per pixel, or none) is 1. */
export function blendMasked(
  image: Float32Array,
  shape: readonly number[],
  key: Float32Array,
  alpha: number,
  mask?: Uint8Array,
): Float32Array {
  const { h, w, c } = imageDims(shape);
  if (image.length !== h * w * c || key.length !== image.length) {
    throw new AntidoteError(
      'SHAPE_MISMATCH',
      `image of ${image.length} values / key of ${key.length} for shape [${shape.join(', ')}]`,
    );
  }
  const out = image.slice();
  for (let i = 0; i < out.length; i++) {
    if (mask && mask[Math.floor(i / c)] === 0) continue;
    out[i] = image[i]! + alpha * (key[i]! - image[i]!);
  }
  return out;
}

/** The test-time trigger: every tile, opacity `testAlpha`. */
export function adaptiveBlendTestTrigger(key: Float32Array, testAlpha: number): ImageTransform {
  return { apply: (image, shape) => blendMasked(image, shape, key, testAlpha) };
}

/** The Adaptive-Blend attack (see the module comment). */
export const adaptiveBlendAttack: PoisoningAttack<AdaptiveBlendOptions> = Object.freeze({
  name: 'adaptive-blend',
  poison(ds: Dataset, o: AdaptiveBlendOptions, rng: Rng): PoisonResult {
    const shape = imageRecordShape(ds, 'Adaptive-Blend');
    checkAdaptiveBlendOptions(o, shape, o.key);
    const pieces = o.pieces ?? ADAPTIVE_BLEND_DEFAULTS.pieces;
    const masked = o.maskedPieces ?? Math.floor(pieces / 2);
    const alpha = o.alpha ?? ADAPTIVE_BLEND_DEFAULTS.alpha;
    const plan = planWithCoverRate(ds, o.target, o.rate, o.coverRate, rng);
    const { h, w } = imageDims(shape);
    const tiles = rng.fork('pieces');
    const partial = (row: Float32Array) =>
      blendMasked(row, shape, o.key, alpha, pieceMask(h, w, pieces, tiles.sample(pieces, masked)));
    return assembleRegularizedBackdoor(ds, plan, o.target, partial, partial, {
      attack: 'adaptive-blend',
      seed: rng.seed,
      params: {
        target: o.target,
        rate: o.rate,
        coverRate: o.coverRate,
        pieces,
        maskedPieces: masked,
        alpha,
        testAlpha: o.testAlpha ?? ADAPTIVE_BLEND_DEFAULTS.testAlpha,
        ...(o.keyInfo ? { key: o.keyInfo } : {}),
      },
    });
  },
});
