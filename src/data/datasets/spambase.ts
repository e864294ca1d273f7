/**
 * Spambase (Hopkins, Reeber, Forman & Suermondt 1999, UCI Machine Learning Repository, CC BY
 * 4.0): 4,601 e-mails × 57 numeric features (word and character frequencies in percent, lengths
 * of capital-letter runs), labelled nonspam / spam. Antidote reads the `spam` data frame of the
 * R package kernlab (Debian `r-cran-kernlab`, GPL-2; `data/spam.rda`), fetched with `antidote
 * datasets fetch spambase` (apt-get download; the bzip2-compressed file is stored decompressed,
 * since Node has no bzip2 decoder).
 */
import { AntidoteError } from '../../errors.js';
import { readBytes } from '../../util/fs.js';
import { validateDataset } from '../dataset.js';
import { parseRData, R_NA_INTEGER, type RValue, rClass, rNames } from './rdata.js';
import type { TabularColumn, TabularData } from './tabular.js';

/**
 * Converts an R data frame to tabular data: numeric columns stay numeric, factor columns become
 * categorical (level indices), and the factor column `label` holds the class. `INVALID_FORMAT`
 * for anything else (NA values included).
 */
export function dataFrameToTabular(df: RValue, label: string, where: string): TabularData {
  const bad = (msg: string): never => {
    throw new AntidoteError('INVALID_FORMAT', `${where}: ${msg}`, { path: where });
  };
  if (df.type !== 'list' || !rClass(df).includes('data.frame')) bad('not an R data frame');
  const items = (df as Extract<RValue, { type: 'list' }>).items;
  const names = rNames(df) ?? bad('the data frame has no column names');
  const li = names.indexOf(label);
  if (li < 0) bad(`no column "${label}"`);
  const first = items[0];
  const n = first && 'data' in first ? first.data.length : 0;
  const factor = (v: RValue, name: string) => {
    if (v.type !== 'integer' || !rClass(v).includes('factor'))
      bad(`column "${name}" is not a factor`);
    const lv = (v as { attributes: ReadonlyMap<string, RValue> }).attributes.get('levels');
    if (lv?.type !== 'character') bad(`factor "${name}" has no levels`);
    return (lv as Extract<RValue, { type: 'character' }>).data.map((s) => s ?? 'NA');
  };
  const columns: TabularColumn[] = [];
  const cols: ArrayLike<number>[] = [];
  items.forEach((v, j) => {
    const name = names[j] ?? `V${j + 1}`;
    if (!('data' in v) || v.data.length !== n)
      bad(`column "${name}" is not a vector of ${n} values`);
    if (j === li) return;
    if (v.type === 'double') {
      columns.push({ name, kind: 'numeric' });
      cols.push(v.data);
    } else if (v.type === 'integer' && rClass(v).includes('factor')) {
      columns.push({ name, kind: 'categorical', levels: factor(v, name) });
      cols.push(Float64Array.from(v.data, (c) => c - 1));
    } else if (v.type === 'integer' || v.type === 'logical') {
      columns.push({ name, kind: 'numeric' });
      cols.push(v.data);
    } else {
      bad(`column "${name}" has unsupported type ${v.type}`);
    }
  });
  const labelColumn = items[li] ?? bad(`no column "${label}" among the ${items.length} columns`);
  const classes = factor(labelColumn, label);
  const codes = (labelColumn as { data: Int32Array }).data;
  const d = columns.length;
  const x = new Float32Array(n * d);
  for (let j = 0; j < d; j++) {
    const c = cols[j]!;
    for (let i = 0; i < n; i++) {
      const v = c[i]!;
      if (Number.isNaN(v) || v === R_NA_INTEGER || v === R_NA_INTEGER - 1) {
        bad(`column "${columns[j]!.name}" has a missing value in row ${i + 1}`);
      }
      x[i * d + j] = v;
    }
  }
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    if (codes[i] === R_NA_INTEGER) bad(`the label is missing in row ${i + 1}`);
    y[i] = codes[i]! - 1;
  }
  const width = String(Math.max(n - 1, 0)).length;
  const dataset = validateDataset(
    {
      x,
      shape: [n, d],
      y,
      classes,
      ids: Array.from({ length: n }, (_, i) => `spambase-${String(i).padStart(width, '0')}`),
    },
    { where },
  );
  return { dataset, columns };
}

/** Parses kernlab's `spam.rda` (uncompressed or gzip) into tabular data, label column `type`. */
export function parseSpambase(bytes: Uint8Array, where = '<spam.rda>'): TabularData {
  const objects = parseRData(bytes, where);
  const df = objects.get('spam');
  if (!df) {
    throw new AntidoteError(
      'INVALID_FORMAT',
      `${where}: no object "spam" (found: ${[...objects.keys()].join(', ') || 'none'})`,
      { path: where },
    );
  }
  return dataFrameToTabular(df, 'type', where);
}

/** Reads kernlab's `spam.rda` (see {@link parseSpambase}). */
export async function loadSpambase(path: string): Promise<TabularData> {
  return parseSpambase(await readBytes(path), path);
}
