/**
 * Backdoor triggers: pure functions `(image, shape, rng) → image` over one image in HWC layout
 * (`[H, W]` for grayscale without a channel axis, or `[H, W, C]`). A trigger never mutates its
 * input and never changes a pixel outside its own footprint.
 *
 * The single-pixel and pattern triggers place their pixels exactly as the Adversarial Robustness
 * Toolbox 1.20.1 (`add_single_bd`, `add_pattern_bd`; Gu et al. 2017, "BadNets") does, checked
 * against `shared/reference/triggers.json`. The blended trigger follows Chen et al. 2017,
 * "Targeted Backdoor Attacks on Deep Learning Systems Using Data Poisoning".
 */

import { AntidoteError } from '../errors.js';
import { Rng } from '../util/rng.js';
import {
  builtinTriggerImage,
  isBuiltinTriggerImage,
  type RasterImage,
  readPngImage,
  resampleRaster,
} from './trigger-image.js';

/** A corner of the image. */
export type Corner = 'top-left' | 'top-right' | 'bottom-left' | 'bottom-right';
/** Where a patch goes: a fixed corner, or a seeded uniformly random position per image. */
export type TriggerPosition = Corner | 'random';

/** Every trigger position, for CLI choices. */
export const TRIGGER_POSITIONS: readonly TriggerPosition[] = Object.freeze([
  'top-left',
  'top-right',
  'bottom-left',
  'bottom-right',
  'random',
]);

/**
 * One pixel set to `value` at `[H - distance, W - distance]` on every channel (ART
 * `add_single_bd`).
 */
export interface PixelTriggerSpec {
  readonly kind: 'pixel';
  /** Distance from the bottom-right corner; default 2. */
  readonly distance?: number;
  /** Value written; default 1. */
  readonly value?: number;
}

/**
 * Four pixels set to `value` at `[H-d, W-d]`, `[H-d-1, W-d-1]`, `[H-d, W-d-2]`, `[H-d-2, W-d]`
 * on every channel (ART `add_pattern_bd`, the BadNets pattern).
 */
export interface PatternTriggerSpec {
  readonly kind: 'pattern';
  /** Distance from the bottom-right corner; default 2. */
  readonly distance?: number;
  /** Value written; default 1. */
  readonly value?: number;
}

/** A `size × size` checkerboard patch alternating two values, top-left cell `values[0]`. */
export interface CheckerboardTriggerSpec {
  readonly kind: 'checkerboard';
  /** Side of the patch in pixels. */
  readonly size: number;
  /** Where the patch goes; default `'bottom-right'`. */
  readonly position?: TriggerPosition;
  /** Gap between the patch and the image border at a corner; default 1. */
  readonly margin?: number;
  /** The two alternating values; default `[1, 0]`. */
  readonly values?: readonly [number, number];
}

/**
 * A picture (a PNG file, or the built-in `'cyan-square'` / `'bright-square'`) scaled to
 * `size × size` and alpha-blended onto the image: `out = a·picture + (1 − a)·image` with
 * `a = alpha · (the picture's own alpha)`. Colour pictures on grayscale images use luminance.
 */
export interface ImageTriggerSpec {
  readonly kind: 'image';
  /** A PNG path or the name of a built-in picture. */
  readonly image: string;
  /** Side of the inserted square in pixels. */
  readonly size: number;
  /** Where the picture goes; default `'bottom-right'`. */
  readonly position?: TriggerPosition;
  /** Gap between the picture and the image border at a corner; default 1. */
  readonly margin?: number;
  /** Blend weight in [0, 1]; default 1 (opaque). */
  readonly alpha?: number;
}

/**
 * Blended injection (Chen et al. 2017): a whole-image key pattern mixed in with weight α,
 * `out = α·key + (1 − α)·image`. The key is uniform noise in [0, 1) drawn from `seed` (so
 * training and test images get the same key), or a PNG resized to the image.
 */
export interface BlendTriggerSpec {
  readonly kind: 'blend';
  /** Blend weight α in [0, 1]; Chen et al. use 0.2 for poisoning. */
  readonly alpha: number;
  /** Seed of the noise key; default 0. Ignored when `image` is given. */
  readonly seed?: number;
  /** A PNG path (or built-in picture) used as the key instead of noise. */
  readonly image?: string;
}

/** A JSON-serialisable description of a trigger. */
export type TriggerSpec =
  | PixelTriggerSpec
  | PatternTriggerSpec
  | CheckerboardTriggerSpec
  | ImageTriggerSpec
  | BlendTriggerSpec;

/** The trigger kinds, for CLI choices. */
export type TriggerKind = TriggerSpec['kind'];

/** Every trigger kind. */
export const TRIGGER_KINDS: readonly TriggerKind[] = Object.freeze([
  'pixel',
  'pattern',
  'checkerboard',
  'image',
  'blend',
]);

/** A trigger function: returns a new, triggered copy of one HWC image. */
export type TriggerFn = (image: Float32Array, shape: readonly number[], rng: Rng) => Float32Array;

/** A ready-to-apply trigger: its spec plus the function (pictures already decoded). */
export interface Trigger {
  readonly spec: TriggerSpec;
  readonly apply: TriggerFn;
}

/** Height, width and channels of a `[H, W]` or `[H, W, C]` image shape. */
export function imageDims(shape: readonly number[]): { h: number; w: number; c: number } {
  if (
    (shape.length !== 2 && shape.length !== 3) ||
    shape.some((d) => !Number.isInteger(d) || d <= 0)
  ) {
    throw new AntidoteError(
      'SHAPE_MISMATCH',
      `image triggers need an image shape [H, W] or [H, W, C], got [${shape.join(', ')}]`,
    );
  }
  return { h: shape[0]!, w: shape[1]!, c: shape.length === 3 ? shape[2]! : 1 };
}

function checkImage(image: Float32Array, shape: readonly number[]) {
  const d = imageDims(shape);
  if (image.length !== d.h * d.w * d.c) {
    throw new AntidoteError(
      'SHAPE_MISMATCH',
      `image has ${image.length} values but shape [${shape.join(', ')}] needs ${d.h * d.w * d.c}`,
    );
  }
  return d;
}

function setPixel(out: Float32Array, w: number, c: number, row: number, col: number, v: number) {
  const base = (row * w + col) * c;
  for (let k = 0; k < c; k++) out[base + k] = v;
}

/** The `[row, col]` pixels the single-pixel trigger sets (ART `add_single_bd`). */
export function pixelTriggerCoords(h: number, w: number, distance = 2): [number, number][] {
  return [[h - distance, w - distance]];
}

/** The `[row, col]` pixels the pattern trigger sets (ART `add_pattern_bd`). */
export function patternTriggerCoords(h: number, w: number, distance = 2): [number, number][] {
  const d = distance;
  return [
    [h - d, w - d],
    [h - d - 1, w - d - 1],
    [h - d, w - d - 2],
    [h - d - 2, w - d],
  ];
}

/** Sets every listed `[row, col]` to `value` on every channel of a copy of `image`. */
function stampPixels(
  image: Float32Array,
  shape: readonly number[],
  spec: PixelTriggerSpec | PatternTriggerSpec,
  coords: (h: number, w: number, distance: number) => Iterable<readonly [number, number]>,
): Float32Array {
  const { h, w, c } = checkImage(image, shape);
  checkSpec(spec, shape);
  const out = image.slice();
  const value = spec.value ?? 1;
  for (const [r, col] of coords(h, w, spec.distance ?? 2)) setPixel(out, w, c, r, col, value);
  return out;
}

/** Single-pixel trigger (ART `add_single_bd`): sets `[H-d, W-d]` to `value` on every channel. */
export function addPixelTrigger(
  image: Float32Array,
  shape: readonly number[],
  distance = 2,
  value = 1,
): Float32Array {
  return stampPixels(image, shape, { kind: 'pixel', distance, value }, pixelTriggerCoords);
}

/** Pattern trigger (ART `add_pattern_bd`): four pixels near the bottom-right corner. */
export function addPatternTrigger(
  image: Float32Array,
  shape: readonly number[],
  distance = 2,
  value = 1,
): Float32Array {
  return stampPixels(image, shape, { kind: 'pattern', distance, value }, patternTriggerCoords);
}

/** Top-left corner of a `size × size` patch at `position`; draws from `rng` for `'random'`. */
export function patchOrigin(
  h: number,
  w: number,
  size: number,
  position: TriggerPosition,
  margin: number,
  rng: Rng,
): [number, number] {
  switch (position) {
    case 'top-left':
      return [margin, margin];
    case 'top-right':
      return [margin, w - size - margin];
    case 'bottom-left':
      return [h - size - margin, margin];
    case 'bottom-right':
      return [h - size - margin, w - size - margin];
    case 'random':
      return [rng.int(h - size + 1), rng.int(w - size + 1)];
  }
}

/** Checkerboard patch trigger. */
export function addCheckerboardTrigger(
  image: Float32Array,
  shape: readonly number[],
  spec: CheckerboardTriggerSpec,
  rng: Rng,
): Float32Array {
  const { h, w, c } = checkImage(image, shape);
  checkSpec(spec, shape);
  const [a, b] = spec.values ?? [1, 0];
  const [r0, c0] = patchOrigin(
    h,
    w,
    spec.size,
    spec.position ?? 'bottom-right',
    spec.margin ?? 1,
    rng,
  );
  const out = image.slice();
  for (let i = 0; i < spec.size; i++) {
    for (let j = 0; j < spec.size; j++)
      setPixel(out, w, c, r0 + i, c0 + j, (i + j) % 2 === 0 ? a : b);
  }
  return out;
}

/** Alpha-blends a resampled picture (`color` `[size, size, c]`, `alpha` `[size, size]`). */
function blendPatch(
  image: Float32Array,
  w: number,
  c: number,
  r0: number,
  c0: number,
  size: number,
  color: Float32Array,
  pictureAlpha: Float32Array,
  alpha: number,
): Float32Array {
  const out = image.slice();
  for (let i = 0; i < size; i++) {
    for (let j = 0; j < size; j++) {
      const a = alpha * pictureAlpha[i * size + j]!;
      if (a === 0) continue;
      const base = ((r0 + i) * w + (c0 + j)) * c;
      const src = (i * size + j) * c;
      for (let k = 0; k < c; k++) out[base + k] = a * color[src + k]! + (1 - a) * image[base + k]!;
    }
  }
  return out;
}

/** Uniform-noise blend key for `shape`, drawn from `seed`. */
export function blendNoiseKey(shape: readonly number[], seed: number): Float32Array {
  const { h, w, c } = imageDims(shape);
  const rng = new Rng(seed);
  const key = new Float32Array(h * w * c);
  for (let i = 0; i < key.length; i++) key[i] = rng.next();
  return key;
}

function isNumberIn(v: unknown, lo: number, hi: number): v is number {
  return typeof v === 'number' && Number.isFinite(v) && v >= lo && v <= hi;
}

function bad(message: string): never {
  throw new AntidoteError('INVALID_ARGUMENT', message, { field: 'trigger' });
}

/**
 * Checks a trigger spec against an image shape: known kind, parameters in range, and a footprint
 * that fits inside the image. Throws `AntidoteError('INVALID_ARGUMENT')` saying what is wrong.
 */
export function checkSpec(spec: TriggerSpec, shape: readonly number[]): void {
  const { h, w } = imageDims(shape);
  if (spec === null || typeof spec !== 'object') bad('trigger spec must be an object');
  const patch = (size: unknown, margin: unknown, position: unknown) => {
    if (!Number.isInteger(size) || (size as number) < 1) {
      bad(`trigger size must be a positive integer, got ${size}`);
    }
    if (!Number.isInteger(margin) || (margin as number) < 0) {
      bad(`trigger margin must be a non-negative integer, got ${margin}`);
    }
    if (!(TRIGGER_POSITIONS as readonly unknown[]).includes(position)) {
      bad(`trigger position must be one of ${TRIGGER_POSITIONS.join(', ')}, got ${position}`);
    }
    const need = (size as number) + (position === 'random' ? 0 : (margin as number));
    if (need > h || need > w) {
      bad(
        `a ${size}×${size} trigger${position === 'random' ? '' : ` with margin ${margin}`} does not fit in a ${h}×${w} image`,
      );
    }
  };
  switch (spec.kind) {
    case 'pixel':
    case 'pattern': {
      const d = spec.distance ?? 2;
      const v = spec.value ?? 1;
      if (!Number.isFinite(v)) bad(`trigger value must be finite, got ${v}`);
      const reach = spec.kind === 'pixel' ? 0 : 2;
      if (!Number.isInteger(d) || d < 1 || d + reach > h || d + reach > w) {
        bad(
          `${spec.kind} trigger distance must be an integer in [1, ${Math.min(h, w) - reach}] for a ${h}×${w} image, got ${d}`,
        );
      }
      return;
    }
    case 'checkerboard': {
      patch(spec.size, spec.margin ?? 1, spec.position ?? 'bottom-right');
      const values = spec.values ?? [1, 0];
      if (!Array.isArray(values) || values.length !== 2 || !values.every(Number.isFinite)) {
        bad('checkerboard values must be two finite numbers');
      }
      return;
    }
    case 'image': {
      if (typeof spec.image !== 'string' || spec.image === '') {
        bad('image trigger needs an image (a PNG path or a built-in name)');
      }
      patch(spec.size, spec.margin ?? 1, spec.position ?? 'bottom-right');
      if (!isNumberIn(spec.alpha ?? 1, 0, 1))
        bad(`trigger alpha must be in [0, 1], got ${spec.alpha}`);
      return;
    }
    case 'blend': {
      if (!isNumberIn(spec.alpha, 0, 1)) bad(`blend alpha must be in [0, 1], got ${spec.alpha}`);
      if (spec.seed !== undefined && !Number.isSafeInteger(spec.seed)) {
        bad(`blend seed must be an integer, got ${spec.seed}`);
      }
      if (spec.image !== undefined && (typeof spec.image !== 'string' || spec.image === '')) {
        bad('blend image must be a PNG path or a built-in name');
      }
      return;
    }
    default:
      bad(
        `unknown trigger kind "${(spec as { kind: unknown }).kind}" (expected ${TRIGGER_KINDS.join(', ')})`,
      );
  }
}

/** The picture a spec refers to, when it needs one that is not built in. */
export function triggerImagePath(spec: TriggerSpec): string | undefined {
  const name = spec.kind === 'image' || spec.kind === 'blend' ? spec.image : undefined;
  return name !== undefined && !isBuiltinTriggerImage(name) ? name : undefined;
}

/**
 * Builds the trigger function for `spec`. A spec naming a PNG file needs its decoded `picture`
 * (see {@link loadTrigger}); built-in pictures need nothing. Shapes are checked on each call.
 */
export function createTrigger(spec: TriggerSpec, picture?: RasterImage): Trigger {
  const path = triggerImagePath(spec);
  if (path !== undefined && picture === undefined) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `trigger picture ${path} is not loaded (use loadTrigger)`,
      { path },
    );
  }
  const frozen = Object.freeze(structuredClone(spec)) as TriggerSpec;
  const resampleCache = new Map<string, { color: Float32Array; alpha: Float32Array }>();
  const resampled = (img: RasterImage, h: number, w: number, c: number) => {
    const key = `${h}x${w}x${c}`;
    let hit = resampleCache.get(key);
    if (!hit) {
      hit = resampleRaster(img, h, w, c);
      resampleCache.set(key, hit);
    }
    return hit;
  };
  const keyCache = new Map<string, Float32Array>();
  let apply: TriggerFn;
  switch (frozen.kind) {
    case 'pixel':
      apply = (image, shape) => addPixelTrigger(image, shape, frozen.distance, frozen.value);
      break;
    case 'pattern':
      apply = (image, shape) => addPatternTrigger(image, shape, frozen.distance, frozen.value);
      break;
    case 'checkerboard':
      apply = (image, shape, rng) => addCheckerboardTrigger(image, shape, frozen, rng);
      break;
    case 'image': {
      const img = picture ?? builtinTriggerImage(frozen.image as 'cyan-square');
      apply = (image, shape, rng) => {
        const { h, w, c } = checkImage(image, shape);
        checkSpec(frozen, shape);
        const { color, alpha } = resampled(img, frozen.size, frozen.size, c);
        const [r0, c0] = patchOrigin(
          h,
          w,
          frozen.size,
          frozen.position ?? 'bottom-right',
          frozen.margin ?? 1,
          rng,
        );
        return blendPatch(image, w, c, r0, c0, frozen.size, color, alpha, frozen.alpha ?? 1);
      };
      break;
    }
    case 'blend': {
      const img =
        frozen.image === undefined
          ? undefined
          : (picture ?? builtinTriggerImage(frozen.image as 'cyan-square'));
      apply = (image, shape) => {
        const { h, w, c } = checkImage(image, shape);
        checkSpec(frozen, shape);
        const cacheKey = `${h}x${w}x${c}`;
        let key = keyCache.get(cacheKey);
        if (!key) {
          key = img ? resampled(img, h, w, c).color : blendNoiseKey([h, w, c], frozen.seed ?? 0);
          keyCache.set(cacheKey, key);
        }
        const a = frozen.alpha;
        const out = new Float32Array(image.length);
        for (let i = 0; i < out.length; i++) out[i] = a * key[i]! + (1 - a) * image[i]!;
        return out;
      };
      break;
    }
    default:
      checkSpec(frozen, [1, 1]);
      throw new Error('unreachable');
  }
  return { spec: frozen, apply };
}

/** Builds a trigger, first reading the PNG its spec names (if any). */
export async function loadTrigger(spec: TriggerSpec): Promise<Trigger> {
  const path = triggerImagePath(spec);
  return createTrigger(spec, path === undefined ? undefined : await readPngImage(path));
}

/**
 * Applies `trigger` to every image of a batch `[n, ...imageShape]`, returning a new batch.
 * Each image draws its own random position (if any) from `rng`, in order.
 */
export function applyTriggerBatch(
  trigger: Trigger,
  x: Float32Array,
  n: number,
  imageShape: readonly number[],
  rng: Rng,
): Float32Array {
  const size = imageShape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n * size);
  for (let i = 0; i < n; i++) {
    out.set(trigger.apply(x.subarray(i * size, (i + 1) * size), imageShape, rng), i * size);
  }
  return out;
}
