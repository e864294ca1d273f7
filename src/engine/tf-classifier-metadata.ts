/**
 * What Antidote stores about a zoo model next to its weights (`model.json` → `antidote`), and
 * its check, apart from `tf-classifier.ts` so that a model handle reads it without loading
 * TensorFlow.js (`./deferred-image-model.ts`, issue 22).
 */
import { z } from 'zod';
import { parseWith } from '../util/schema.js';
import { ARCH_NAMES } from './arch-names.js';
import type { ModelSpec } from './zoo.js';

/** What Antidote stores about a model next to its weights (model.json → `antidote`). */
export interface TfClassifierMetadata {
  readonly format: 'antidote-model';
  readonly version: 1;
  readonly spec: ModelSpec;
  readonly inputShape: readonly number[];
  readonly classes: readonly string[];
  /** Training runs that produced the weights, oldest first (seed, options, history). */
  readonly training: ReadonlyArray<Record<string, unknown>>;
}

const metadataSchema = z.object({
  format: z.literal('antidote-model'),
  version: z.literal(1),
  spec: z.object({
    arch: z.enum(ARCH_NAMES as [string, ...string[]]),
    hidden: z.array(z.number().int().positive()).optional(),
    filters: z.tuple([z.number().int().positive(), z.number().int().positive()]).optional(),
  }),
  inputShape: z.array(z.number().int().positive()),
  classes: z.array(z.string()).min(2),
  training: z.array(z.record(z.string(), z.unknown())),
});

/**
 * The Antidote metadata of the model saved in `dir` (`model.json`'s `antidote` object), checked:
 * `INVALID_FORMAT` naming the field that is wrong.
 */
export function parseTfClassifierMetadata(metadata: unknown, dir: string): TfClassifierMetadata {
  const m = parseWith(metadataSchema, metadata, dir, {
    head: `${dir}/model.json has no valid Antidote metadata`,
    prefix: 'antidote.',
    root: '',
  });
  return { ...m, spec: m.spec as ModelSpec } as TfClassifierMetadata;
}
