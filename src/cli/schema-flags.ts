import { type Command, InvalidArgumentError, Option } from 'commander';
import type { z } from 'zod';
import { parseInteger, parseNumber } from './options.js';

/**
 * commander flags derived from a zod options schema (the registries' option schemas: detectors in
 * `defenses/registry.ts`, attacks in `attacks/registry.ts`). Every field that carries a
 * description (`.describe(...)` or `.meta({ description })`) becomes a flag named after the field
 * in kebab case (`kwOutput` → `--kw-output`):
 *
 * - `z.number()` → a number (`parseNumber`), `z.int()` / `.int()` → an integer (`parseInteger`);
 * - `z.string()` → a string; `z.enum([...])` → a string restricted to its choices;
 * - `z.boolean()` → a flag without a value;
 * - `z.array(z.string())` → comma-separated words without spaces;
 *   `z.tuple([z.number(), z.number()])` → two numbers `a,b`;
 * - `.default(v)` → commander's default; a field neither optional nor defaulted is mandatory.
 *
 * `.meta({ placeholder: '<n>' })` names the value in help (default `<kebab-name>`); `.meta({ flag:
 * '--name' })` overrides the flag name. Fields without a description are library-only options.
 */

/** What a schema field's metadata may say about its flag. */
interface FlagMeta {
  readonly description?: string;
  readonly placeholder?: string;
  readonly flag?: string;
}

/** The zod internals this helper reads (zod 4: `_zod.def`). */
interface ZodDef {
  readonly type: string;
  readonly innerType?: z.ZodType;
  readonly defaultValue?: unknown;
  readonly entries?: Record<string, string>;
  readonly element?: z.ZodType;
  readonly items?: readonly z.ZodType[];
}

function defOf(schema: z.ZodType): ZodDef {
  return (schema as unknown as { _zod: { def: ZodDef } })._zod.def;
}

/** `camelCase` → `camel-case`. */
export function kebabCase(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** The field with its `optional` / `default` wrappers removed, and what they said. */
function unwrap(field: z.ZodType): { inner: z.ZodType; optional: boolean; defaultValue?: unknown } {
  let inner = field;
  let optional = false;
  let defaultValue: unknown;
  for (;;) {
    const def = defOf(inner);
    if (def.type === 'optional') optional = true;
    else if (def.type === 'default') {
      optional = true;
      defaultValue =
        typeof def.defaultValue === 'function'
          ? (def.defaultValue as () => unknown)()
          : def.defaultValue;
    } else if (def.type !== 'nullable') break;
    if (!def.innerType) break;
    inner = def.innerType;
  }
  return { inner, optional, ...(defaultValue !== undefined ? { defaultValue } : {}) };
}

function parseWords(value: string): string[] {
  const words = value
    .split(',')
    .map((w) => w.trim())
    .filter((w) => w !== '');
  if (words.length === 0 || words.some((w) => /\s/.test(w))) {
    throw new InvalidArgumentError(`expected comma-separated words without spaces, got "${value}"`);
  }
  return words;
}

function parsePair(value: string): [number, number] {
  const parts = value.split(',').map((s) => Number(s.trim()));
  const [a, b] = parts;
  if (parts.length !== 2 || a === undefined || b === undefined || !parts.every(Number.isFinite)) {
    throw new InvalidArgumentError(`expected two numbers "a,b", got "${value}"`);
  }
  return [a, b];
}

/** The commander option for one schema field, or undefined when it carries no description. */
export function optionFromField(key: string, field: z.ZodType): Option | undefined {
  const meta = ((field as { meta?: () => unknown }).meta?.() ?? {}) as FlagMeta;
  const description = meta.description ?? field.description;
  if (!description) return undefined;
  const { inner, optional, defaultValue } = unwrap(field);
  const def = defOf(inner);
  const name = meta.flag ?? `--${kebabCase(key)}`;
  const option =
    def.type === 'boolean'
      ? new Option(name, description)
      : new Option(`${name} ${meta.placeholder ?? `<${kebabCase(key)}>`}`, description);
  if (def.type === 'number') {
    option.argParser((inner as z.ZodNumber).format === 'safeint' ? parseInteger : parseNumber);
  } else if (def.type === 'enum') {
    option.choices(Object.values(def.entries ?? {}));
  } else if (def.type === 'array') {
    option.argParser(parseWords);
  } else if (def.type === 'tuple') {
    option.argParser(parsePair);
  }
  if (defaultValue !== undefined) option.default(defaultValue);
  if (!optional) option.makeOptionMandatory();
  return option;
}

/**
 * Adds a flag to `cmd` for every described field of `schema` (in field order), skipping the keys
 * in `skip` (flags the command already has). Returns `cmd`.
 */
export function addSchemaFlags(
  cmd: Command,
  schema: z.ZodObject,
  skip: ReadonlySet<string> = new Set(),
): Command {
  for (const [key, field] of Object.entries(schema.shape)) {
    if (skip.has(key)) continue;
    const option = optionFromField(key, field as z.ZodType);
    if (option) cmd.addOption(option);
  }
  return cmd;
}
