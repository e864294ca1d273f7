/**
 * URL lists: the form web-scale datasets are distributed in (LAION, COYO, DataComp: one URL per
 * record, the bytes fetched by each user). Carlini et al., "Poisoning Web-Scale Training Datasets
 * is Practical" (IEEE S&P 2024) show that such a list is only as trustworthy as every domain it
 * names today: an attacker who buys an expired domain serves different bytes to later users
 * (split-view poisoning). `url-snapshot.ts` and `url-fetch.ts` pin each URL to a SHA-256.
 */
import { parse } from 'csv-parse/sync';
import { AntidoteError } from '../errors.js';
import { readText } from '../util/fs.js';

/** One entry of a URL list. */
export interface UrlItem {
  /** Stable id: the `id` column, else the 1-based row number. */
  readonly id: string;
  /** The URL as listed. */
  readonly url: string;
  /** Its host (`hostname[:port]` as the URL spells it, lower case): the unit of per-host reports. */
  readonly host: string;
}

/**
 * The host of `url` (`new URL(url).host`, lower case), or `INVALID_FORMAT` naming `where` when
 * it is not an absolute http(s) URL.
 */
export function urlHost(url: string, where = '<url>'): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new AntidoteError('INVALID_FORMAT', `${where}: not a URL: ${JSON.stringify(url)}`, {
      path: where,
    });
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new AntidoteError(
      'INVALID_FORMAT',
      `${where}: only http and https URLs are fetched, not ${u.protocol} (${url})`,
      { path: where },
    );
  }
  return u.host.toLowerCase();
}

/**
 * Parses a URL list: CSV with a header naming a `url` column (other columns, like `caption`, are
 * ignored) and optionally an `id` column; a file whose first line has no `url` column is read as
 * one URL per line. Ids must be unique. Errors: `INVALID_FORMAT` (naming the row) for a malformed
 * CSV, a non-http(s) URL, a duplicate id or an empty list.
 */
export function parseUrlList(text: string, where = '<url list>'): UrlItem[] {
  let rows: string[][];
  try {
    rows = parse(text, { bom: true, relax_column_count: true, skip_empty_lines: true, trim: true });
  } catch (e) {
    throw new AntidoteError(
      'INVALID_FORMAT',
      `${where}: malformed CSV: ${(e as Error).message}`,
      { path: where },
      { cause: e },
    );
  }
  const header = (rows[0] ?? []).map((h) => h.toLowerCase());
  const urlCol = header.indexOf('url');
  const idCol = urlCol >= 0 ? header.indexOf('id') : -1;
  const body = urlCol >= 0 ? rows.slice(1) : rows;
  const first = urlCol >= 0 ? 2 : 1;
  const col = Math.max(urlCol, 0);
  const seen = new Set<string>();
  const items = body.map((row, r): UrlItem => {
    const line = `${where} row ${r + first}`;
    const url = row[col] ?? '';
    const id = idCol >= 0 ? (row[idCol] ?? '') : String(r + 1);
    if (!id) throw new AntidoteError('INVALID_FORMAT', `${line}: empty id`, { path: where });
    if (seen.has(id)) {
      throw new AntidoteError('INVALID_FORMAT', `${line}: id "${id}" appears twice`, {
        path: where,
      });
    }
    seen.add(id);
    return { id, url, host: urlHost(url, line) };
  });
  if (items.length === 0) {
    throw new AntidoteError('INVALID_FORMAT', `${where}: the URL list is empty`, { path: where });
  }
  return items;
}

/** Reads and parses the URL list at `path` (see {@link parseUrlList}). */
export async function readUrlList(path: string): Promise<UrlItem[]> {
  return parseUrlList(await readText(path), path);
}
