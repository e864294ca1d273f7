/**
 * The small JSON an ONNX model may carry beside it, since the file itself names neither its
 * classes nor its preprocessing: `MODEL.onnx.json` (or `antidote.json` in the same directory),
 * `{ "classes": [...], "normalization": { "scale": 1, "mean": [...], "std": [...] } }`, and for a
 * text model (token-id input) how texts become ids: `"text": { "vocabulary": "vocab.txt",
 * "tokenizer": "antidote", "maxTokens": 64, "padId": 0, "unknownId": 1 }` (see docs/onnx.md).
 */
import { basename, dirname, join } from 'node:path';
import { z } from 'zod';
import type { TokenizerOptions } from '../../data/tokenizer.js';
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

/**
 * How a text model's texts become token ids: tokenised by Antidote's tokenizer
 * (`data/tokenizer.ts`, with its options), each token looked up in `vocabulary` (a file beside the
 * model, one token per line, line i = id i; or the tokens inline), unknown tokens mapped to
 * `unknownId` (dropped when it is absent), the first `maxTokens` kept, padded with `padId`.
 */
export interface OnnxTextSidecar {
  /** `"antidote"` (default options) or Antidote's tokenizer options. */
  readonly tokenizer: 'antidote' | TokenizerOptions;
  /** A file name in the model's folder, or the tokens inline. */
  readonly vocabulary: string | readonly string[];
  /** Sequence length; needed when the model's input does not fix it. */
  readonly maxTokens?: number;
  readonly padId: number;
  readonly unknownId?: number;
}

/** What the sidecar says (every field optional). */
export interface OnnxSidecar {
  readonly classes?: readonly string[];
  readonly normalization?: OnnxNormalization;
  readonly text?: OnnxTextSidecar;
}

const TOKEN_ID = z.number().int().nonnegative();

const TEXT = z
  .object({
    tokenizer: z
      .union([
        z.literal('antidote'),
        z
          .object({
            minLength: z.number().int().positive().optional(),
            maxLength: z.number().int().positive().optional(),
            numbers: z.boolean().optional(),
            stripHtml: z.boolean().optional(),
          })
          .strict(),
      ])
      .default('antidote'),
    // A file in the model's folder (hashed and signed with it), or the tokens inline.
    vocabulary: z.union([
      z
        .string()
        .regex(/^[^/\\]+$/, 'a file name in the model folder (no directory)')
        .refine((v) => v !== '.' && v !== '..', 'a file name'),
      z.array(z.string()).min(1),
    ]),
    maxTokens: z.number().int().positive().optional(),
    padId: TOKEN_ID.default(0),
    unknownId: TOKEN_ID.optional(),
  })
  .strict();

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
    text: TEXT.optional(),
  })
  .strict();

/** Most bytes of a sidecar file. */
const MAX_SIDECAR_BYTES = 1 << 20;

/** The vocabulary file a sidecar at `sidecarPath` names (a file beside it). */
export function vocabularyPath(sidecarPath: string, file: string): string {
  return join(dirname(sidecarPath), file);
}

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
