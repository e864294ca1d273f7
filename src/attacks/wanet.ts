/**
 * WaNet, the warping-based backdoor (Nguyen & Tran 2021, "WaNet – Imperceptible Warping-based
 * Backdoor Attack", ICLR). The trigger is not a patch but a smooth, barely visible warp of the
 * whole image:
 *
 * 1. a k × k control grid of random offsets `P ~ U(−1, 1)^(2×k×k)`, normalised by its mean
 *    absolute value (`P / mean|P|`), upsampled to the image size with bicubic interpolation
 *    (align-corners, as `F.upsample(..., mode='bicubic', align_corners=True)`);
 * 2. the warping field `M = clamp((identity + s · P↑ / H) · grid_rescale, −1, 1)` in normalised
 *    coordinates (x then y, −1 = first pixel, +1 = last pixel), s the strength;
 * 3. the triggered image is the input sampled at `M` with bilinear interpolation
 *    (`F.grid_sample(..., align_corners=True)`, zero padding).
 *
 * Poisons are a seeded share of the non-target records, warped and relabelled to the target
 * (all-to-one). "Noise mode" adds `cross_ratio` × (poisons) records warped with the field plus
 * a fresh random perturbation `U(−1, 1)/H` per pixel (clamped), labels kept: the model must
 * learn the exact warp, not any warp, which defeats defenses looking for a simple trigger.
 * Paper defaults on MNIST: k = 4, s = 0.5, grid_rescale = 1, cross_ratio = 2, poison rate 10%.
 * The field is drawn from `rng.fork('grid')` and stored in the record (`params.controlGrid`), so
 * the test-time trigger can be rebuilt from it.
 */
import { type Dataset, recordShape } from '../data/dataset.js';
import { AntidoteError } from '../errors.js';
import type { Rng } from '../util/rng.js';
import type { PoisoningAttack, PoisonResult } from './attack.js';
import { assembleRegularizedBackdoor, planRegularizedBackdoor } from './regularized-backdoor.js';
import type { ImageTransform } from './target-class.js';
import { imageDims } from './triggers.js';

/** The warp of WaNet: the control grid and how it is scaled. */
export interface WanetWarpSpec {
  /** Control grid side k (default 4). */
  readonly gridSize?: number;
  /** Warping strength s (default 0.5). */
  readonly strength?: number;
  /** Scale of the warped grid before clamping (default 1). */
  readonly gridRescale?: number;
}

/** Options of {@link wanetAttack}. */
export interface WanetOptions extends WanetWarpSpec {
  readonly target: number;
  /** Share of the training set poisoned (warped and relabelled), in (0, 1). */
  readonly rate: number;
  /** Noise-mode records per poison (default 2; 0 turns noise mode off). */
  readonly crossRatio?: number;
}

/** The paper's defaults. */
export const WANET_DEFAULTS = Object.freeze({
  gridSize: 4,
  strength: 0.5,
  gridRescale: 1,
  crossRatio: 2,
});

function bad(field: string, message: string): never {
  throw new AntidoteError('INVALID_ARGUMENT', `WaNet ${message}`, { field });
}

/** `INVALID_ARGUMENT` for bad WaNet options. */
export function checkWanetOptions(o: WanetWarpSpec & { crossRatio?: number }): void {
  const k = o.gridSize ?? WANET_DEFAULTS.gridSize;
  const s = o.strength ?? WANET_DEFAULTS.strength;
  const r = o.gridRescale ?? WANET_DEFAULTS.gridRescale;
  const c = o.crossRatio ?? WANET_DEFAULTS.crossRatio;
  if (!Number.isInteger(k) || k < 2)
    bad('gridSize', `grid size k must be an integer ≥ 2, got ${k}`);
  if (typeof s !== 'number' || !(s > 0 && Number.isFinite(s))) {
    bad('strength', `strength s must be > 0, got ${s}`);
  }
  if (typeof r !== 'number' || !(r > 0 && Number.isFinite(r))) {
    bad('gridRescale', `grid rescale must be > 0, got ${r}`);
  }
  if (typeof c !== 'number' || !(c >= 0 && Number.isFinite(c))) {
    bad('crossRatio', `cross ratio must be ≥ 0, got ${c}`);
  }
}

/** The random control grid `P / mean|P|`, `[2, k, k]` (x offsets, then y offsets), from `rng`. */
export function wanetControlGrid(k: number, rng: Rng): Float32Array {
  const p = new Float32Array(2 * k * k);
  let sum = 0;
  for (let i = 0; i < p.length; i++) {
    p[i] = rng.uniform(-1, 1);
    sum += Math.abs(p[i]!);
  }
  const mean = sum / p.length;
  for (let i = 0; i < p.length; i++) p[i]! /= mean;
  return p;
}

/** Keys' cubic convolution kernel with A = −0.75 (PyTorch's bicubic). */
function cubicWeights(t: number): [number, number, number, number] {
  const a = -0.75;
  const near = (x: number) => ((a + 2) * x - (a + 3)) * x * x + 1;
  const far = (x: number) => ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;
  return [far(t + 1), near(t), near(1 - t), far(2 - t)];
}

/**
 * Bicubic upsampling of one `[k, k]` plane to `[h, w]` with aligned corners (output pixel o maps
 * to input `o·(k−1)/(out−1)`; neighbours beyond the border are clamped), as PyTorch does.
 */
export function upsampleBicubic(
  plane: Float32Array,
  k: number,
  h: number,
  w: number,
): Float32Array {
  const axis = (out: number) =>
    Array.from({ length: out }, (_, o) => {
      const real = out > 1 ? (o * (k - 1)) / (out - 1) : 0;
      const i0 = Math.floor(real);
      const idx = [i0 - 1, i0, i0 + 1, i0 + 2].map((i) => Math.min(k - 1, Math.max(0, i)));
      return { idx, wt: cubicWeights(real - i0) };
    });
  const rows = axis(h);
  const cols = axis(w);
  const out = new Float32Array(h * w);
  for (let r = 0; r < h; r++) {
    const ry = rows[r]!;
    for (let c = 0; c < w; c++) {
      const cx = cols[c]!;
      let v = 0;
      for (let a = 0; a < 4; a++) {
        let line = 0;
        for (let b = 0; b < 4; b++) line += cx.wt[b]! * plane[ry.idx[a]! * k + cx.idx[b]!]!;
        v += ry.wt[a]! * line;
      }
      out[r * w + c] = v;
    }
  }
  return out;
}

/**
 * The warping field `[h, w, 2]` (x, y in [−1, 1]) of a control grid `[2, k, k]`:
 * `clamp((identity + s · upsample(P) / h) · rescale, −1, 1)`.
 */
export function wanetField(
  control: Float32Array,
  k: number,
  h: number,
  w: number,
  spec: WanetWarpSpec = {},
): Float32Array {
  const s = spec.strength ?? WANET_DEFAULTS.strength;
  const rescale = spec.gridRescale ?? WANET_DEFAULTS.gridRescale;
  const ux = upsampleBicubic(control.subarray(0, k * k), k, h, w);
  const uy = upsampleBicubic(control.subarray(k * k, 2 * k * k), k, h, w);
  const lin = (i: number, n: number) => (n > 1 ? -1 + (2 * i) / (n - 1) : 0);
  const field = new Float32Array(h * w * 2);
  const clamp = (v: number) => Math.min(1, Math.max(-1, v));
  for (let r = 0; r < h; r++) {
    for (let c = 0; c < w; c++) {
      const i = r * w + c;
      field[2 * i] = clamp((lin(c, w) + (s * ux[i]!) / h) * rescale);
      field[2 * i + 1] = clamp((lin(r, h) + (s * uy[i]!) / h) * rescale);
    }
  }
  return field;
}

/**
 * Samples an HWC image at a field `[h, w, 2]` of normalised coordinates with bilinear
 * interpolation, aligned corners and zero padding (`F.grid_sample`).
 */
export function gridSample(image: Float32Array, shape: readonly number[], field: Float32Array) {
  const { h, w, c } = imageDims(shape);
  if (image.length !== h * w * c || field.length !== h * w * 2) {
    throw new AntidoteError(
      'SHAPE_MISMATCH',
      `image of ${image.length} values / field of ${field.length} for shape [${shape.join(', ')}]`,
    );
  }
  const out = new Float32Array(image.length);
  const at = (r: number, col: number, ch: number) =>
    r < 0 || r >= h || col < 0 || col >= w ? 0 : image[(r * w + col) * c + ch]!;
  for (let i = 0; i < h * w; i++) {
    const ix = ((field[2 * i]! + 1) / 2) * (w - 1);
    const iy = ((field[2 * i + 1]! + 1) / 2) * (h - 1);
    const x0 = Math.floor(ix);
    const y0 = Math.floor(iy);
    const fx = ix - x0;
    const fy = iy - y0;
    for (let ch = 0; ch < c; ch++) {
      out[i * c + ch] =
        (1 - fy) * ((1 - fx) * at(y0, x0, ch) + fx * at(y0, x0 + 1, ch)) +
        fy * ((1 - fx) * at(y0 + 1, x0, ch) + fx * at(y0 + 1, x0 + 1, ch));
    }
  }
  return out;
}

/** The WaNet trigger of a control grid: warps any image of `[h, w(, c)]` (fields cached). */
export function wanetTrigger(control: Float32Array, spec: WanetWarpSpec = {}): ImageTransform {
  const k = Math.round(Math.sqrt(control.length / 2));
  if (2 * k * k !== control.length) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `a control grid has 2·k·k values, got ${control.length}`,
      {
        field: 'controlGrid',
      },
    );
  }
  checkWanetOptions({ ...spec, gridSize: k });
  const cache = new Map<string, Float32Array>();
  return {
    apply(image, shape) {
      const { h, w } = imageDims(shape);
      let field = cache.get(`${h}x${w}`);
      if (!field) {
        field = wanetField(control, k, h, w, spec);
        cache.set(`${h}x${w}`, field);
      }
      return gridSample(image, shape, field);
    },
  };
}

/** The field plus WaNet's noise-mode perturbation `U(−1, 1)/h` per coordinate, clamped. */
export function noisyField(field: Float32Array, h: number, rng: Rng): Float32Array {
  const out = new Float32Array(field.length);
  for (let i = 0; i < field.length; i++) {
    out[i] = Math.min(1, Math.max(-1, field[i]! + rng.uniform(-1, 1) / h));
  }
  return out;
}

/** The WaNet attack (see the module comment). */
export const wanetAttack: PoisoningAttack<WanetOptions> = Object.freeze({
  name: 'wanet',
  poison(ds: Dataset, o: WanetOptions, rng: Rng): PoisonResult {
    const shape = recordShape(ds);
    if (shape.length !== 2 && shape.length !== 3) {
      throw new AntidoteError(
        'INVALID_ARGUMENT',
        `WaNet needs image records [H, W] or [H, W, C], got [${shape.join(', ')}]`,
      );
    }
    checkWanetOptions(o);
    const k = o.gridSize ?? WANET_DEFAULTS.gridSize;
    const cross = o.crossRatio ?? WANET_DEFAULTS.crossRatio;
    const plan = planRegularizedBackdoor(ds, o.target, o.rate, (p) => Math.round(cross * p), rng);
    const control = wanetControlGrid(k, rng.fork('grid'));
    const { h, w } = imageDims(shape);
    const warp = {
      gridSize: k,
      strength: o.strength ?? WANET_DEFAULTS.strength,
      gridRescale: o.gridRescale ?? WANET_DEFAULTS.gridRescale,
    };
    const field = wanetField(control, k, h, w, warp);
    const noise = rng.fork('noise');
    return assembleRegularizedBackdoor(
      ds,
      plan,
      o.target,
      (row) => gridSample(row, shape, field),
      (row) => gridSample(row, shape, noisyField(field, h, noise)),
      {
        attack: 'wanet',
        seed: rng.seed,
        params: {
          target: o.target,
          rate: o.rate,
          ...warp,
          crossRatio: cross,
          controlGrid: Array.from(control),
        },
      },
    );
  },
});
