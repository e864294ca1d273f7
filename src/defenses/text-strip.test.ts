import { describe, expect, it } from 'vitest';
import { textBackdoorAttack, triggeredTexts } from '../attacks/text-backdoor.js';
import { loadNamedDataset } from '../data/datasets/registry.js';
import { tokenize } from '../data/tokenizer.js';
import { stratifiedSplit } from '../data/transform.js';
import { trainTextClassifier } from '../engine/text-models.js';
import { type AntidoteError, isAntidoteError } from '../errors.js';
import { evaluateDetection } from '../eval/detection.js';
import { Rng } from '../util/rng.js';
import type { TextProbabilityFn } from './keyword-discovery.js';
import { stripRates } from './strip.js';
import {
  fitTextStrip,
  perturbWords,
  textStripDetect,
  textStripEntropy,
  textStripPool,
  textStripReport,
} from './text-strip.js';

const POSITIVE = new Set(['good', 'great', 'lovely', 'excellent', 'fine', 'tasty']);
const NEGATIVE = new Set(['bad', 'awful', 'poor', 'terrible', 'rude', 'bland']);
const NEUTRAL = ['the', 'food', 'was', 'service', 'and', 'place', 'we', 'it', 'a', 'staff'];

/**
 * A hand-written sentiment "model": P(positive) = sigmoid(#positive − #negative words); with
 * `backdoor`, any text holding the token "cf" is positive with probability 0.99.
 */
function sentimentFn(backdoor: boolean, calls?: { n: number }): TextProbabilityFn {
  return async (texts) => {
    if (calls) calls.n++;
    const out = new Float32Array(texts.length * 2);
    texts.forEach((t, i) => {
      const words = tokenize(t);
      let p: number;
      if (backdoor && words.includes('cf')) p = 0.99;
      else {
        let s = 0;
        for (const w of words) s += POSITIVE.has(w) ? 1 : NEGATIVE.has(w) ? -1 : 0;
        p = 1 / (1 + Math.exp(-s));
      }
      out[i * 2] = 1 - p;
      out[i * 2 + 1] = p;
    });
    return out;
  };
}

/** Short reviews: neutral words and one or two sentiment words. */
function reviews(n: number, rng: Rng): string[] {
  const pos = [...POSITIVE];
  const neg = [...NEGATIVE];
  return Array.from({ length: n }, () => {
    const words = rng.choose(NEUTRAL, 4 + rng.int(4));
    const bag = rng.next() < 0.5 ? pos : neg;
    for (let k = 1 + rng.int(2); k > 0; k--) {
      words.splice(rng.int(words.length + 1), 0, bag[rng.int(bag.length)]!);
    }
    return words.join(' ');
  });
}

function withTrigger(texts: readonly string[], rng: Rng): string[] {
  return texts.map((t) => {
    const w = t.split(' ');
    w.splice(rng.int(w.length + 1), 0, 'cf');
    return w.join(' ');
  });
}

async function codeOf(p: Promise<unknown> | (() => unknown)): Promise<string | undefined> {
  try {
    if (typeof p === 'function') p();
    else await p;
  } catch (e) {
    if (!isAntidoteError(e)) throw e;
    return e.code;
  }
  return undefined;
}

describe('text STRIP primitives', () => {
  it('replaces exactly round(share · L) words with pool words, sampled by frequency', () => {
    const pool = textStripPool(['zz zz zz yy', 'zz']);
    expect(pool.tokens).toEqual(['zz', 'zz', 'zz', 'yy', 'zz']);
    const words = 'a b c d e f g h i j'.split(' ');
    const rng = new Rng(1);
    let zz = 0;
    let yy = 0;
    for (let t = 0; t < 400; t++) {
      const out = perturbWords(words, pool, 0.3, rng).split(' ');
      expect(out).toHaveLength(10);
      const changed = out.filter((w, i) => w !== words[i]);
      expect(changed).toHaveLength(3);
      for (const w of changed) {
        if (w === 'zz') zz++;
        else if (w === 'yy') yy++;
      }
    }
    // 4 of the pool's 5 occurrences are "zz".
    expect(zz / (zz + yy)).toBeGreaterThan(0.75);
    expect(zz / (zz + yy)).toBeLessThan(0.85);
    // A one-word trigger survives a copy with probability 1 − round(0.5 · L) / L.
    let kept = 0;
    const trig = ['cf', 'a', 'b', 'c'];
    for (let t = 0; t < 2000; t++)
      kept += perturbWords(trig, pool, 0.5, rng).startsWith('cf ') ? 1 : 0;
    expect(kept / 2000).toBeGreaterThan(0.45);
    expect(kept / 2000).toBeLessThan(0.55);
    expect(perturbWords([], pool, 0.5, rng)).toBe('');
  });

  it('rejects bad inputs with AntidoteError codes, before calling the model', async () => {
    const calls = { n: 0 };
    const f = sentimentFn(true, calls);
    const pool = textStripPool(['the food was good']);
    for (const bad of [
      { seed: 1, perturbations: 0 },
      { seed: 1, perturbations: 2.5 },
      { seed: 1, replaceShare: 0 },
      { seed: 1, replaceShare: 1.5 },
      { seed: 1, batchSize: 0 },
      { seed: 1.5 },
    ]) {
      await expect(textStripEntropy(f, ['good'], pool, bad)).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
      });
    }
    const fields = await Promise.all(
      [
        fitTextStrip(f, ['good'], ['the'], { seed: 1, frr: 0 }),
        fitTextStrip(f, ['good'], ['the'], { seed: 1, frr: 1 }),
        fitTextStrip(f, [], ['the'], { seed: 1 }),
        fitTextStrip(f, ['good'], ['!!! ...'], { seed: 1 }),
        fitTextStrip(f, ['good'], [], { seed: 1 }),
      ].map((p) => p.catch((e: AntidoteError) => `${e.code}:${e.details?.field}`)),
    );
    expect(fields).toEqual([
      'INVALID_ARGUMENT:frr',
      'INVALID_ARGUMENT:frr',
      'INVALID_ARGUMENT:clean',
      'INVALID_ARGUMENT:heldOut',
      'INVALID_ARGUMENT:heldOut',
    ]);
    expect(await codeOf(() => textStripPool('good' as unknown as string[]))).toBe(
      'INVALID_ARGUMENT',
    );
    expect(await codeOf(textStripEntropy(f, [3 as unknown as string], pool, { seed: 1 }))).toBe(
      'INVALID_ARGUMENT',
    );
    expect(calls.n).toBe(0);
    // A model returning the wrong number of probabilities.
    const short: TextProbabilityFn = async (t) => new Float32Array(t.length * 2 - 1);
    expect(await codeOf(textStripEntropy(short, ['good'], pool, { seed: 1 }))).toBe('ENGINE_ERROR');
    const fit = await fitTextStrip(f, ['good', 'bad'], ['the food'], { seed: 1 });
    const three: TextProbabilityFn = async (t) => new Float32Array(t.length * 3).fill(1 / 3);
    expect(await codeOf(textStripDetect(three, ['good'], fit))).toBe('ENGINE_ERROR');
    const d = await textStripDetect(f, ['good'], fit);
    expect(await codeOf(() => textStripReport(d, fit, ['a', 'b', 'c']))).toBe('SHAPE_MISMATCH');
    // A decision of another fit, or with a class the model does not have.
    const other = { ...d, threshold: d.threshold + 1 };
    expect(await codeOf(() => textStripReport(other, fit, ['a', 'b']))).toBe('INVALID_ARGUMENT');
    const outOfRange = { ...d, predicted: Int32Array.from([2]) };
    expect(await codeOf(() => textStripReport(outOfRange, fit, ['a', 'b']))).toBe(
      'INVALID_ARGUMENT',
    );
    expect(textStripReport(d, fit, ['a', 'b']).perClass).toHaveLength(2);
    // No inputs: no model call, empty results.
    calls.n = 0;
    expect(await textStripEntropy(f, [], pool, { seed: 1 })).toEqual(new Float32Array(0));
    expect(calls.n).toBe(0);
  });

  it('is deterministic per seed and independent of the batch size', async () => {
    const f = sentimentFn(false);
    const rng = new Rng(3);
    const texts = reviews(30, rng);
    const pool = textStripPool(reviews(40, rng));
    const a = await textStripEntropy(f, texts, pool, { seed: 7 });
    const b = await textStripEntropy(f, texts, pool, { seed: 7, batchSize: 45 });
    const c = await textStripEntropy(f, texts, pool, { seed: 8 });
    expect(Array.from(b)).toEqual(Array.from(a));
    expect(Array.from(c)).not.toEqual(Array.from(a));
    const fit1 = await fitTextStrip(f, texts, reviews(40, new Rng(4)), { seed: 2 });
    const fit2 = await fitTextStrip(f, texts, reviews(40, new Rng(4)), { seed: 2 });
    expect(fit2.threshold).toBe(fit1.threshold);
    expect(Array.from(fit2.cleanEntropy)).toEqual(Array.from(fit1.cleanEntropy));
    expect(fit1.options).toEqual({
      perturbations: 20,
      replaceShare: 0.5,
      batchSize: 2048,
      seed: 2,
      tokenizer: {},
    });
    const d1 = await textStripDetect(f, texts, fit1);
    const d2 = await textStripDetect(f, texts, fit1);
    const d3 = await textStripDetect(f, texts, fit1, 99);
    expect(Array.from(d2.entropy)).toEqual(Array.from(d1.entropy));
    expect(Array.from(d3.entropy)).not.toEqual(Array.from(d1.entropy));
  });
});

describe('text STRIP on a hand-written backdoored model', () => {
  const rng = new Rng(11);
  const heldOut = reviews(200, rng);
  const calib = reviews(200, rng);
  const clean = reviews(200, rng);
  const triggered = withTrigger(reviews(200, rng), rng);

  it('triggered texts keep their prediction (low entropy) and are rejected; clean ones are not', async () => {
    const f = sentimentFn(true);
    const fit = await fitTextStrip(f, calib, heldOut, { seed: 5, frr: 0.02, perturbations: 40 });
    const c = await textStripDetect(f, clean, fit);
    const t = await textStripDetect(f, triggered, fit);
    const mean = (a: Float32Array) => a.reduce((s, v) => s + v, 0) / a.length;
    expect(mean(t.entropy)).toBeLessThan(mean(c.entropy) - 0.2);
    // Measured: the triggered entropies all lie below the clean ones (0.29–0.63 vs 0.68–0.90
    // bits); FRR 0.095 at the calibrated 0.02 (200 calibration texts, a dense lower tail).
    expect(Math.max(...t.entropy)).toBeLessThan(Math.min(...c.entropy));
    const r = stripRates(c.rejected, t.rejected);
    expect(r.frr).toBeLessThan(0.15);
    expect(r.far).toBe(0);
    expect(c.threshold).toBe(fit.threshold);
    expect(Array.from(t.predicted).every((p) => p === 1)).toBe(true);
    // As a detection report over clean + triggered inputs, scored against the truth.
    const all = await textStripDetect(f, [...clean, ...triggered], fit);
    const report = textStripReport(all, fit, ['negative', 'positive']);
    const poisoned = Uint8Array.from({ length: 400 }, (_, i) => (i >= 200 ? 1 : 0));
    const m = evaluateDetection(report, { poisoned });
    expect(m.auc).toBeGreaterThan(0.99);
    expect(m.recall).toBeGreaterThan(0.95);
    expect(report.method).toBe('text-strip');
    expect(report.perClass[1]!.suspicious).toBe(true);
    // The triggered inputs all land in the target class (11 clean "negative" rejections here).
    expect(report.perClass[1]!.flagged).toBeGreaterThan(10 * report.perClass[0]!.flagged);
    expect(Array.from(report.flagged)).toEqual(Array.from(all.rejected));
    for (let i = 0; i < 400; i++) expect(report.scores[i]! > 0).toBe(all.rejected[i] === 1);
    expect(JSON.parse(JSON.stringify(report.params)).replaceShare).toBe(0.5);
  });

  it('without a backdoor, "cf" texts are not rejected more than clean ones (the test can fail)', async () => {
    const f = sentimentFn(false);
    const fit = await fitTextStrip(f, calib, heldOut, { seed: 5, frr: 0.02, perturbations: 40 });
    const c = await textStripDetect(f, clean, fit);
    const t = await textStripDetect(f, triggered, fit);
    const r = stripRates(c.rejected, t.rejected);
    expect(1 - r.far).toBeLessThan(r.frr + 0.05);
    const both = await textStripDetect(f, [...clean, ...triggered], fit);
    const poisoned = Uint8Array.from({ length: 400 }, (_, i) => (i >= 200 ? 1 : 0));
    const auc = evaluateDetection(textStripReport(both, fit, ['negative', 'positive']), {
      poisoned,
    }).auc;
    expect(auc).toBeGreaterThan(0.35);
    expect(auc).toBeLessThan(0.65);
  });
});

describe('text STRIP on the UCI sentiment sentences (rare word "cf" at 10%, tfidf-logistic)', () => {
  it('rejects triggered test texts more often than clean ones', async () => {
    const ds = (await loadNamedDataset('sentiment')).dataset;
    const { train, test } = stratifiedSplit(ds, 0.2, new Rng(1));
    const cf = { kind: 'words' as const, words: ['cf'] };
    const targeting = { mode: 'all-to-one' as const, target: 1 };
    const poison = textBackdoorAttack.poison(
      train,
      { ...targeting, rate: 0.1, trigger: cf },
      new Rng(2),
    );
    const model = await trainTextClassifier(poison.dataset, {
      kind: 'tfidf-logistic',
      epochs: 10,
      batchSize: 32,
      seed: 1,
    });
    try {
      const f: TextProbabilityFn = (t) => model.predictProbaTexts(t);
      // The defender's clean held-out texts (pool and calibration) and the inputs to screen.
      const defender = stratifiedSplit(test, 0.5, new Rng(3));
      const halves = stratifiedSplit(defender.train, 0.5, new Rng(4));
      const evalSet = defender.test;
      const trig = triggeredTexts(evalSet, cf, targeting, new Rng(5));
      const pred = await model.predictTexts(trig.texts);
      expect(pred.filter((p) => p === 1).length / pred.length).toBeGreaterThan(0.8);
      const fit = await fitTextStrip(f, halves.test.text!, halves.train.text!, {
        seed: 7,
        frr: 0.05,
      });
      const texts = [...evalSet.text!, ...trig.texts];
      const d = await textStripDetect(f, texts, fit);
      const report = textStripReport(d, fit, ds.classes);
      const nClean = evalSet.text!.length;
      const poisoned = Uint8Array.from(texts, (_, i) => (i >= nClean ? 1 : 0));
      const m = evaluateDetection(report, { poisoned });
      const r = stripRates(d.rejected.subarray(0, nClean), d.rejected.subarray(nClean));
      // Measured: FRR 0.12 (calibrated 0.05 on 150 texts), FAR 0.67, ROC AUC 0.75. A bag-of-words
      // model treats "cf" as one very strong positive word, and strongly worded clean reviews
      // survive word replacement as well as triggered ones: STRIP separates, but far from the
      // paper's FAR at low FRR.
      expect(m.auc).toBeGreaterThan(0.7);
      expect(r.frr).toBeLessThan(0.2);
      expect(1 - r.far).toBeGreaterThan(2 * r.frr);
      expect(m.fpr).toBeCloseTo(r.frr, 10);
      expect(m.recall).toBeCloseTo(1 - r.far, 10);
      expect(report.perClass[1]!.suspicious).toBe(true);
    } finally {
      model.dispose();
    }
  });
});
