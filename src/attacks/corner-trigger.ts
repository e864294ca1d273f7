/**
 * The trigger of the label-consistent backdoor (Turner, Tsipras & Madry 2019, "Label-Consistent
 * Backdoor Attacks", arXiv:1912.02771, §4): a small black-and-white checkerboard in the
 * bottom-right corner, or mirrored into all four corners (so that the trigger survives
 * horizontal flips and crops, and is seen wherever the network looks), applied with a reduced
 * amplitude on the poisoned training images (less visible: amplitude 16–64 of 255 in the
 * paper) and at full amplitude at test time.
 *
 * Amplitude a ∈ (0, 1] moves each trigger pixel towards its pattern value p ∈ {0, 1}:
 * `clip(x + a·(2p − 1), 0, 1)` on every channel, so a = 1 writes the pattern exactly and a < 1
 * adds (white cells) or subtracts (black cells) a. Pixels outside the patches never change.
 */
import { AntidoteError } from '../errors.js';
import type { ImageTransform } from './target-class.js';
import { imageDims } from './triggers.js';

/** Which corners carry the pattern. */
export type CornerSet = 'one' | 'four';

/** The label-consistent backdoor's trigger. */
export interface CornerTriggerSpec {
  readonly kind: 'corner';
  /** Side of the checkerboard in pixels (default 3, the paper's). */
  readonly size?: number;
  /** `'one'`: bottom-right only; `'four'`: mirrored into every corner (default). */
  readonly corners?: CornerSet;
  /** Amplitude a in (0, 1] (default 1: the pattern itself). */
  readonly amplitude?: number;
}

/** `INVALID_ARGUMENT` for a bad corner trigger on images of `shape` (when given). */
export function checkCornerTrigger(spec: CornerTriggerSpec, shape?: readonly number[]): void {
  const size = spec.size ?? 3;
  const a = spec.amplitude ?? 1;
  if (!Number.isInteger(size) || size < 1) {
    throw new AntidoteError('INVALID_ARGUMENT', `corner trigger size must be ≥ 1, got ${size}`, {
      field: 'size',
    });
  }
  if (typeof a !== 'number' || !(a > 0 && a <= 1)) {
    throw new AntidoteError('INVALID_ARGUMENT', `trigger amplitude must be in (0, 1], got ${a}`, {
      field: 'amplitude',
    });
  }
  if (spec.corners !== undefined && spec.corners !== 'one' && spec.corners !== 'four') {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `corners must be one or four, got ${String(spec.corners)}`,
      { field: 'corners' },
    );
  }
  if (shape) {
    const { h, w } = imageDims(shape);
    const need = spec.corners === 'one' ? size : 2 * size;
    if (need > h || need > w) {
      throw new AntidoteError(
        'INVALID_ARGUMENT',
        `${spec.corners === 'one' ? 'a' : 'four'} ${size}×${size} corner trigger${spec.corners === 'one' ? ' does' : 's do'} not fit in a ${h}×${w} image`,
        { field: 'size' },
      );
    }
  }
}

/**
 * The pattern value (0 or 1) of the trigger at `(row, col)` of an `h × w` image, or undefined
 * outside the patches. The bottom-right patch is a checkerboard whose corner cell is white; the
 * other corners are its mirror images (left-right, top-bottom).
 */
export function cornerPatternAt(
  spec: CornerTriggerSpec,
  h: number,
  w: number,
  row: number,
  col: number,
): 0 | 1 | undefined {
  const size = spec.size ?? 3;
  const four = (spec.corners ?? 'four') === 'four';
  // Distance (in cells) from the nearest bottom / right edge, mirrored for the other corners.
  let dr: number;
  let dc: number;
  if (row >= h - size) dr = h - 1 - row;
  else if (four && row < size) dr = row;
  else return undefined;
  if (col >= w - size) dc = w - 1 - col;
  else if (four && col < size) dc = col;
  else return undefined;
  return (dr + dc) % 2 === 0 ? 1 : 0;
}

/** The corner trigger as a transform of one HWC image. */
export function cornerTrigger(spec: CornerTriggerSpec): ImageTransform {
  checkCornerTrigger(spec);
  const a = spec.amplitude ?? 1;
  return {
    apply(image, shape) {
      checkCornerTrigger(spec, shape);
      const { h, w, c } = imageDims(shape);
      if (image.length !== h * w * c) {
        throw new AntidoteError(
          'SHAPE_MISMATCH',
          `image has ${image.length} values but shape [${shape.join(', ')}] needs ${h * w * c}`,
        );
      }
      const out = image.slice();
      for (let row = 0; row < h; row++) {
        for (let col = 0; col < w; col++) {
          const p = cornerPatternAt(spec, h, w, row, col);
          if (p === undefined) continue;
          for (let k = 0; k < c; k++) {
            const i = (row * w + col) * c + k;
            out[i] = Math.min(1, Math.max(0, image[i]! + a * (2 * p - 1)));
          }
        }
      }
      return out;
    },
  };
}
