/**
 * Text → feature vectors, fitted on training text only: a vocabulary with limits, and TF-IDF or
 * bag-of-words weights (Salton & Buckley 1988, "Term-weighting approaches in automatic text
 * retrieval"; the IDF smoothing is scikit-learn's `TfidfVectorizer(smooth_idf=True)`:
 * `idf = ln((1 + N) / (1 + df)) + 1`).
 *
 * A fitted {@link TextVectorizer} is plain data (JSON-serialisable), so a model can be saved with
 * the exact vocabulary it was trained on.
 */
import { z } from 'zod';
import { AntidoteError } from '../errors.js';
import { parseWith } from '../util/schema.js';
import { type Dataset, numRecords } from './dataset.js';
import { resolveTokenizerOptions, type TokenizerOptions, tokenize } from './tokenizer.js';

/**
 * How token counts become features:
 * - `'tfidf'`: (1 + ln tf if `sublinearTf`, else tf) × idf, then L2-normalised per document;
 * - `'mean'`: tf / (in-vocabulary tokens of the document): the averaging weights of an
 *   embedding bag (a dense layer on these features is fastText's mean of word embeddings);
 * - `'binary'`: 1 when the token occurs.
 */
export type TextWeighting = 'tfidf' | 'mean' | 'binary';

/** Every weighting, for CLI choices. */
export const TEXT_WEIGHTINGS: readonly TextWeighting[] = Object.freeze(['tfidf', 'mean', 'binary']);

/** Options of {@link fitTextVectorizer}. */
export interface TextVectorizerOptions {
  /** Feature weighting; default `'tfidf'`. */
  readonly weighting?: TextWeighting;
  /** Keep at most this many tokens (most frequent by document frequency); default 20000. */
  readonly maxVocabulary?: number;
  /** Drop tokens found in fewer documents; default 2. */
  readonly minDocFreq?: number;
  /** Drop tokens found in more than this share of documents; default 1 (keep all). */
  readonly maxDocShare?: number;
  /** tfidf: use 1 + ln(tf) for the term frequency; default true. */
  readonly sublinearTf?: boolean;
  /** Tokenizer options (see `tokenize`). */
  readonly tokenizer?: TokenizerOptions;
}

/** A fitted vectorizer: vocabulary, IDF weights and the options it was fitted with. */
export interface TextVectorizer {
  readonly format: 'antidote-text-vectorizer';
  readonly version: 1;
  readonly weighting: TextWeighting;
  readonly sublinearTf: boolean;
  readonly tokenizer: Required<TokenizerOptions>;
  /** Tokens, feature index order (descending document frequency, then code-point order). */
  readonly vocabulary: readonly string[];
  /** IDF per token (all 1 unless `weighting` is `'tfidf'`). */
  readonly idf: readonly number[];
  /** Documents the vectorizer was fitted on. */
  readonly documents: number;
}

const vectorizerSchema = z.object({
  format: z.literal('antidote-text-vectorizer'),
  version: z.literal(1),
  weighting: z.enum(['tfidf', 'mean', 'binary']),
  sublinearTf: z.boolean(),
  tokenizer: z.object({
    minLength: z.number().int().min(1),
    maxLength: z.number().int().min(1),
    numbers: z.boolean(),
    stripHtml: z.boolean(),
  }),
  vocabulary: z.array(z.string().min(1)).min(1),
  idf: z.array(z.number().positive()),
  documents: z.number().int().nonnegative(),
});

function checkOptions(o: TextVectorizerOptions) {
  const weighting = o.weighting ?? 'tfidf';
  const maxVocabulary = o.maxVocabulary ?? 20000;
  const minDocFreq = o.minDocFreq ?? 2;
  const maxDocShare = o.maxDocShare ?? 1;
  const bad = (msg: string, field: string) => {
    throw new AntidoteError('INVALID_ARGUMENT', msg, { field });
  };
  if (!TEXT_WEIGHTINGS.includes(weighting)) {
    bad(`weighting must be one of ${TEXT_WEIGHTINGS.join(', ')}, got ${weighting}`, 'weighting');
  }
  if (!Number.isInteger(maxVocabulary) || maxVocabulary < 1) {
    bad(`maxVocabulary must be a positive integer, got ${maxVocabulary}`, 'maxVocabulary');
  }
  if (!Number.isInteger(minDocFreq) || minDocFreq < 1) {
    bad(`minDocFreq must be a positive integer, got ${minDocFreq}`, 'minDocFreq');
  }
  if (!(maxDocShare > 0 && maxDocShare <= 1)) {
    bad(`maxDocShare must be in (0, 1], got ${maxDocShare}`, 'maxDocShare');
  }
  return { weighting, maxVocabulary, minDocFreq, maxDocShare, sublinearTf: o.sublinearTf ?? true };
}

function textsOf(ds: Pick<Dataset, 'text' | 'shape'>, where: string): readonly string[] {
  if (!ds.text) {
    throw new AntidoteError('INVALID_ARGUMENT', `${where}: the dataset has no text records`);
  }
  return ds.text;
}

/**
 * Fits a vectorizer on `texts` (the training set only: fitting on test text leaks it). Tokens
 * are ranked by document frequency (ties in code-point order, so the result is deterministic),
 * filtered by `minDocFreq` / `maxDocShare` and cut to `maxVocabulary`.
 *
 * Errors: `INVALID_ARGUMENT` for bad options or when no token survives the limits.
 */
export function fitTextVectorizer(
  texts: readonly string[],
  options: TextVectorizerOptions = {},
): TextVectorizer {
  const o = checkOptions(options);
  const tokenizer = resolveTokenizerOptions(options.tokenizer);
  const df = new Map<string, number>();
  for (const text of texts) {
    for (const t of new Set(tokenize(text, tokenizer))) df.set(t, (df.get(t) ?? 0) + 1);
  }
  const n = texts.length;
  const maxDf = Math.floor(o.maxDocShare * n);
  const kept = [...df.entries()].filter(([, c]) => c >= o.minDocFreq && c <= maxDf);
  kept.sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const top = kept.slice(0, o.maxVocabulary);
  if (top.length === 0) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `no token occurs in at least ${o.minDocFreq} of the ${n} documents (and at most ${maxDf}): the vocabulary would be empty`,
      { field: 'minDocFreq' },
    );
  }
  return {
    format: 'antidote-text-vectorizer',
    version: 1,
    weighting: o.weighting,
    sublinearTf: o.sublinearTf,
    tokenizer,
    vocabulary: top.map(([t]) => t),
    idf: top.map(([, c]) => (o.weighting === 'tfidf' ? Math.log((1 + n) / (1 + c)) + 1 : 1)),
    documents: n,
  };
}

/** Fits a vectorizer on the text of a training dataset (see {@link fitTextVectorizer}). */
export function fitTextVectorizerOn(
  ds: Pick<Dataset, 'text' | 'shape'>,
  options: TextVectorizerOptions = {},
): TextVectorizer {
  return fitTextVectorizer(textsOf(ds, 'fitTextVectorizerOn'), options);
}

/** Number of features a vectorizer produces. */
export function vectorizerDim(v: TextVectorizer): number {
  return v.vocabulary.length;
}

const indexCache = new WeakMap<TextVectorizer, Map<string, number>>();

function indexOf(v: TextVectorizer): Map<string, number> {
  let m = indexCache.get(v);
  if (!m) {
    m = new Map(v.vocabulary.map((t, i) => [t, i]));
    indexCache.set(v, m);
  }
  return m;
}

/** Feature vectors of `texts`, `[texts.length, V]` row-major; unknown tokens are ignored. */
export function vectorizeTexts(v: TextVectorizer, texts: readonly string[]): Float32Array {
  const dim = v.vocabulary.length;
  const out = new Float32Array(texts.length * dim);
  const index = indexOf(v);
  const counts = new Map<number, number>();
  for (let i = 0; i < texts.length; i++) {
    counts.clear();
    let total = 0;
    for (const t of tokenize(texts[i]!, v.tokenizer)) {
      const j = index.get(t);
      if (j === undefined) continue;
      counts.set(j, (counts.get(j) ?? 0) + 1);
      total++;
    }
    const row = i * dim;
    if (v.weighting === 'tfidf') {
      let norm = 0;
      for (const [j, c] of counts) {
        const w = (v.sublinearTf ? 1 + Math.log(c) : c) * v.idf[j]!;
        out[row + j] = w;
        norm += w * w;
      }
      if (norm > 0) {
        const s = 1 / Math.sqrt(norm);
        for (const j of counts.keys()) out[row + j]! *= s;
      }
    } else if (v.weighting === 'mean') {
      for (const [j, c] of counts) out[row + j] = c / total;
    } else {
      for (const j of counts.keys()) out[row + j] = 1;
    }
  }
  return out;
}

/**
 * The text dataset `ds` with its features replaced by `v`'s vectors (`shape = [N, V]`); labels,
 * ids, sources and text are kept, so attacks and reports still see the raw text.
 */
export function vectorizeTextDataset(ds: Dataset, v: TextVectorizer): Dataset {
  const texts = textsOf(ds, 'vectorizeTextDataset');
  return {
    x: vectorizeTexts(v, texts),
    shape: [numRecords(ds), v.vocabulary.length],
    y: ds.y,
    classes: ds.classes,
    ids: ds.ids,
    ...(ds.source ? { source: ds.source } : {}),
    text: texts,
  };
}

/**
 * Parses a vectorizer saved as JSON (e.g. next to a model). `INVALID_FORMAT` naming `where` and
 * the field when it is not one; `SHAPE_MISMATCH` when vocabulary and IDF lengths differ.
 */
export function textVectorizerFromJSON(json: unknown, where = 'vectorizer'): TextVectorizer {
  const v = parseWith(vectorizerSchema, json, where, {
    head: `${where}: not a text vectorizer`,
    root: 'value',
  });
  if (v.idf.length !== v.vocabulary.length) {
    throw new AntidoteError(
      'SHAPE_MISMATCH',
      `${where}: ${v.vocabulary.length} tokens but ${v.idf.length} IDF weights`,
      { path: where },
    );
  }
  if (new Set(v.vocabulary).size !== v.vocabulary.length) {
    throw new AntidoteError('INVALID_FORMAT', `${where}: the vocabulary repeats a token`, {
      path: where,
    });
  }
  return v;
}
