/**
 * Keyword-based trigger discovery for text, in the spirit of BKI (Chen & Dai 2021, "Mitigating
 * Backdoor Attacks in LSTM-based Text Classification Systems by Backdoor Keyword
 * Identification", Neurocomputing 452): a backdoor keyword is a token whose removal changes the
 * model's belief in a record's label far more than ordinary words do, and does so across many
 * records.
 *
 * For every training record and each of its distinct tokens (at most `maxTokensPerRecord`, the
 * first ones in the text), the impact is the drop in the model's probability of the record's
 * label (or, given logits, of the label's logit margin) when every occurrence of the token is
 * removed. Per token over the records containing it:
 * `score = mean impact × log10(1 + count)` (BKI weighs impact by frequency the same way, so a
 * token that matters in one record only does not win). Tokens whose score is a robust outlier
 * (more than `zThreshold` robust standard deviations, 1.4826·MAD, above the median token score,
 * among tokens seen at least `minCount` times) and scoring at least `relativeToTop` of the top
 * token's score are the suspected keywords, at most `maxKeywords`;
 * a record is flagged when it contains one anywhere in its text and carries the label the keyword
 * pushes towards.
 *
 * Works with any model through a probability function over texts (e.g. a text classifier's
 * `predictProbaTexts`), so it needs no access to the model's internals.
 */

import { z } from 'zod';
import type { Dataset } from '../data/dataset.js';
import { type TokenizerOptions, tokenize } from '../data/tokenizer.js';
import { AntidoteError } from '../errors.js';
import { mad, median } from '../numeric/order-statistics.js';
import { roundStrength } from './calibration.js';
import { type DetectionReport, fmt, STRONG_EVIDENCE } from './detector.js';
import { defineDetector } from './detector-entry.js';
import { triggerClassFindings } from './trigger-class-findings.js';

/**
 * A class's strength (see `ClassFinding.strength`): the evidence of the tokens pushing records
 * to it, on the detector's own two tests: each token's robust z, capped by how close its score
 * comes to `relativeToTop` of the top token's (z · score / (relativeToTop · top), so a token
 * failing that test stays below `zThreshold`), rescaled so that `zThreshold` maps to
 * `STRONG_EVIDENCE` (token impacts are heavy-tailed: most tokens change nothing, their MAD is
 * tiny and an ordinary sentiment word reaches a huge z). Strong exactly when the class has a
 * keyword.
 */
function keywordStrength(
  ranking: readonly KeywordScore[],
  c: number,
  o: { zThreshold: number; relativeToTop: number },
): number {
  const top = ranking.length ? ranking[0]!.score : 0;
  let best = 0;
  for (const kw of ranking) {
    if (kw.label !== c) continue;
    const rel = o.relativeToTop > 0 && top > 0 ? kw.score / (o.relativeToTop * top) : 1;
    const capped = rel >= 1 ? kw.z : Math.min(kw.z, o.zThreshold * Math.max(rel, 0));
    if (capped > best) best = capped;
  }
  return roundStrength((best * STRONG_EVIDENCE) / o.zThreshold);
}

/** Class probabilities of texts, `[texts.length, K]` row-major. */
export type TextProbabilityFn = (texts: readonly string[]) => Promise<Float32Array>;

/** Options of {@link discoverKeywords}. */
export interface KeywordDiscoveryOptions {
  /** Tokens examined per record; default 64. */
  readonly maxTokensPerRecord?: number;
  /** Tokens seen in fewer records are not scored; default 5. */
  readonly minCount?: number;
  /** Robust z above which a token is suspicious; default 6. */
  readonly zThreshold?: number;
  /**
   * A suspicious keyword must also score at least this share of the top token's score; default
   * 0.5. Strong sentiment words are outliers too (z ≫ 1), but a trigger dwarfs them.
   */
  readonly relativeToTop?: number;
  /** At most this many keywords are reported as suspicious; default 3. */
  readonly maxKeywords?: number;
  /** Texts per probability call; default 2048. */
  readonly batchSize?: number;
  /**
   * What the model function returns: `probabilities` (default; any black-box model) or `logits`.
   * With logits the impact of a token is the drop of the label's logit margin (its logit minus
   * the largest other one), which does not saturate: when a trigger is several words, removing one
   * leaves a probability of ~1 (no visible impact) but still takes its weight off the margin.
   */
  readonly output?: 'probabilities' | 'logits';
  /** Must match the model's tokenizer. */
  readonly tokenizer?: TokenizerOptions;
  /** Progress (records done). */
  readonly onProgress?: (p: { stage: string; done: number; total: number }) => void;
}

/** One scored token. */
export interface KeywordScore {
  readonly token: string;
  /** BKI-style score (mean impact × log10(1 + count)). */
  readonly score: number;
  /** Records containing the token (among those examined). */
  readonly count: number;
  readonly meanImpact: number;
  /** Robust z of the score among all scored tokens. */
  readonly z: number;
  /** The label most of its records carry (the class it pushes towards). */
  readonly label: number;
}

/** Result of {@link discoverKeywords}: a detection report plus the ranked tokens. */
export interface KeywordDiscoveryReport extends DetectionReport {
  /** Scored tokens, highest score first (the first 50). */
  readonly ranking: readonly KeywordScore[];
  /** The suspected trigger keywords. */
  readonly keywords: readonly KeywordScore[];
}

/**
 * Runs keyword discovery over the text records of `ds` (see the module comment). Record score:
 * the highest z of a suspected keyword it contains (0 when none). `INVALID_ARGUMENT` for a
 * dataset without text or bad options.
 */
export async function discoverKeywords(
  ds: Pick<Dataset, 'text' | 'y' | 'classes'>,
  predictProba: TextProbabilityFn,
  options: KeywordDiscoveryOptions = {},
): Promise<KeywordDiscoveryReport> {
  if (!ds.text) throw new AntidoteError('INVALID_ARGUMENT', 'keyword discovery needs text records');
  const maxTokens = options.maxTokensPerRecord ?? 64;
  const minCount = options.minCount ?? 5;
  const zThreshold = options.zThreshold ?? 6;
  const maxKeywords = options.maxKeywords ?? 3;
  const relativeToTop = options.relativeToTop ?? 0.5;
  if (!(relativeToTop >= 0 && relativeToTop <= 1)) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `relativeToTop must be in [0, 1], got ${relativeToTop}`,
    );
  }
  const batch = options.batchSize ?? 2048;
  const output = options.output ?? 'probabilities';
  if (output !== 'probabilities' && output !== 'logits') {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `output must be probabilities or logits, got ${String(output)}`,
    );
  }
  for (const [v, name] of [
    [maxTokens, 'maxTokensPerRecord'],
    [minCount, 'minCount'],
    [maxKeywords, 'maxKeywords'],
    [batch, 'batchSize'],
  ] as const) {
    if (!Number.isInteger(v) || v < 1) {
      throw new AntidoteError('INVALID_ARGUMENT', `${name} must be a positive integer, got ${v}`);
    }
  }
  if (!(zThreshold > 0)) {
    throw new AntidoteError('INVALID_ARGUMENT', `zThreshold must be > 0, got ${zThreshold}`);
  }
  const n = ds.y.length;
  const k = ds.classes.length;
  const tokensOf = ds.text.map((t) => tokenize(t, options.tokenizer));
  const distinct = tokensOf.map((ts) => [...new Set(ts)].slice(0, maxTokens));
  // Base probabilities, then one variant per (record, token) without that token.
  const base = await predictInChunks(
    tokensOf.map((ts) => ts.join(' ')),
    predictProba,
    batch,
    k,
  );
  const variants: string[] = [];
  const owner: number[] = [];
  const tokenOf: string[] = [];
  for (let i = 0; i < n; i++) {
    for (const t of distinct[i]!) {
      variants.push(tokensOf[i]!.filter((x) => x !== t).join(' '));
      owner.push(i);
      tokenOf.push(t);
    }
  }
  const probs = await predictInChunks(variants, predictProba, batch, k, (done) =>
    options.onProgress?.({ stage: 'token removal', done, total: variants.length }),
  );
  const stats = new Map<string, { sum: number; count: number; labels: number[] }>();
  for (let v = 0; v < variants.length; v++) {
    const i = owner[v]!;
    const label = ds.y[i]!;
    const impact =
      output === 'logits'
        ? margin(base, i * k, k, label) - margin(probs, v * k, k, label)
        : base[i * k + label]! - probs[v * k + label]!;
    let s = stats.get(tokenOf[v]!);
    if (!s) {
      s = { sum: 0, count: 0, labels: new Array<number>(k).fill(0) };
      stats.set(tokenOf[v]!, s);
    }
    s.sum += impact;
    s.count++;
    s.labels[label]!++;
  }
  const scored: Omit<KeywordScore, 'z'>[] = [];
  for (const [token, s] of stats) {
    if (s.count < minCount) continue;
    const meanImpact = s.sum / s.count;
    scored.push({
      token,
      score: meanImpact * Math.log10(1 + s.count),
      count: s.count,
      meanImpact,
      label: s.labels.indexOf(Math.max(...s.labels)),
    });
  }
  const values = Float64Array.from(scored, (s) => s.score);
  const med = values.length ? median(values) : 0;
  const spread = values.length ? 1.4826 * mad(values) : 0;
  const ranking: KeywordScore[] = scored
    .map((s) => ({
      ...s,
      // With MAD 0 (most tokens change nothing), anything above the median is an outlier.
      z: spread > 0 ? (s.score - med) / spread : s.score > med ? Number.POSITIVE_INFINITY : 0,
    }))
    .sort((a, b) => b.score - a.score || (a.token < b.token ? -1 : 1));
  const top = ranking.length ? ranking[0]!.score : 0;
  const keywords = ranking
    .filter((s) => s.z > zThreshold && s.score >= relativeToTop * top)
    .slice(0, maxKeywords);
  const scores = new Float32Array(n);
  const flagged = new Uint8Array(n);
  const byToken = new Map(keywords.map((kw) => [kw.token, kw]));
  for (let i = 0; i < n && byToken.size > 0; i++) {
    // Anywhere in the text, not only among the examined tokens: a long review's trigger may sit
    // past the first `maxTokensPerRecord` distinct tokens.
    for (const t of new Set(tokensOf[i])) {
      const kw = byToken.get(t);
      if (!kw) continue;
      scores[i] = Math.max(scores[i]!, kw.z);
      if (ds.y[i] === kw.label) flagged[i] = 1;
    }
  }
  const perClass = triggerClassFindings(ds, flagged, keywords, {
    strength: (c) => keywordStrength(ranking, c, { zThreshold, relativeToTop }),
    found: (own) =>
      `keyword${own.length > 1 ? 's' : ''} ${own.map((kw) => `"${kw.token}" (z ${fmt(kw.z)}, in ${kw.count} records)`).join(', ')} push${own.length > 1 ? '' : 'es'} records to this label far beyond ordinary words (z > ${zThreshold})`,
    none: `no token pushes records to this label beyond z ${zThreshold}`,
    stats: (own) => ({ keywords: own.map((kw) => kw.token).join(','), threshold: zThreshold }),
  });
  return {
    method: 'keyword-discovery',
    scores,
    flagged,
    perClass,
    params: {
      maxTokensPerRecord: maxTokens,
      minCount,
      zThreshold,
      relativeToTop,
      maxKeywords,
      output,
    },
    ranking: ranking.slice(0, 50),
    keywords,
  };
}

/** The label's logit minus the largest other logit, in row `z[at .. at + k)`. */
function margin(z: Float32Array, at: number, k: number, label: number): number {
  let other = Number.NEGATIVE_INFINITY;
  for (let j = 0; j < k; j++) if (j !== label && z[at + j]! > other) other = z[at + j]!;
  return z[at + label]! - other;
}

async function predictInChunks(
  texts: readonly string[],
  fn: TextProbabilityFn,
  batch: number,
  k: number,
  progress?: (done: number) => void,
): Promise<Float32Array> {
  const out = new Float32Array(texts.length * k);
  for (let s = 0; s < texts.length; s += batch) {
    const part = texts.slice(s, s + batch);
    const p = await fn(part);
    if (p.length !== part.length * k) {
      throw new AntidoteError(
        'ENGINE_ERROR',
        `the model returned ${p.length} probabilities for ${part.length} texts of ${k} classes`,
      );
    }
    out.set(p, s * k);
    progress?.(s + part.length);
  }
  return out;
}

/**
 * Keyword discovery in the detector registry: `antidote scan --method kw` (text models only; the
 * context must carry the raw texts and the text model, `INVALID_ARGUMENT` otherwise).
 */
export const keywordDiscoveryEntry = defineDetector({
  name: 'kw',
  title: 'Backdoor keyword identification',
  paper:
    'Chen & Dai 2021, "Mitigating Backdoor Attacks in LSTM-based Text Classification Systems by Backdoor Keyword Identification", Neurocomputing 452',
  finds: 'keywords',
  domains: ['text'],
  options: z.object({
    kwOutput: z.enum(['probabilities', 'logits']).default('probabilities').meta({
      placeholder: '<kind>',
      description:
        'kw: score token removal on probabilities, or on logit margins (no saturation: finds triggers of several words)',
    }),
  }),
  run: (_ds, _model, options, context) => {
    const text = context.text;
    if (!text) {
      throw new AntidoteError(
        'INVALID_ARGUMENT',
        'keyword discovery (kw) needs a text model and text records',
        { field: 'method' },
      );
    }
    const output = options.kwOutput;
    return discoverKeywords(text.dataset, (texts) => text.predict(texts, output), {
      ...(text.tokenizer ? { tokenizer: text.tokenizer } : {}),
      output,
      ...(context.onProgress ? { onProgress: context.onProgress } : {}),
    });
  },
});
