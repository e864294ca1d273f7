/**
 * A reader for Weka's ARFF format (Attribute-Relation File Format, as documented in the Weka
 * manual, Witten, Frank & Hall, "Data Mining", 3rd ed., 2011): `@relation`, `@attribute NAME
 * numeric|real|integer|{level, ...}` and a dense `@data` section of comma-separated rows, with
 * `%` comments and single- or double-quoted names and values. Sparse rows, `string` and `date`
 * attributes and missing values (`?`) are refused with a precise error rather than guessed.
 */
import { AntidoteError } from '../../errors.js';
import { readBytes } from '../../util/fs.js';
import { defaultIds, validateDataset } from '../dataset.js';
import type { TabularColumn, TabularData } from './tabular.js';

/** Options of {@link parseArff}. */
export interface ArffOptions {
  /** The nominal attribute holding the label; default the last attribute. */
  readonly classAttribute?: string;
  /** Record id prefix; default `''`. */
  readonly idPrefix?: string;
}

type Attr = { name: string } & ({ kind: 'numeric' } | { kind: 'nominal'; levels: string[] });

/** Splits on commas outside quotes; unquotes single/double-quoted items (backslash escapes). */
function splitItems(s: string, where: string, line: number): string[] {
  const out: string[] = [];
  let i = 0;
  const n = s.length;
  while (i <= n) {
    while (i < n && (s[i] === ' ' || s[i] === '\t')) i++;
    let item = '';
    if (s[i] === "'" || s[i] === '"') {
      const q = s[i++];
      let closed = false;
      while (i < n) {
        const ch = s[i++];
        if (ch === '\\' && i < n) item += s[i++];
        else if (ch === q) {
          closed = true;
          break;
        } else item += ch;
      }
      if (!closed) {
        throw new AntidoteError('INVALID_FORMAT', `${where}: line ${line}: unclosed quote`, {
          path: where,
          line,
        });
      }
      while (i < n && (s[i] === ' ' || s[i] === '\t')) i++;
      if (i < n && s[i] !== ',') {
        throw new AntidoteError(
          'INVALID_FORMAT',
          `${where}: line ${line}: unexpected text after a quoted value`,
          { path: where, line },
        );
      }
    } else {
      const start = i;
      while (i < n && s[i] !== ',') i++;
      item = s.slice(start, i).trim();
    }
    out.push(item);
    i++; // skip the comma (or step past the end)
  }
  return out;
}

function fail(where: string, line: number, msg: string): never {
  throw new AntidoteError('INVALID_FORMAT', `${where}: line ${line}: ${msg}`, {
    path: where,
    line,
  });
}

/** Reads the attribute name at the start of `rest` (quoted or bare), returning it and the rest. */
function takeName(rest: string, where: string, line: number): [string, string] {
  const s = rest.trimStart();
  if (s[0] === "'" || s[0] === '"') {
    const end = s.indexOf(s[0], 1);
    if (end < 0) fail(where, line, 'unclosed quote in attribute name');
    return [s.slice(1, end), s.slice(end + 1).trim()];
  }
  const m = /^(\S+)\s*(.*)$/.exec(s);
  if (!m) fail(where, line, 'attribute without a name');
  return [m[1]!, m[2]!.trim()];
}

/**
 * Parses ARFF text into tabular data: numeric attributes become numeric columns, nominal ones
 * categorical columns (values = level indices), the class attribute becomes the label.
 *
 * Errors (`INVALID_FORMAT`, naming the line): no `@data`, unknown or unsupported attribute types,
 * sparse rows, wrong value counts, missing values, values outside a nominal attribute's levels,
 * non-numeric numbers; a class attribute that is absent or not nominal.
 */
export function parseArff(text: string, options: ArffOptions = {}, where = '<arff>'): TabularData {
  const lines = text.replace(/^\ufeff/, '').split(/\r?\n/);
  const attrs: Attr[] = [];
  let dataAt = -1;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '' || line.startsWith('%')) continue;
    const lower = line.toLowerCase();
    if (lower.startsWith('@relation')) continue;
    if (lower.startsWith('@data')) {
      dataAt = i + 1;
      break;
    }
    if (!lower.startsWith('@attribute')) fail(where, i + 1, `unexpected header line "${line}"`);
    const [name, type] = takeName(line.slice('@attribute'.length), where, i + 1);
    if (type.startsWith('{')) {
      if (!type.endsWith('}')) fail(where, i + 1, `nominal attribute "${name}" lacks a closing }`);
      const levels = splitItems(type.slice(1, -1), where, i + 1);
      if (levels.some((l) => l === '') || new Set(levels).size !== levels.length) {
        fail(where, i + 1, `nominal attribute "${name}" has empty or repeated levels`);
      }
      attrs.push({ name, kind: 'nominal', levels });
    } else if (/^(numeric|real|integer)$/i.test(type)) {
      attrs.push({ name, kind: 'numeric' });
    } else {
      fail(where, i + 1, `attribute "${name}" has unsupported type "${type}"`);
    }
  }
  if (dataAt < 0) {
    throw new AntidoteError('INVALID_FORMAT', `${where}: no @data section`, { path: where });
  }
  if (attrs.length < 2) {
    throw new AntidoteError('INVALID_FORMAT', `${where}: needs at least 2 attributes`, {
      path: where,
    });
  }
  const classIdx =
    options.classAttribute === undefined
      ? attrs.length - 1
      : attrs.findIndex((a) => a.name === options.classAttribute);
  if (classIdx < 0) {
    throw new AntidoteError(
      'INVALID_FORMAT',
      `${where}: no attribute "${options.classAttribute}" to use as the class`,
      { path: where },
    );
  }
  const classAttr = attrs[classIdx]!;
  if (classAttr.kind !== 'nominal') {
    throw new AntidoteError(
      'INVALID_FORMAT',
      `${where}: the class attribute "${classAttr.name}" is not nominal`,
      { path: where },
    );
  }
  const features = attrs.filter((_, j) => j !== classIdx);
  const d = features.length;
  const rows: number[][] = [];
  const labels: number[] = [];
  const levelIndex = attrs.map((a) =>
    a.kind === 'nominal' ? new Map(a.levels.map((l, k) => [l, k])) : undefined,
  );
  for (let i = dataAt; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '' || line.startsWith('%')) continue;
    if (line.startsWith('{')) fail(where, i + 1, 'sparse ARFF rows are not supported');
    const items = splitItems(line, where, i + 1);
    if (items.length !== attrs.length) {
      fail(where, i + 1, `expected ${attrs.length} values, found ${items.length}`);
    }
    const row: number[] = [];
    for (let j = 0; j < attrs.length; j++) {
      const v = items[j]!;
      const a = attrs[j]!;
      if (v === '?') fail(where, i + 1, `missing value for "${a.name}"`);
      let num: number;
      if (a.kind === 'numeric') {
        num = Number(v);
        if (v === '' || !Number.isFinite(num)) {
          fail(where, i + 1, `"${a.name}" is numeric, got "${v}"`);
        }
      } else {
        const k = levelIndex[j]!.get(v);
        if (k === undefined) fail(where, i + 1, `"${v}" is not a level of "${a.name}"`);
        num = k;
      }
      if (j === classIdx) labels.push(num);
      else row.push(num);
    }
    rows.push(row);
  }
  if (rows.length === 0) {
    throw new AntidoteError('INVALID_FORMAT', `${where}: the @data section is empty`, {
      path: where,
    });
  }
  const n = rows.length;
  const x = new Float32Array(n * d);
  rows.forEach((r, i) => {
    x.set(r, i * d);
  });
  const columns: TabularColumn[] = features.map((a) =>
    a.kind === 'numeric'
      ? { name: a.name, kind: 'numeric' }
      : { name: a.name, kind: 'categorical', levels: a.levels },
  );
  const dataset = validateDataset(
    {
      x,
      shape: [n, d],
      y: Int32Array.from(labels),
      classes: classAttr.levels,
      ids: defaultIds(n, options.idPrefix ?? ''),
    },
    { where },
  );
  return { dataset, columns };
}

/** Reads an ARFF file (see {@link parseArff}). */
export async function loadArff(path: string, options: ArffOptions = {}): Promise<TabularData> {
  const text = new TextDecoder('utf-8').decode(await readBytes(path));
  return parseArff(text, options, path);
}
