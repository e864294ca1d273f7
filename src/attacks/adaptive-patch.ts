/**
 * Adaptive-Patch (Qi, Xie, Li, Wang & Mittal 2023, "Revisiting the Assumption of Latent
 * Separability for Backdoor Defenses", ICLR), the patch sibling of Adaptive-Blend
 * (`adaptive-blend.ts`): a backdoor built to keep its poisons' latent representations mixed with
 * the clean target class, so that latent-separation detectors (activation clustering, spectral
 * signatures, SPECTRE) miss them.
 *
 * - Several patch triggers, each a mark `[H, W, C]` drawn where its mask `[H, W]` is 1, each with
 *   its own low opacity α_k (`x + α_k·mask_k·(mark_k − x)`). The poisons are split into k equal
 *   consecutive groups (in ascending record order) and group k gets trigger k alone, as in the
 *   authors' code; so do the regularization records.
 * - "Conservatism": `coverRate` of the training set are regularization records carrying the same
 *   single, low-opacity triggers but keeping their true label (paper: cover rate twice the poison
 *   rate for Adaptive-Patch, 0.3% poisons and 0.6% covers on CIFAR-10).
 * - At test time every trigger is applied together, at full opacity by default (`testAlpha` 1):
 *   the combined trigger was never seen whole during training.
 *
 * Paper settings (CIFAR-10): four triggers with opacities 0.5, 0.2, 0.5 and 0.3. The built-in
 * triggers here ({@link adaptivePatchTriggers}) are seeded random binary squares in distinct
 * corners. Poisons are drawn among non-target records and relabelled (all-to-one); covers among
 * the rest (`regularized-backdoor.ts`).
 */
import type { Dataset } from '../data/dataset.js';
import { AntidoteError } from '../errors.js';
import { Rng } from '../util/rng.js';
import type { PoisoningAttack, PoisonResult } from './attack.js';
import { assembleRegularizedBackdoor, planWithCoverRate } from './regularized-backdoor.js';
import { type ImageTransform, imageRecordShape } from './target-class.js';
import { type Corner, imageDims, patchOrigin } from './triggers.js';

/** One patch trigger of Adaptive-Patch. */
export interface AdaptivePatch {
  /** The patch picture, `[H, W, C]` values in [0, 1] (only read where `mask` is 1). */
  readonly mark: Float32Array;
  /** Where the patch is drawn, `[H, W]` 0/1. */
  readonly mask: Uint8Array;
  /** Opacity on the training records, in (0, 1]. */
  readonly alpha: number;
}

/** Options of {@link adaptivePatchAttack}. */
export interface AdaptivePatchOptions {
  readonly target: number;
  /** Share of the training set poisoned (relabelled), in (0, 1). */
  readonly rate: number;
  /** Share of the training set used as regularization (trigger, true label), in [0, 1). */
  readonly coverRate: number;
  /** The triggers, at least 2. */
  readonly patches: readonly AdaptivePatch[];
  /** Opacity of every trigger in the combined test-time trigger, in (0, 1] (default 1). */
  readonly testAlpha?: number;
  /** Description of the triggers for the record (e.g. `{ patchSeed: 0, size: 4 }`). */
  readonly patchInfo?: Readonly<Record<string, unknown>>;
}

/** The paper's opacities of its four CIFAR-10 triggers, and the full-opacity test trigger. */
export const ADAPTIVE_PATCH_DEFAULTS = Object.freeze({
  alphas: Object.freeze([0.5, 0.2, 0.5, 0.3]),
  testAlpha: 1,
  size: 4,
});

/** The corners the built-in triggers occupy, in order. */
export const ADAPTIVE_PATCH_CORNERS: readonly Corner[] = Object.freeze([
  'top-left',
  'bottom-right',
  'top-right',
  'bottom-left',
]);

function bad(field: string, message: string): never {
  throw new AntidoteError('INVALID_ARGUMENT', `Adaptive-Patch ${message}`, { field });
}

function checkOpacity(field: string, v: unknown): void {
  if (typeof v !== 'number' || !(v > 0 && v <= 1)) {
    bad(field, `${field} must be in (0, 1], got ${v}`);
  }
}

/**
 * `INVALID_ARGUMENT` for bad options: cover rate, test opacity, the opacities (`alphas`, at
 * least 2) and, when given, the patches against the record `shape`.
 */
export function checkAdaptivePatchOptions(
  o: { readonly coverRate: number; readonly testAlpha?: number },
  alphas: readonly number[],
  shape?: readonly number[],
  patches?: readonly AdaptivePatch[],
): void {
  if (typeof o.coverRate !== 'number' || !(o.coverRate >= 0 && o.coverRate < 1)) {
    bad('coverRate', `cover rate must be in [0, 1), got ${o.coverRate}`);
  }
  checkOpacity('testAlpha', o.testAlpha ?? ADAPTIVE_PATCH_DEFAULTS.testAlpha);
  if (alphas.length < 2) bad('alphas', `needs at least 2 triggers, got ${alphas.length}`);
  for (const a of alphas) checkOpacity('alphas', a);
  if (!shape || !patches) return;
  const { h, w, c } = imageDims(shape);
  patches.forEach((p, k) => {
    if (p.mark.length !== h * w * c || p.mask.length !== h * w) {
      bad('patches', `trigger ${k} is not the size of a [${shape.join(', ')}] record`);
    }
    if (!p.mask.some((m) => m === 1)) bad('patches', `trigger ${k} has an empty mask`);
  });
}

/**
 * `INVALID_ARGUMENT` unless `count` seeded `size × size` patches fit the distinct corners of an
 * `h × w` image (1-pixel margin, no overlap).
 */
export function checkPatchLayout(count: number, size: number, shape?: readonly number[]): void {
  if (!Number.isInteger(count) || count < 2 || count > ADAPTIVE_PATCH_CORNERS.length) {
    bad('alphas', `built-in triggers: 2 to ${ADAPTIVE_PATCH_CORNERS.length}, got ${count}`);
  }
  if (!Number.isInteger(size) || size < 1) bad('size', `size must be a positive integer`);
  if (shape) {
    const { h, w } = imageDims(shape);
    if (2 * (size + 1) > Math.min(h, w)) {
      bad('size', `${size}×${size} patches do not fit distinct corners of a ${h}×${w} image`);
    }
  }
}

/**
 * The built-in triggers: one `size × size` square per opacity, in the corners
 * {@link ADAPTIVE_PATCH_CORNERS} order (1-pixel margin), each a random 0/1 pattern (same value
 * on every channel) drawn from `seed`; the mask is the whole square.
 */
export function adaptivePatchTriggers(
  shape: readonly number[],
  alphas: readonly number[],
  size: number,
  seed: number,
): AdaptivePatch[] {
  checkPatchLayout(alphas.length, size, shape);
  const { h, w, c } = imageDims(shape);
  const rng = new Rng(seed);
  return alphas.map((alpha, k) => {
    const mark = new Float32Array(h * w * c);
    const mask = new Uint8Array(h * w);
    const [r0, c0] = patchOrigin(h, w, size, ADAPTIVE_PATCH_CORNERS[k]!, 1, rng);
    for (let i = 0; i < size; i++) {
      for (let j = 0; j < size; j++) {
        const px = (r0 + i) * w + (c0 + j);
        mask[px] = 1;
        mark.fill(rng.next() < 0.5 ? 0 : 1, px * c, px * c + c);
      }
    }
    return { mark, mask, alpha };
  });
}

/** `image` with `patch` drawn at opacity `alpha` where its mask is 1. */
export function applyPatch(
  image: Float32Array,
  shape: readonly number[],
  patch: AdaptivePatch,
  alpha: number,
): Float32Array {
  const { h, w, c } = imageDims(shape);
  if (image.length !== h * w * c || patch.mark.length !== image.length) {
    throw new AntidoteError(
      'SHAPE_MISMATCH',
      `image of ${image.length} values / patch of ${patch.mark.length} for shape [${shape.join(', ')}]`,
    );
  }
  const out = image.slice();
  for (let i = 0; i < out.length; i++) {
    if (patch.mask[Math.floor(i / c)] !== 1) continue;
    out[i] = image[i]! + alpha * (patch.mark[i]! - image[i]!);
  }
  return out;
}

/** Which trigger the j-th of `count` poisons (or covers) gets: k equal consecutive groups. */
export function patchGroup(j: number, count: number, k: number): number {
  return Math.min(k - 1, Math.floor((j * k) / count));
}

/** The test-time trigger: every patch, in order, at opacity `testAlpha`. */
export function adaptivePatchTestTrigger(
  patches: readonly AdaptivePatch[],
  testAlpha: number = ADAPTIVE_PATCH_DEFAULTS.testAlpha,
): ImageTransform {
  return {
    apply: (image, shape) => patches.reduce((x, p) => applyPatch(x, shape, p, testAlpha), image),
  };
}

/** The Adaptive-Patch attack (see the module comment). */
export const adaptivePatchAttack: PoisoningAttack<AdaptivePatchOptions> = Object.freeze({
  name: 'adaptive-patch',
  poison(ds: Dataset, o: AdaptivePatchOptions, rng: Rng): PoisonResult {
    const shape = imageRecordShape(ds, 'Adaptive-Patch');
    const alphas = o.patches.map((p) => p.alpha);
    checkAdaptivePatchOptions(o, alphas, shape, o.patches);
    const plan = planWithCoverRate(ds, o.target, o.rate, o.coverRate, rng);
    const k = o.patches.length;
    const stamp = (count: number) => (row: Float32Array, j: number) => {
      const p = o.patches[patchGroup(j, count, k)]!;
      return applyPatch(row, shape, p, p.alpha);
    };
    return assembleRegularizedBackdoor(
      ds,
      plan,
      o.target,
      stamp(plan.poisons.length),
      stamp(plan.regularization.length),
      {
        attack: 'adaptive-patch',
        seed: rng.seed,
        params: {
          target: o.target,
          rate: o.rate,
          coverRate: o.coverRate,
          alphas,
          testAlpha: o.testAlpha ?? ADAPTIVE_PATCH_DEFAULTS.testAlpha,
          ...(o.patchInfo ? { patches: o.patchInfo } : {}),
        },
      },
    );
  },
});
