import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { Dataset } from '../data/dataset.js';
import { ONNX_FIXTURES } from './onnx-fixtures.js';

/** What scripts/make-onnx-fixtures.py recorded with PyTorch for an image model. */
export interface ImageExpectations {
  /** Records as HWC uint8 pixels, flattened. */
  readonly pixels: number[][];
  readonly labels: number[];
  readonly probabilities: number[];
  readonly logits: number[];
  readonly lastGemmInput: number[];
  /** Cross-entropy input gradients (model layout, after normalisation); maybe of a prefix. */
  readonly inputGradients: number[];
}

/** What the script recorded for the text model. */
export interface TextExpectations {
  readonly texts: string[];
  readonly labels: number[];
  /** The token ids PyTorch was fed, `[n][L]`. */
  readonly ids: number[][];
  readonly probabilities: number[];
  readonly logits: number[];
  readonly lastGemmInput: number[];
  readonly vocabulary: number;
}

/** The fixtures' expectations.json. */
export interface OnnxExpectations {
  readonly mlp: ImageExpectations;
  readonly cnn: ImageExpectations;
  readonly resnet: ImageExpectations & { readonly weights: number };
  readonly text: TextExpectations;
}

/** Reads the fixtures' expectations.json. */
export async function readOnnxExpectations(): Promise<OnnxExpectations> {
  return JSON.parse(await readFile(join(ONNX_FIXTURES, 'expectations.json'), 'utf8'));
}

/** Recorded image records as an Antidote dataset: HWC of `shape`, pixels / 255. */
export function imageRecords(
  e: ImageExpectations,
  shape: readonly number[],
  classes: readonly string[],
): Dataset {
  const n = e.pixels.length;
  return {
    x: Float32Array.from(e.pixels.flat(), (v) => v / 255),
    shape: [n, ...shape],
    y: Int32Array.from(e.labels),
    classes,
    ids: e.pixels.map((_, i) => `r${i}`),
  };
}

/** Recorded texts as an Antidote text dataset (`[n, 0]` features, `text`). */
export function textRecords(e: TextExpectations, classes: readonly string[]): Dataset {
  const n = e.texts.length;
  return {
    x: new Float32Array(0),
    shape: [n, 0],
    y: Int32Array.from(e.labels),
    classes,
    ids: e.texts.map((_, i) => `t${i}`),
    text: e.texts,
  };
}

/**
 * Expects every value within `tol` of PyTorch's: absolutely, or relatively to values above 1
 * when `relative` (float32 carries ~7 digits). Returns the worst difference.
 */
export function expectClose(
  actual: ArrayLike<number>,
  want: readonly number[],
  tol: number,
  relative = false,
): number {
  expect(actual.length).toBe(want.length);
  let worst = 0;
  for (let i = 0; i < want.length; i++) {
    const scale = relative ? Math.max(1, Math.abs(want[i]!)) : 1;
    worst = Math.max(worst, Math.abs(actual[i]! - want[i]!) / scale);
  }
  expect(worst).toBeLessThanOrEqual(tol);
  return worst;
}

/** Row-wise argmax of `[n, k]` values. */
export function argmaxRows(p: ArrayLike<number>, n: number, k: number): number[] {
  return Array.from({ length: n }, (_, i) => {
    let best = 0;
    for (let j = 1; j < k; j++) if (p[i * k + j]! > p[i * k + best]!) best = j;
    return best;
  });
}
