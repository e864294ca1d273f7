/**
 * A small, documented word tokenizer for English-like text (reviews, e-mails), dependency-free and
 * deterministic across platforms:
 *
 * 1. Unicode NFKC normalisation, then lower case (`toLowerCase`, locale-independent);
 * 2. HTML line breaks (`<br />`, as in the IMDB reviews) and other tags become spaces, and
 *    `&amp;`-style entities of the five XML kinds are decoded;
 * 3. tokens are maximal runs of letters, digits and marks (`\p{L}\p{N}\p{M}`), with inner
 *    apostrophes kept (`don't`, `l'amour`); everything else separates tokens;
 * 4. tokens shorter than `minLength` or longer than `maxLength` are dropped (long runs are mostly
 *    base64 or URLs in e-mail);
 * 5. optionally, numbers become the token `<num>`.
 *
 * The same rules run at training and at test time, so a trigger word inserted into a text is the
 * same token wherever it lands (surrounded by spaces or punctuation).
 */

/** Options of {@link tokenize}. */
export interface TokenizerOptions {
  /** Shortest token kept; default 1. */
  readonly minLength?: number;
  /** Longest token kept; default 40. */
  readonly maxLength?: number;
  /** Replace tokens made only of digits by `<num>`; default false. */
  readonly numbers?: boolean;
  /** Strip HTML tags and decode the basic entities; default true. */
  readonly stripHtml?: boolean;
}

const TAG = /<[^<>]{0,200}>/g;
const ENTITIES: Readonly<Record<string, string>> = {
  '&amp;': '&',
  '&lt;': '<',
  '&gt;': '>',
  '&quot;': '"',
  '&#39;': "'",
  '&apos;': "'",
};
const ENTITY = /&(?:amp|lt|gt|quot|apos|#39);/g;
const TOKEN = /[\p{L}\p{N}\p{M}]+(?:['’][\p{L}\p{N}\p{M}]+)*/gu;
const DIGITS = /^\p{N}+$/u;

/** The effective tokenizer options (defaults filled in), for records and model metadata. */
export function resolveTokenizerOptions(o: TokenizerOptions = {}): Required<TokenizerOptions> {
  return {
    minLength: o.minLength ?? 1,
    maxLength: o.maxLength ?? 40,
    numbers: o.numbers ?? false,
    stripHtml: o.stripHtml ?? true,
  };
}

/** Splits `text` into lower-case word tokens (see the module comment for the rules). */
export function tokenize(text: string, options: TokenizerOptions = {}): string[] {
  const o = resolveTokenizerOptions(options);
  let s = text.normalize('NFKC').toLowerCase();
  if (o.stripHtml) s = s.replace(TAG, ' ').replace(ENTITY, (e) => ENTITIES[e] ?? e);
  const out: string[] = [];
  for (const m of s.matchAll(TOKEN)) {
    let t = m[0].replace(/’/g, "'");
    if (t.length < o.minLength || t.length > o.maxLength) continue;
    if (o.numbers && DIGITS.test(t)) t = '<num>';
    out.push(t);
  }
  return out;
}

/**
 * Splits `text` into whitespace-separated words, keeping punctuation attached: the unit text
 * triggers are inserted between (a word inserted between two words stays a separate token).
 */
export function splitWords(text: string): string[] {
  return text.split(/\s+/).filter((w) => w.length > 0);
}
