/**
 * STRIP for text, after Gao et al. 2021, "Design and Evaluation of a Multi-Domain Trojan
 * Detection Method on Deep Neural Networks" (STRIP-ViTA, arXiv:1911.10312), which carries STRIP
 * (Gao, Xu, Wang, Chen, Ranasinghe & Nepal 2019, "STRIP: A Defence Against Trojan Attacks on Deep
 * Neural Networks", ACSAC; see `strip.ts`) from images to text and audio. Images are superimposed;
 * a text is perturbed by replacing a share of its words with words drawn from held-out clean
 * texts. Each input gets N perturbed copies and the Shannon entropy of the model's prediction is
 * averaged over them. Replacing words wipes out much of a clean text's class evidence, so its
 * predictions spread out (high entropy); a triggered text keeps steering the model to the target
 * class whenever the trigger survives (low entropy). The rejection threshold is the entropy
 * quantile of clean texts at a chosen false rejection rate (the image STRIP's
 * {@link stripThreshold}).
 *
 * Perturbation here: the text is split into the tokens of `tokenize` (the words a text model
 * sees); in each copy exactly `round(replaceShare · L)` of its `L` tokens, at positions drawn
 * uniformly without replacement, are replaced by tokens drawn from the held-out pool with
 * probability proportional to their frequency there (a uniform draw over the pool's token
 * occurrences); the copy is the tokens joined by spaces. A one-word trigger therefore survives a
 * copy with probability `1 − round(replaceShare · L) / L`, whatever the text's length.
 *
 * Limits: the entropy test needs a trigger that dominates whatever surrounds it. A bag-of-words
 * model (TF-IDF logistic, embedding-bag) learns a rare-word trigger as one very strong word, and
 * strongly worded clean texts keep their prediction under replacement about as well as triggered
 * ones; on the UCI sentiment sentences (rare word "cf" at 10%) the separation is real but weak
 * (ROC AUC about 0.75, FAR far above the paper's at a 1–5% FRR; see `bench/text.mjs`). An
 * overconfident model (near-one-hot outputs) also squeezes every entropy towards 0.
 *
 * Names as in ../shared/DESIGN.md §3: **FRR** = share of clean inputs rejected, **FAR** = share of
 * triggered inputs accepted. Works with any model through a text probability function (e.g. a text
 * classifier's `predictProbaTexts`); every random choice comes from an explicit seed.
 */

import { type TokenizerOptions, tokenize } from '../data/tokenizer.js';
import { AntidoteError } from '../errors.js';
import { Rng } from '../util/rng.js';
import type { ClassFinding, DetectionReport } from './detector.js';
import { fmt } from './detector.js';
import type { TextProbabilityFn } from './keyword-discovery.js';
import { entropyBits, stripThreshold } from './strip.js';

/**
 * The held-out clean word pool of text STRIP (STRIP-ViTA, Gao et al. 2021): every token
 * occurrence of the held-out texts, so a uniform draw from it samples words by frequency.
 */
export interface TextStripPool {
  /** Token occurrences of the held-out clean texts, in text order. */
  readonly tokens: readonly string[];
  /** Held-out texts the pool was built from. */
  readonly texts: number;
}

/**
 * Builds a {@link TextStripPool} from held-out clean texts (STRIP-ViTA, Gao et al. 2021), with
 * the same tokenizer options as the perturbation (see {@link TextStripOptions.tokenizer}).
 * `INVALID_ARGUMENT` when the texts hold no token.
 */
export function textStripPool(
  heldOut: readonly string[],
  tokenizer: TokenizerOptions = {},
): TextStripPool {
  if (!Array.isArray(heldOut)) {
    throw new AntidoteError('INVALID_ARGUMENT', 'text STRIP: held-out texts must be an array', {
      field: 'heldOut',
    });
  }
  const tokens: string[] = [];
  for (const t of heldOut) {
    if (typeof t !== 'string') {
      throw new AntidoteError('INVALID_ARGUMENT', 'text STRIP: held-out texts must be strings', {
        field: 'heldOut',
      });
    }
    for (const w of tokenize(t, wordTokenizer(tokenizer))) tokens.push(w);
  }
  if (tokens.length === 0) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      'text STRIP needs held-out clean texts with at least one word',
      { field: 'heldOut' },
    );
  }
  return { tokens, texts: heldOut.length };
}

/** Options of {@link textStripEntropy} (STRIP-ViTA, Gao et al. 2021). */
export interface TextStripOptions {
  /** Perturbed copies of each input (N); default 20. */
  readonly perturbations?: number;
  /**
   * Share of an input's words replaced in each copy, in (0, 1]; default 0.5 (exactly
   * `round(share · L)` of `L` words).
   */
  readonly replaceShare?: number;
  /** Seed of the word choices. */
  readonly seed: number;
  /**
   * Perturbed texts per probability call; default 2048. A call holds whole inputs' copies, so
   * with more `perturbations` than this it holds one input's (`perturbations` texts).
   */
  readonly batchSize?: number;
  /**
   * How words are found: should match the model's tokenizer (`numbers` is ignored here: digits
   * stay words and the model's own tokenizer maps them).
   */
  readonly tokenizer?: TokenizerOptions;
}

/** The effective options of a text STRIP run (STRIP-ViTA, Gao et al. 2021), defaults filled in. */
export type ResolvedTextStripOptions = Required<Omit<TextStripOptions, 'tokenizer'>> & {
  readonly tokenizer: TokenizerOptions;
};

/** Perturbed copies are re-tokenized by the model: keep digits as words (no `<num>` tag). */
function wordTokenizer(o: TokenizerOptions): TokenizerOptions {
  return { ...o, numbers: false };
}

function resolve(options: TextStripOptions): ResolvedTextStripOptions {
  if (typeof options !== 'object' || options === null) {
    throw new AntidoteError('INVALID_ARGUMENT', 'text STRIP options must be an object');
  }
  const perturbations = options.perturbations ?? 20;
  const replaceShare = options.replaceShare ?? 0.5;
  const batchSize = options.batchSize ?? 2048;
  if (!Number.isInteger(perturbations) || perturbations < 1 || perturbations > 10_000) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `text STRIP perturbations must be an integer in [1, 10000], got ${perturbations}`,
      { field: 'perturbations' },
    );
  }
  if (typeof replaceShare !== 'number' || !(replaceShare > 0 && replaceShare <= 1)) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `text STRIP replace share must be in (0, 1], got ${replaceShare}`,
      { field: 'replaceShare' },
    );
  }
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `text STRIP batch size must be ≥ 1, got ${batchSize}`,
      { field: 'batchSize' },
    );
  }
  if (!Number.isSafeInteger(options.seed)) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `text STRIP seed must be an integer, got ${options.seed}`,
      { field: 'seed' },
    );
  }
  return {
    perturbations,
    replaceShare,
    batchSize,
    seed: options.seed,
    tokenizer: { ...(options.tokenizer ?? {}) },
  };
}

function checkTexts(texts: readonly string[], what: string): void {
  if (!Array.isArray(texts) || texts.some((t) => typeof t !== 'string')) {
    throw new AntidoteError('INVALID_ARGUMENT', `text STRIP: ${what} must be an array of strings`);
  }
}

/**
 * One perturbed copy of `words` (STRIP-ViTA, Gao et al. 2021): `round(share · L)` positions drawn
 * without replacement get a word drawn (by frequency) from `pool`; joined by spaces.
 */
export function perturbWords(
  words: readonly string[],
  pool: TextStripPool,
  replaceShare: number,
  rng: Rng,
): string {
  const out = words.slice();
  const r = Math.round(replaceShare * out.length);
  if (r > 0) {
    for (const at of rng.sample(out.length, r)) out[at] = pool.tokens[rng.int(pool.tokens.length)]!;
  }
  return out.join(' ');
}

/** Probabilities of `texts`, checked against `k` classes (`k = 0`: learnt from this call). */
async function probabilities(
  predictProba: TextProbabilityFn,
  texts: readonly string[],
  k: number,
): Promise<{ p: Float32Array; k: number }> {
  const p = await predictProba(texts);
  const kk = k > 0 ? k : p.length / texts.length;
  if (
    !(p instanceof Float32Array) ||
    !Number.isInteger(kk) ||
    kk < 1 ||
    p.length !== texts.length * kk
  ) {
    throw new AntidoteError(
      'ENGINE_ERROR',
      `text STRIP: the model returned ${(p as { length?: number })?.length} probabilities for ${texts.length} texts${k > 0 ? ` of ${k} classes` : ''}`,
    );
  }
  return { p, k: kk };
}

/** Entropies and the unperturbed predictions of a text STRIP run. */
interface EntropyRun {
  readonly entropy: Float32Array;
  readonly predicted: Int32Array;
  readonly numClasses: number;
}

async function run(
  predictProba: TextProbabilityFn,
  texts: readonly string[],
  pool: TextStripPool,
  o: ResolvedTextStripOptions,
  numClasses: number,
  withPredictions: boolean,
): Promise<EntropyRun> {
  checkTexts(texts, 'inputs');
  if (!pool || !Array.isArray(pool.tokens) || pool.tokens.length === 0) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      'text STRIP needs a held-out pool with at least one word',
      { field: 'heldOut' },
    );
  }
  const n = texts.length;
  const rng = new Rng(o.seed);
  const tok = wordTokenizer(o.tokenizer);
  const entropy = new Float32Array(n);
  const predicted = new Int32Array(n);
  let k = numClasses;
  const perBatch = Math.max(1, Math.floor(o.batchSize / o.perturbations));
  for (let start = 0; start < n; start += perBatch) {
    const m = Math.min(perBatch, n - start);
    const batch: string[] = [];
    for (let i = 0; i < m; i++) {
      const words = tokenize(texts[start + i]!, tok);
      for (let v = 0; v < o.perturbations; v++) {
        batch.push(perturbWords(words, pool, o.replaceShare, rng));
      }
    }
    const r = await probabilities(predictProba, batch, k);
    k = r.k;
    for (let i = 0; i < m; i++) {
      let s = 0;
      for (let v = 0; v < o.perturbations; v++) {
        s += entropyBits(r.p, (i * o.perturbations + v) * k, k);
      }
      entropy[start + i] = s / o.perturbations;
    }
    if (withPredictions) {
      const q = await probabilities(predictProba, texts.slice(start, start + m), k);
      for (let i = 0; i < m; i++) {
        let best = 0;
        for (let c = 1; c < k; c++) if (q.p[i * k + c]! > q.p[i * k + best]!) best = c;
        predicted[start + i] = best;
      }
    }
  }
  return { entropy, predicted, numClasses: k };
}

/**
 * Mean prediction entropy (bits) of each text over `perturbations` copies in which a share of its
 * words is replaced by words of the held-out clean `pool` (STRIP-ViTA, Gao et al. 2021; STRIP,
 * Gao et al. 2019). Returns `[texts.length]`; low values mean the prediction survives the
 * perturbation (a trigger's signature). The draws depend on the seed only, not on the batch size.
 */
export async function textStripEntropy(
  predictProba: TextProbabilityFn,
  texts: readonly string[],
  pool: TextStripPool,
  options: TextStripOptions,
): Promise<Float32Array> {
  return (await run(predictProba, texts, pool, resolve(options), 0, false)).entropy;
}

/**
 * A fitted text STRIP detector (STRIP-ViTA, Gao et al. 2021): plain data (JSON-serialisable
 * apart from the typed array and the pool it keeps).
 */
export interface TextStripFit {
  /** Entropy threshold in bits: inputs strictly below it are rejected. */
  readonly threshold: number;
  /** The FRR the threshold was chosen for. */
  readonly frr: number;
  /** Clean entropies the threshold was fitted on (measured, not the pool's). */
  readonly cleanEntropy: Float32Array;
  /** The held-out clean word pool replacements are drawn from. */
  readonly pool: TextStripPool;
  /** Classes of the model's probability rows. */
  readonly numClasses: number;
  /** Options used for every entropy computation of this detector. */
  readonly options: ResolvedTextStripOptions;
}

/**
 * Fits text STRIP (STRIP-ViTA, Gao et al. 2021): the entropy of each `clean` text (not among
 * `heldOut`) is measured against the word pool of the `heldOut` texts, and the threshold set at
 * false rejection rate `frr` (default 0.01) with the image STRIP's quantile rule
 * ({@link stripThreshold}).
 */
export async function fitTextStrip(
  predictProba: TextProbabilityFn,
  clean: readonly string[],
  heldOut: readonly string[],
  options: TextStripOptions & { readonly frr?: number },
): Promise<TextStripFit> {
  const o = resolve(options);
  const frr = options.frr ?? 0.01;
  checkTexts(clean, 'clean texts');
  // Checked before any model call (the threshold would reject it only afterwards).
  stripThreshold([0], frr);
  if (clean.length === 0) {
    throw new AntidoteError('INVALID_ARGUMENT', 'text STRIP needs clean texts to set a threshold', {
      field: 'clean',
    });
  }
  const pool = textStripPool(heldOut, o.tokenizer);
  const r = await run(
    predictProba,
    clean,
    pool,
    { ...o, seed: new Rng(o.seed).fork('strip-fit').nextUint32() },
    0,
    false,
  );
  return {
    threshold: stripThreshold(r.entropy, frr),
    frr,
    cleanEntropy: r.entropy,
    pool,
    numClasses: r.numClasses,
    options: o,
  };
}

/** Per-input text STRIP decision (STRIP-ViTA, Gao et al. 2021). */
export interface TextStripDecision {
  /** Mean entropy (bits) per input over its perturbed copies. */
  readonly entropy: Float32Array;
  /** 1 = rejected as likely triggered (entropy below the threshold). */
  readonly rejected: Uint8Array;
  /** The threshold (bits) the entropies were compared with. */
  readonly threshold: number;
  /** The model's class for each unperturbed input (a rejected input's suspected target). */
  readonly predicted: Int32Array;
}

/**
 * Runs a fitted text STRIP detector (STRIP-ViTA, Gao et al. 2021) on `texts`. `seed` (default:
 * the fit's seed forked for detection) draws the replacements.
 */
export async function textStripDetect(
  predictProba: TextProbabilityFn,
  texts: readonly string[],
  fit: TextStripFit,
  seed?: number,
): Promise<TextStripDecision> {
  const o = resolve({
    ...fit.options,
    seed: seed ?? new Rng(fit.options.seed).fork('strip-detect').nextUint32(),
  });
  const r = await run(predictProba, texts, fit.pool, o, fit.numClasses, true);
  return {
    entropy: r.entropy,
    rejected: Uint8Array.from(r.entropy, (h) => (h < fit.threshold ? 1 : 0)),
    threshold: fit.threshold,
    predicted: r.predicted,
  };
}

/**
 * A text STRIP decision (STRIP-ViTA, Gao et al. 2021) as a {@link DetectionReport} over the
 * scanned inputs, so it can be scored with `evaluateDetection` against a mask of triggered
 * inputs. Score: `threshold − entropy` (positive exactly when rejected). Per-class findings group
 * the inputs by the model's class for them: a class is suspicious when more of its inputs are
 * rejected than the calibrated FRR explains: more than `frr·n + 3σ`, with
 * `σ² = frr·(1−frr)·(n + n²/m)` for `n` inputs of the class and `m` calibration texts (the
 * binomial spread of its false rejections plus that of the fitted threshold).
 *
 * Errors: `SHAPE_MISMATCH` when the decision's arrays or the class names do not match;
 * `INVALID_ARGUMENT` for a decision made with another fit (another threshold) or a predicted
 * class out of range.
 */
export function textStripReport(
  decision: TextStripDecision,
  fit: TextStripFit,
  classes: readonly string[],
): DetectionReport {
  const n = decision.entropy.length;
  if (decision.rejected.length !== n || decision.predicted.length !== n) {
    throw new AntidoteError(
      'SHAPE_MISMATCH',
      `text STRIP decision has ${n} entropies, ${decision.rejected.length} flags and ${decision.predicted.length} predictions`,
    );
  }
  if (classes.length !== fit.numClasses) {
    throw new AntidoteError(
      'SHAPE_MISMATCH',
      `text STRIP was fitted on ${fit.numClasses} classes but ${classes.length} class names were given`,
    );
  }
  if (decision.threshold !== fit.threshold) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `text STRIP decision used threshold ${decision.threshold} but the fit's is ${fit.threshold}: report a decision with the fit that made it`,
      { field: 'fit' },
    );
  }
  const bad = decision.predicted.findIndex((c) => !(c >= 0 && c < classes.length));
  if (bad >= 0) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `text STRIP decision: input ${bad} is predicted as class ${decision.predicted[bad]}, not one of the ${classes.length} classes`,
      { field: 'predicted' },
    );
  }
  const scores = Float32Array.from(decision.entropy, (h) => decision.threshold - h);
  const count = new Int32Array(classes.length);
  const flaggedIn = new Int32Array(classes.length);
  for (let i = 0; i < n; i++) {
    count[decision.predicted[i]!]!++;
    flaggedIn[decision.predicted[i]!]! += decision.rejected[i]!;
  }
  const calibration = Math.max(1, fit.cleanEntropy.length);
  const perClass: ClassFinding[] = classes.map((className, c) => {
    const expected = fit.frr * count[c]!;
    // Binomial spread of the class's false rejections plus that of the fitted threshold (the
    // FRR-quantile of only `calibration` clean texts).
    const sd = Math.sqrt(
      fit.frr * (1 - fit.frr) * (count[c]! + (count[c]! * count[c]!) / calibration),
    );
    const limit = expected + 3 * sd;
    const suspicious = flaggedIn[c]! > limit;
    return {
      classIndex: c,
      className,
      count: count[c]!,
      flagged: flaggedIn[c]!,
      suspicious,
      reason: suspicious
        ? `${flaggedIn[c]} of ${count[c]} inputs predicted as this class keep their prediction under word replacement (entropy < ${fmt(decision.threshold)} bits), more than the ${fmt(expected)} the calibrated FRR ${fit.frr} explains (limit ${fmt(limit)})`
        : `${flaggedIn[c]} of ${count[c]} inputs predicted as this class rejected, within what the calibrated FRR ${fit.frr} explains (limit ${fmt(limit)})`,
      stats: { threshold: decision.threshold, expectedFalseRejections: expected, limit },
    };
  });
  return {
    method: 'text-strip',
    scores,
    flagged: Uint8Array.from(decision.rejected),
    perClass,
    params: {
      perturbations: fit.options.perturbations,
      replaceShare: fit.options.replaceShare,
      frr: fit.frr,
      threshold: fit.threshold,
      seed: fit.options.seed,
      batchSize: fit.options.batchSize,
      poolWords: fit.pool.tokens.length,
    },
  };
}
