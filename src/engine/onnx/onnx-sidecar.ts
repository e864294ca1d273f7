/**
 * The small JSON an ONNX model may carry beside it, since the file itself names neither its
 * classes nor its preprocessing: `MODEL.onnx.json` (or `antidote.json` in the same directory),
 * `{ "classes": [...], "normalization": { "scale": 1, "mean": [...], "std": [...] } }`.
 */
import { basename, dirname, join } from 'node:path';
import { z } from 'zod';
import { AntidoteError } from '../../errors.js';
import { readJson } from '../../util/fs.js';
import { parseWith } from '../../util/schema.js';

/**
 * Per-channel preprocessing applied to records before the model:
 * `(value · scale − mean[c]) / std[c]` (a single mean or std applies to every channel).
 */
export interface OnnxNormalization {
  readonly scale: number;
  readonly mean: readonly number[];
  readonly std: readonly number[];
}

/** What the sidecar says (every field optional). */
export interface OnnxSidecar {
  readonly classes?: readonly string[];
  readonly normalization?: OnnxNormalization;
}

const SIDECAR = z
  .object({
    classes: z.array(z.string().min(1)).min(2).optional(),
    normalization: z
      .object({
        scale: z.number().positive().finite().default(1),
        mean: z.array(z.number().finite()).min(1).default([0]),
        std: z.array(z.number().positive().finite()).min(1).default([1]),
      })
      .strict()
      .optional(),
  })
  .strict();

/** Most bytes of a sidecar file. */
const MAX_SIDECAR_BYTES = 1 << 20;

/** The sidecar files looked for, in order, beside `modelPath`. */
export function sidecarPaths(modelPath: string): string[] {
  return [`${modelPath}.json`, join(dirname(modelPath), 'antidote.json')].filter(
    (p) => basename(p) !== basename(modelPath),
  );
}

/**
 * Reads the first sidecar found beside `modelPath` (see {@link sidecarPaths}): `{}` and no path
 * when there is none; `INVALID_FORMAT` naming the file and field for a malformed one.
 */
export async function readSidecar(
  modelPath: string,
): Promise<{ sidecar: OnnxSidecar; path?: string }> {
  for (const path of sidecarPaths(modelPath)) {
    let raw: unknown;
    try {
      raw = await readJson(path, { maxBytes: MAX_SIDECAR_BYTES });
    } catch (e) {
      if (e instanceof AntidoteError && e.code === 'NOT_FOUND') continue;
      throw e;
    }
    return { sidecar: parseWith(SIDECAR, raw, path), path };
  }
  return { sidecar: {} };
}
