import { existsSync } from 'node:fs';
import { copyFile, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Dataset } from '../data/dataset.js';

/** The committed ONNX fixtures (`scripts/make-onnx-fixtures.py`; see docs/onnx.md). */
export const ONNX_FIXTURES = join(import.meta.dirname, '..', 'engine', 'onnx', 'fixtures');

/**
 * Copies the ONNX fixture `name` (`cnn`, `mlp`, …) and its sidecar JSON, if any, into a folder `dir`
 * of their own (what a registered or signed model holds); returns the `.onnx` path.
 */
export async function copyOnnxFixture(dir: string, name: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  const path = join(dir, `${name}.onnx`);
  await copyFile(join(ONNX_FIXTURES, `${name}.onnx`), path);
  const sidecar = join(ONNX_FIXTURES, `${name}.onnx.json`);
  if (existsSync(sidecar)) await copyFile(sidecar, `${path}.json`);
  return path;
}

/** What scripts/make-onnx-fixtures.py recorded with PyTorch for one model (expectations.json). */
export interface OnnxExpected {
  readonly pixels: number[][];
  readonly labels: number[];
  readonly probabilities: number[];
  readonly logits: number[];
  readonly lastGemmInput: number[];
  readonly inputGradients: number[];
}

/** The recorded expectations of the `mlp` and `cnn` fixtures. */
export async function readOnnxExpectations(): Promise<{ mlp: OnnxExpected; cnn: OnnxExpected }> {
  return JSON.parse(await readFile(join(ONNX_FIXTURES, 'expectations.json'), 'utf8'));
}

/** The recorded MNIST test images of `e` as an Antidote dataset (HWC, [0, 1]). */
export function expectedRecords(e: OnnxExpected): Dataset {
  return {
    x: Float32Array.from(e.pixels.flat(), (v) => v / 255),
    shape: [e.labels.length, 28, 28, 1],
    y: Int32Array.from(e.labels),
    classes: Array.from({ length: 10 }, (_, k) => String(k)),
    ids: e.labels.map((_, i) => `t${i}`),
  };
}
