import { existsSync } from 'node:fs';
import { copyFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';

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
