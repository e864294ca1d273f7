/**
 * The raw records a model reads, and how records sent as JSON (e.g. `POST /v1/predict`) become a
 * {@link Dataset} of them. The model's `featurize` then turns them into its representation.
 */
import { type Dataset, defaultIds } from '../data/dataset.js';
import { columnValue, type TabularColumn } from '../data/datasets/tabular.js';
import { AntidoteError } from '../errors.js';

/**
 * What one raw record is:
 * - `tensor`: a numeric array of `shape` (images HWC, or schema-less feature rows), sent
 *   flattened row-major as `[v0, v1, …]`;
 * - `text`: a string, sent as `{ "text": "…" }`;
 * - `tabular`: one value per column of `columns`, sent either as an object keyed by column name
 *   (`{ "age": 42, "housing": "own" }`, every column, no other key) or as an array in column
 *   order (`[42, "own"]`). Numeric columns take numbers; categorical columns take the level
 *   name, or its index.
 */
export type ModelInput =
  | { readonly kind: 'tensor'; readonly shape: readonly number[] }
  | { readonly kind: 'text' }
  | { readonly kind: 'tabular'; readonly columns: readonly TabularColumn[] };

/** Most characters of one text record (a larger one is `INVALID_ARGUMENT`). */
export const MAX_TEXT_RECORD_CHARS = 1_000_000;

function bad(message: string, where: string): AntidoteError {
  return new AntidoteError('INVALID_ARGUMENT', message, { field: where });
}

function tensorRow(
  shape: readonly number[],
  raw: unknown,
  at: string,
  x: Float32Array,
  offset: number,
): void {
  const dim = shape.reduce((a, b) => a * b, 1);
  if (!Array.isArray(raw)) throw bad(`${at} must be an array of numbers`, at);
  if (raw.length !== dim) {
    throw new AntidoteError(
      'SHAPE_MISMATCH',
      `${at} has ${raw.length} values; the model takes ${dim} (${shape.join('×')}, flattened row-major)`,
      { field: at },
    );
  }
  for (let j = 0; j < dim; j++) {
    const v: unknown = raw[j];
    if (typeof v !== 'number') throw bad(`${at}[${j}] is not a number`, at);
    if (!Number.isFinite(v)) {
      throw new AntidoteError('NON_FINITE_VALUE', `${at}[${j}] is not finite`, { field: at });
    }
    x[offset + j] = v;
  }
}

function textRecord(raw: unknown, at: string): string {
  const keys = raw && typeof raw === 'object' && !Array.isArray(raw) ? Object.keys(raw) : [];
  const text = (raw as { text?: unknown } | null)?.text;
  if (keys.length !== 1 || typeof text !== 'string') {
    throw bad(`${at} must be {"text": "…"} (this is a text model)`, at);
  }
  if (text.length > MAX_TEXT_RECORD_CHARS) {
    throw bad(`${at}.text has ${text.length} characters; at most ${MAX_TEXT_RECORD_CHARS}`, at);
  }
  return text;
}

function tabularRow(
  columns: readonly TabularColumn[],
  raw: unknown,
  at: string,
  x: Float32Array,
  offset: number,
): void {
  const names = columns.map((c) => c.name);
  let values: readonly unknown[];
  if (Array.isArray(raw)) {
    if (raw.length !== columns.length) {
      throw new AntidoteError(
        'SHAPE_MISMATCH',
        `${at} has ${raw.length} values; the model reads ${columns.length} columns [${names.join(', ')}]`,
        { field: at },
      );
    }
    values = raw;
  } else if (raw && typeof raw === 'object') {
    const obj = raw as Record<string, unknown>;
    const extra = Object.keys(obj).filter((k) => !names.includes(k));
    const missing = names.filter((k) => !Object.hasOwn(obj, k));
    if (extra.length || missing.length) {
      throw bad(
        `${at}: ${missing.length ? `missing column(s) ${missing.join(', ')}` : ''}${missing.length && extra.length ? '; ' : ''}${extra.length ? `unknown column(s) ${extra.join(', ')}` : ''} (the model reads [${names.join(', ')}])`,
        at,
      );
    }
    values = names.map((k) => obj[k]);
  } else {
    throw bad(`${at} must be an object keyed by column name, or an array in column order`, at);
  }
  values.forEach((v, j) => {
    if (typeof v !== 'number' && typeof v !== 'string') {
      throw bad(`${at}: column "${names[j]}" must be a number or a level name`, at);
    }
    try {
      x[offset + j] = columnValue(columns, j, v);
    } catch (e) {
      if (e instanceof AntidoteError) throw bad(`${at}: ${e.message}`, at);
      throw e;
    }
  });
}

/**
 * Raw records sent as JSON, as a {@link Dataset} the model's `featurize` reads: `[n, ...shape]`
 * tensors, `[n, 0]` with `text`, or `[n, D]` tabular rows (categorical values as level indices).
 * Labels are 0 (unknown), ids `0..n-1`. A record that does not fit `input` is
 * `INVALID_ARGUMENT`, `SHAPE_MISMATCH` or `NON_FINITE_VALUE` naming it as `where[i]`.
 */
export function parseModelRecords(
  input: ModelInput,
  records: readonly unknown[],
  classes: readonly string[],
  where = 'inputs',
): Dataset {
  const n = records.length;
  const base = { y: new Int32Array(n), classes, ids: defaultIds(n) };
  if (input.kind === 'text') {
    const text = records.map((r, i) => textRecord(r, `${where}[${i}]`));
    return { ...base, x: new Float32Array(0), shape: [n, 0], text };
  }
  if (input.kind === 'tabular') {
    const d = input.columns.length;
    const x = new Float32Array(n * d);
    records.forEach((r, i) => {
      tabularRow(input.columns, r, `${where}[${i}]`, x, i * d);
    });
    return { ...base, x, shape: [n, d] };
  }
  const dim = input.shape.reduce((a, b) => a * b, 1);
  const x = new Float32Array(n * dim);
  records.forEach((r, i) => {
    tensorRow(input.shape, r, `${where}[${i}]`, x, i * dim);
  });
  return { ...base, x, shape: [n, ...input.shape] };
}
