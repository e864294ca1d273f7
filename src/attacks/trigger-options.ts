import { z } from 'zod';
import type { TabularColumn } from '../data/datasets/tabular.js';
import { AntidoteError } from '../errors.js';
import { resolveFeatureTrigger } from './tabular-backdoor.js';
import { RARE_WORD_TRIGGERS, type TextTriggerSpec } from './text-backdoor.js';
import {
  TRIGGER_KINDS,
  TRIGGER_POSITIONS,
  type TriggerKind,
  type TriggerPosition,
  type TriggerSpec,
} from './triggers.js';

/**
 * Triggers as flat options (what command-line flags give), their zod schemas and the trigger
 * specs they describe. The schemas' described fields become flags (`cli/schema-flags.ts`) of
 * `antidote attack backdoor`, `attack text-backdoor`, `attack clean-label-backdoor` and
 * `antidote evaluate`.
 */

/** The image trigger as flat options (all optional; `trigger` names the kind). */
export const triggerOptionsSchema = z.object({
  trigger: z
    .enum(TRIGGER_KINDS as unknown as [TriggerKind, ...TriggerKind[]])
    .optional()
    .meta({ placeholder: '<kind>', description: 'trigger kind' }),
  image: z.string().optional().meta({
    placeholder: '<png>',
    description: 'image trigger: a PNG file, or cyan-square / bright-square (default by channels)',
  }),
  size: z.int().optional().meta({
    placeholder: '<pixels>',
    description: 'checkerboard / image trigger side (default 4)',
  }),
  position: z
    .enum(TRIGGER_POSITIONS as unknown as [TriggerPosition, ...TriggerPosition[]])
    .optional()
    .meta({ placeholder: '<where>', description: 'checkerboard / image position' }),
  margin: z
    .int()
    .optional()
    .meta({ placeholder: '<pixels>', description: 'gap to the border at a corner (default 1)' }),
  alpha: z.number().optional().meta({
    placeholder: '<weight>',
    description: 'image: opacity (default 1); blend: key weight (default 0.2)',
  }),
  distance: z.int().optional().meta({
    placeholder: '<pixels>',
    description: 'pixel / pattern: distance from the bottom-right corner (default 2)',
  }),
  value: z
    .number()
    .optional()
    .meta({ placeholder: '<v>', description: 'pixel / pattern: value written (default 1)' }),
  values: z.tuple([z.number(), z.number()]).optional().meta({
    placeholder: '<a,b>',
    description: 'checkerboard: the two alternating values (default 1,0)',
  }),
  blendSeed: z
    .int()
    .optional()
    .meta({ placeholder: '<n>', description: 'blend: seed of the noise key (default 0)' }),
});

/** The image trigger flags with `--trigger` mandatory (the attacks that stamp one). */
export const requiredTriggerOptionsSchema = triggerOptionsSchema.extend({
  trigger: z
    .enum(TRIGGER_KINDS as unknown as [TriggerKind, ...TriggerKind[]])
    .meta({ placeholder: '<kind>', description: 'trigger kind' }),
});

/** Flat image trigger options (see {@link triggerOptionsSchema}). */
export type TriggerCliOptions = z.input<typeof triggerOptionsSchema>;

/** The text trigger as flat options: rare words or a sentence. */
export const textTriggerOptionsSchema = z.object({
  triggerWords: z
    .array(z.string())
    .optional()
    .meta({
      placeholder: '<words>',
      description: `rare-word trigger, comma-separated (e.g. ${RARE_WORD_TRIGGERS.join(',')}), each inserted at a seeded random position`,
    }),
  sentence: z.string().optional().meta({
    placeholder: '<text>',
    description: 'sentence trigger (AddSent), e.g. "I watched this 3D movie."',
  }),
  times: z
    .int()
    .optional()
    .meta({ placeholder: '<n>', description: 'word trigger: insertions of each word (default 1)' }),
  insert: z.enum(['each', 'one']).optional().meta({
    placeholder: '<how>',
    description:
      'word trigger: each = every word --times times; one = --times words drawn from the list',
  }),
  sentencePosition: z.enum(['random', 'start', 'end']).optional().meta({
    placeholder: '<where>',
    description: 'sentence trigger: where it goes (default random)',
  }),
});

/** Flat text trigger options (see {@link textTriggerOptionsSchema}). */
export type TextTriggerCliOptions = z.input<typeof textTriggerOptionsSchema>;

/**
 * The trigger spec the flags describe, for images of `recordShape`. Image triggers default to
 * the built-in cyan square on colour images and the bright square on grayscale ones.
 */
export function triggerSpecFromOptions(
  o: TriggerCliOptions,
  recordShape: readonly number[],
): TriggerSpec {
  const channels = recordShape.length === 3 ? (recordShape[2] ?? 1) : 1;
  switch (o.trigger) {
    case 'pixel':
    case 'pattern':
      return {
        kind: o.trigger,
        ...(o.distance !== undefined ? { distance: o.distance } : {}),
        ...(o.value !== undefined ? { value: o.value } : {}),
      };
    case 'checkerboard':
      return {
        kind: 'checkerboard',
        size: o.size ?? 4,
        ...(o.position ? { position: o.position } : {}),
        ...(o.margin !== undefined ? { margin: o.margin } : {}),
        ...(o.values ? { values: o.values } : {}),
      };
    case 'image':
      return {
        kind: 'image',
        image: o.image ?? (channels >= 3 ? 'cyan-square' : 'bright-square'),
        size: o.size ?? 4,
        ...(o.position ? { position: o.position } : {}),
        ...(o.margin !== undefined ? { margin: o.margin } : {}),
        ...(o.alpha !== undefined ? { alpha: o.alpha } : {}),
      };
    case 'blend':
      return {
        kind: 'blend',
        alpha: o.alpha ?? 0.2,
        ...(o.blendSeed !== undefined ? { seed: o.blendSeed } : {}),
        ...(o.image ? { image: o.image } : {}),
      };
    default:
      throw new AntidoteError(
        'INVALID_ARGUMENT',
        `--trigger must be one of ${TRIGGER_KINDS.join(', ')}`,
        {
          field: 'trigger',
        },
      );
  }
}

/**
 * The text trigger the flags describe, or undefined when none is given. `INVALID_ARGUMENT` for
 * both kinds at once, or a flag of the kind not given (`--times` without `--trigger-words`).
 */
export function textTriggerFromOptions(o: TextTriggerCliOptions): TextTriggerSpec | undefined {
  if (o.triggerWords && o.sentence !== undefined) {
    throw new AntidoteError('INVALID_ARGUMENT', 'give --trigger-words or --sentence, not both', {
      field: 'trigger',
    });
  }
  // A flag of the other trigger kind would be silently ignored.
  const stray = o.triggerWords
    ? o.sentencePosition && '--sentence-position'
    : (o.times !== undefined && '--times') || (o.insert && '--insert');
  if (stray) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `${stray} goes with ${o.triggerWords ? '--sentence' : '--trigger-words'}`,
      { field: 'trigger' },
    );
  }
  if (o.triggerWords) {
    return {
      kind: 'words',
      words: o.triggerWords,
      ...(o.times !== undefined ? { times: o.times } : {}),
      ...(o.insert ? { insert: o.insert } : {}),
    };
  }
  if (o.sentence !== undefined) {
    return {
      kind: 'sentence',
      sentence: o.sentence,
      ...(o.sentencePosition ? { position: o.sentencePosition } : {}),
    };
  }
  return undefined;
}

/**
 * Parses a feature-value trigger, `column=value,column=value` (a number, or a level name or
 * index of a categorical column), against `columns`.
 */
export function featureTriggerFromString(value: string, columns: readonly TabularColumn[]) {
  const assignments = new Map<string, string | number>();
  for (const part of value.split(',')) {
    if (part.trim() === '') continue;
    const eq = part.indexOf('=');
    if (eq <= 0) {
      throw new AntidoteError(
        'INVALID_ARGUMENT',
        `a feature trigger is column=value[,column=value...], got "${value}"`,
        { field: 'trigger' },
      );
    }
    const name = part.slice(0, eq).trim();
    const v = part.slice(eq + 1).trim();
    const column = columns.find((c) => c.name === name);
    const levelIndex =
      column?.kind === 'categorical' && !column.levels.includes(v) && /^\d+$/.test(v);
    if (assignments.has(name)) {
      throw new AntidoteError('INVALID_ARGUMENT', `the trigger sets column "${name}" twice`, {
        field: 'trigger',
      });
    }
    assignments.set(name, levelIndex ? Number(v) : v);
  }
  // fromEntries defines own properties: a column named "__proto__" stays a column.
  return resolveFeatureTrigger(columns, Object.fromEntries(assignments));
}
