import { z } from 'zod';
import { AntidoteError } from '../errors.js';
import { readBytes } from '../util/fs.js';
import { sortClasses } from './csv.js';
import { type Dataset, defaultIds, validateDataset } from './dataset.js';

/** One text record as stored in JSON / JSONL: `{ text, label, id?, source? }`. */
export const TextRecordSchema = z.object({
  text: z.string(),
  label: z.union([z.string().min(1), z.number().int()]),
  id: z.union([z.string().min(1), z.number().int()]).optional(),
  source: z.string().optional(),
});

/** A text record after validation. */
export type TextRecord = z.infer<typeof TextRecordSchema>;

/** Options for {@link parseTextRecords} / {@link loadTextDataset}. */
export interface TextOptions {
  /** `json` (an array), `jsonl` (one object per line) or `auto` (default: by the first character). */
  readonly format?: 'json' | 'jsonl' | 'auto';
  /** Class names in label order; default the distinct labels, sorted (see `sortClasses`). */
  readonly classes?: readonly string[];
}

function issueText(error: z.ZodError): string {
  return error.issues
    .map((i) => `${i.path.length ? i.path.join('.') : 'record'}: ${i.message}`)
    .join('; ');
}

/**
 * Parses text records (a JSON array, or JSON Lines) into a text {@link Dataset}: `text` holds the
 * raw strings, and the features are empty (`shape = [N, 0]`) until a vectoriser runs. Labels may be
 * strings or integers (compared as strings); records without an `id` get `0`..`N-1`, and a record
 * without a `source` gets `''` when others have one.
 *
 * Errors: `INVALID_FORMAT` naming the line (JSONL) or element (JSON) for malformed JSON or a
 * record that is not `{text, label}`; `LABEL_OUT_OF_RANGE` for a label outside given `classes`.
 */
export function parseTextRecords(
  content: string,
  options: TextOptions = {},
  where = '<text>',
): Dataset {
  const body = content.replace(/^\ufeff/, '');
  const format =
    options.format && options.format !== 'auto'
      ? options.format
      : body.trimStart().startsWith('[')
        ? 'json'
        : 'jsonl';
  const records: { value: unknown; at: string; line?: number }[] = [];
  if (format === 'json') {
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch (e) {
      throw new AntidoteError(
        'INVALID_FORMAT',
        `${where}: malformed JSON: ${(e as Error).message}`,
        {
          path: where,
        },
      );
    }
    if (!Array.isArray(parsed)) {
      throw new AntidoteError('INVALID_FORMAT', `${where}: expected a JSON array of records`, {
        path: where,
      });
    }
    parsed.forEach((value, i) => {
      records.push({ value, at: `element ${i}` });
    });
  } else {
    const lines = body.split(/\r?\n/);
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!.trim();
      if (line === '') continue;
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch (e) {
        throw new AntidoteError(
          'INVALID_FORMAT',
          `${where}: line ${i + 1}: malformed JSON: ${(e as Error).message}`,
          { path: where, line: i + 1 },
        );
      }
      records.push({ value, at: `line ${i + 1}`, line: i + 1 });
    }
  }
  if (records.length === 0) {
    throw new AntidoteError('INVALID_FORMAT', `${where}: no text records`, { path: where });
  }
  const n = records.length;
  const ok: TextRecord[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const r = TextRecordSchema.safeParse(records[i]!.value);
    if (!r.success) {
      throw new AntidoteError(
        'INVALID_FORMAT',
        `${where}: ${records[i]!.at}: not a {text, label} record (${issueText(r.error)})`,
        { path: where, ...(records[i]!.line ? { line: records[i]!.line } : { record: i }) },
      );
    }
    ok[i] = r.data;
  }
  const withId = ok.filter((r) => r.id !== undefined).length;
  if (withId !== 0 && withId !== n) {
    const i = ok.findIndex((r) => r.id === undefined);
    throw new AntidoteError(
      'INVALID_FORMAT',
      `${where}: ${records[i]!.at}: record has no id while others do`,
      { path: where, record: i },
    );
  }
  const labels = ok.map((r) => String(r.label));
  const classes = options.classes ? [...options.classes] : sortClasses(labels);
  const index = new Map(classes.map((c, i) => [c, i]));
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const k = index.get(labels[i]!);
    if (k === undefined) {
      throw new AntidoteError(
        'LABEL_OUT_OF_RANGE',
        `${where}: ${records[i]!.at}: label "${labels[i]}" is not one of the classes (${classes.join(', ')})`,
        { path: where, record: i },
      );
    }
    y[i] = k;
  }
  const ids = withId ? ok.map((r) => String(r.id)) : defaultIds(n);
  const hasSource = ok.some((r) => r.source !== undefined);
  return validateDataset(
    {
      x: new Float32Array(0),
      shape: [n, 0],
      y,
      classes,
      ids,
      text: ok.map((r) => r.text),
      ...(hasSource ? { source: ok.map((r) => r.source ?? '') } : {}),
    },
    { where },
  );
}

/**
 * Reads a JSON or JSONL file of text records (see {@link parseTextRecords}); `.jsonl`/`.ndjson`
 * files are read as JSON Lines, others by their first character.
 */
export async function loadTextDataset(path: string, options: TextOptions = {}): Promise<Dataset> {
  const content = new TextDecoder('utf-8').decode(await readBytes(path));
  const format = options.format ?? (/\.(jsonl|ndjson)$/i.test(path) ? 'jsonl' : 'auto');
  return parseTextRecords(content, { ...options, format }, path);
}
