/**
 * Tabular data with its column schema: the features of a {@link Dataset} (`shape = [N, D]`) plus
 * what each column means. Numeric columns hold their values; categorical columns hold the index
 * of their level (0..L-1) as a float, so encoders (one-hot) and triggers can name levels.
 */
import { AntidoteError } from '../../errors.js';
import type { Dataset } from '../dataset.js';

/** A numeric column. */
export interface NumericColumn {
  readonly name: string;
  readonly kind: 'numeric';
}

/** A categorical column; its values in the dataset are level indices. */
export interface CategoricalColumn {
  readonly name: string;
  readonly kind: 'categorical';
  /** Level names, in code order. */
  readonly levels: readonly string[];
}

/** One feature column of a {@link TabularData}. */
export type TabularColumn = NumericColumn | CategoricalColumn;

/** A tabular dataset: the records and the schema of their `D` feature columns. */
export interface TabularData {
  readonly dataset: Dataset;
  /** One entry per feature column, `columns.length === shape[1]`. */
  readonly columns: readonly TabularColumn[];
}

/** Index of the column called `name`; `INVALID_ARGUMENT` listing the columns when absent. */
export function columnIndex(columns: readonly TabularColumn[], name: string): number {
  const i = columns.findIndex((c) => c.name === name);
  if (i < 0) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `no column "${name}" (columns: ${columns.map((c) => c.name).join(', ')})`,
      { field: name },
    );
  }
  return i;
}

/**
 * The value stored for `value` in column `columns[i]`: the number itself for a numeric column, the
 * level index for a categorical one (given by name or index). `INVALID_ARGUMENT` otherwise.
 */
export function columnValue(
  columns: readonly TabularColumn[],
  i: number,
  value: string | number,
): number {
  const c = columns[i];
  if (c === undefined) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `no column ${i}: the data has ${columns.length} columns`,
      { field: 'column' },
    );
  }
  if (c.kind === 'numeric') {
    const v = typeof value === 'number' ? value : Number(value);
    if (!Number.isFinite(v) || (typeof value === 'string' && value.trim() === '')) {
      throw new AntidoteError(
        'INVALID_ARGUMENT',
        `column "${c.name}" is numeric, got ${JSON.stringify(value)}`,
        { field: c.name },
      );
    }
    return v;
  }
  if (typeof value === 'string') {
    const k = c.levels.indexOf(value);
    if (k >= 0) return k;
  } else if (Number.isInteger(value) && value >= 0 && value < c.levels.length) {
    return value;
  }
  throw new AntidoteError(
    'INVALID_ARGUMENT',
    `column "${c.name}" has no level ${JSON.stringify(value)} (levels: ${c.levels.join(', ')})`,
    { field: c.name },
  );
}
