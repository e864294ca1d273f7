import { parse } from 'csv-parse/sync';
import { AntidoteError } from '../errors.js';
import { readBytes } from '../util/fs.js';
import { type Dataset, defaultIds, validateDataset } from './dataset.js';
import type { TabularColumn } from './datasets/tabular.js';

/** A column chosen by header name or by 0-based index. */
export type CsvColumn = string | number;

/** Options for {@link parseCsv} / {@link loadCsv}. */
export interface CsvOptions {
  /** The label column; default the column named `label`, else the last column. */
  readonly label?: CsvColumn;
  /** A column holding record ids (default: ids `0`..`N-1`, zero-padded). */
  readonly id?: CsvColumn;
  /** A column holding each record's provenance (contributor, feed, file). */
  readonly source?: CsvColumn;
  /**
   * Class names in label order. Default: the distinct label strings, sorted numerically when
   * all are numbers, else by code unit.
   */
  readonly classes?: readonly string[];
  /** Field delimiter (default `,`). */
  readonly delimiter?: string;
  /**
   * Categorical feature columns: their values are names of levels (any text), stored as the
   * level's index (levels sorted like classes, see {@link sortClasses}); the tabular models
   * one-hot encode them. Every other feature column must be numeric.
   */
  readonly categorical?: readonly CsvColumn[];
  /** Columns to leave out entirely (free text, timestamps, leaked targets). */
  readonly ignore?: readonly CsvColumn[];
}

/** A dataset read from CSV, with the names of its feature columns (in feature order). */
export interface CsvDataset {
  readonly dataset: Dataset;
  readonly featureNames: readonly string[];
  /** The column schema of the features (numeric, or categorical with their levels). */
  readonly columns: readonly TabularColumn[];
}

const MISSING = new Set(['', 'nan', 'na', 'n/a', 'null', 'none']);
const INFINITE = /^[+-]?(inf|infinity)$/i;
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/**
 * Parses CSV text with a header row into a {@link Dataset} of shape `[N, D]`: every column other
 * than the label, id and source columns is a numeric feature. `where` names the file in errors.
 *
 * Errors (each naming the line, and the column where there is one): `INVALID_FORMAT` for
 * malformed CSV, ragged rows, a non-numeric feature or an empty label; `NON_FINITE_VALUE` for an
 * empty, NaN or infinite feature; `LABEL_OUT_OF_RANGE` for a label outside given `classes`.
 */
export function parseCsv(text: string, options: CsvOptions = {}, where = '<csv>'): CsvDataset {
  let rows: { record: string[]; info: { lines: number } }[];
  try {
    rows = parse(text, {
      bom: true,
      info: true,
      relax_column_count: true,
      skip_empty_lines: true,
      delimiter: options.delimiter ?? ',',
    }) as unknown as { record: string[]; info: { lines: number } }[];
  } catch (e) {
    const line = (e as { lines?: number }).lines;
    throw new AntidoteError(
      'INVALID_FORMAT',
      `${where}: malformed CSV${line ? ` at line ${line}` : ''}: ${(e as Error).message}`,
      { path: where, ...(line ? { line } : {}) },
      { cause: e },
    );
  }
  if (rows.length === 0)
    throw new AntidoteError('INVALID_FORMAT', `${where}: empty CSV file`, { path: where });
  const header = rows[0]!.record.map((h) => h.trim());
  const body = rows.slice(1);
  if (body.length === 0) {
    throw new AntidoteError('INVALID_FORMAT', `${where}: CSV has a header but no records`, {
      path: where,
    });
  }
  const resolve = (col: CsvColumn, role: string): number => {
    if (typeof col === 'number') {
      if (!Number.isInteger(col) || col < 0 || col >= header.length) {
        throw new AntidoteError(
          'INVALID_ARGUMENT',
          `${where}: ${role} column index ${col} is outside [0, ${header.length})`,
          { path: where },
        );
      }
      return col;
    }
    const hits = header.flatMap((h, i) => (h === col ? [i] : []));
    if (hits.length !== 1) {
      throw new AntidoteError(
        hits.length === 0 ? 'NOT_FOUND' : 'INVALID_FORMAT',
        hits.length === 0
          ? `${where}: no ${role} column "${col}" (columns: ${header.join(', ')})`
          : `${where}: ${role} column "${col}" appears ${hits.length} times in the header`,
        { path: where },
      );
    }
    return hits[0]!;
  };
  const labelCol = resolve(
    options.label ?? (header.includes('label') ? 'label' : header.length - 1),
    'label',
  );
  const idCol = options.id === undefined ? -1 : resolve(options.id, 'id');
  const sourceCol = options.source === undefined ? -1 : resolve(options.source, 'source');
  const ignored = (options.ignore ?? []).map((c) => resolve(c, 'ignored'));
  const categoricalCols = new Set(
    (options.categorical ?? []).map((c) => resolve(c, 'categorical')),
  );
  const chosen = [labelCol, idCol, sourceCol].filter((c) => c >= 0);
  const special = new Set(chosen);
  if (special.size !== chosen.length) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `${where}: the label, id and source columns must be different`,
      { path: where },
    );
  }
  for (const c of [...categoricalCols, ...ignored]) {
    if (special.has(c)) {
      throw new AntidoteError(
        'INVALID_ARGUMENT',
        `${where}: column "${header[c]}" is the label, id or source column: it cannot also be categorical or ignored`,
        { path: where },
      );
    }
  }
  for (const c of ignored) special.add(c);
  const featureCols = header.map((_, i) => i).filter((i) => !special.has(i));
  if (featureCols.length === 0) {
    throw new AntidoteError('INVALID_FORMAT', `${where}: CSV has no feature columns`, {
      path: where,
    });
  }
  const n = body.length;
  const d = featureCols.length;
  const x = new Float32Array(n * d);
  const labels = new Array<string>(n);
  const ids = idCol >= 0 ? new Array<string>(n) : defaultIds(n);
  const source = sourceCol >= 0 ? new Array<string>(n) : undefined;
  const lines = new Array<number>(n);
  const levels = categoricalLevels(body, featureCols, categoricalCols);
  for (let r = 0; r < n; r++) {
    const { record, info } = body[r]!;
    const line = info.lines;
    lines[r] = line;
    if (record.length !== header.length) {
      throw new AntidoteError(
        'INVALID_FORMAT',
        `${where}: line ${line} has ${record.length} fields, the header has ${header.length}`,
        { path: where, line },
      );
    }
    for (let j = 0; j < d; j++) {
      const c = featureCols[j]!;
      const raw = record[c]!.trim();
      const col = `column "${header[c]}" (${c + 1})`;
      const coded = levels.get(c);
      if (coded) {
        x[r * d + j] = coded.get(raw)!;
      } else if (DECIMAL.test(raw)) {
        x[r * d + j] = Number(raw);
        if (!Number.isFinite(x[r * d + j])) {
          throw new AntidoteError(
            'NON_FINITE_VALUE',
            `${where}: line ${line}, ${col}: ${raw} overflows float32`,
            { path: where, line, column: header[c] },
          );
        }
      } else if (MISSING.has(raw.toLowerCase()) || INFINITE.test(raw)) {
        throw new AntidoteError(
          'NON_FINITE_VALUE',
          `${where}: line ${line}, ${col}: ${raw === '' ? 'empty value' : `non-finite value ${raw}`}`,
          { path: where, line, column: header[c] },
        );
      } else {
        throw new AntidoteError(
          'INVALID_FORMAT',
          `${where}: line ${line}, ${col}: ${JSON.stringify(raw)} is not a number (a column of names is --categorical ${JSON.stringify(header[c])}, an id column --id, one to leave out --ignore)`,
          { path: where, line, column: header[c] },
        );
      }
    }
    const label = record[labelCol]!.trim();
    if (label === '') {
      throw new AntidoteError('INVALID_FORMAT', `${where}: line ${line}: empty label`, {
        path: where,
        line,
      });
    }
    labels[r] = label;
    if (idCol >= 0) ids[r] = record[idCol]!.trim();
    if (source) source[r] = record[sourceCol]!.trim();
  }
  const classes = options.classes ? [...options.classes] : sortClasses(new Set(labels));
  const index = new Map(classes.map((c, i) => [c, i]));
  const y = new Int32Array(n);
  for (let r = 0; r < n; r++) {
    const k = index.get(labels[r]!);
    if (k === undefined) {
      throw new AntidoteError(
        'LABEL_OUT_OF_RANGE',
        `${where}: line ${lines[r]}: label "${labels[r]}" is not one of the classes (${classes.join(', ')})`,
        { path: where, line: lines[r] },
      );
    }
    y[r] = k;
  }
  const dataset = validateDataset(
    { x, shape: [n, d], y, classes, ids, ...(source ? { source } : {}) },
    { where },
  );
  const columns = featureCols.map((c): TabularColumn => {
    const coded = levels.get(c);
    return coded
      ? { name: header[c]!, kind: 'categorical', levels: [...coded.keys()] }
      : { name: header[c]!, kind: 'numeric' };
  });
  return { dataset, featureNames: featureCols.map((c) => header[c]!), columns };
}

/**
 * The levels of each categorical column, in {@link sortClasses} order, mapped to their index.
 * Rows of the wrong length are skipped here (the main loop reports them).
 */
function categoricalLevels(
  body: readonly { record: string[] }[],
  featureCols: readonly number[],
  categorical: ReadonlySet<number>,
): Map<number, Map<string, number>> {
  const out = new Map<number, Map<string, number>>();
  for (const c of featureCols) {
    if (!categorical.has(c)) continue;
    const seen = new Set<string>();
    for (const { record } of body) {
      const v = record[c];
      if (v !== undefined) seen.add(v.trim());
    }
    out.set(c, new Map(sortClasses(seen).map((l, i) => [l, i])));
  }
  return out;
}

/** Reads a CSV file (see {@link parseCsv}). */
export async function loadCsv(path: string, options: CsvOptions = {}): Promise<CsvDataset> {
  const bytes = await readBytes(path);
  return parseCsv(new TextDecoder('utf-8').decode(bytes), options, path);
}

/**
 * Class names in a stable order: numerically when every name is a decimal number (`2` before
 * `10`), else by UTF-16 code unit.
 */
export function sortClasses(names: Iterable<string>): string[] {
  const list = [...new Set(names)];
  if (list.every((s) => DECIMAL.test(s)))
    return list.sort((a, b) => Number(a) - Number(b) || (a < b ? -1 : a > b ? 1 : 0));
  return list.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}
