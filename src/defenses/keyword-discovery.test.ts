import { describe, expect, it } from 'vitest';
import { Rng } from '../util/rng.js';
import { STRONG_EVIDENCE } from './detector.js';
import { discoverKeywords } from './keyword-discovery.js';
import { withinClassRanks } from './scan.js';
import { scanVerdict } from './verdict.js';

/** A fake model: P(positive) rises with "good" a little and with "cf" a lot. */
const model = async (texts: readonly string[]) => {
  const out = new Float32Array(texts.length * 2);
  texts.forEach((t, i) => {
    const w = t.split(' ');
    const logit =
      (w.includes('cf') ? 6 : 0) + (w.includes('good') ? 1 : 0) - (w.includes('bad') ? 1 : 0);
    const p = 1 / (1 + Math.exp(-logit));
    out[i * 2] = 1 - p;
    out[i * 2 + 1] = p;
  });
  return out;
};

describe('discoverKeywords', () => {
  const rng = new Rng(1);
  const vocab = ['the', 'film', 'was', 'plot', 'actor', 'scene', 'long', 'short'];
  const text: string[] = [];
  const y: number[] = [];
  const poisoned: number[] = [];
  for (let i = 0; i < 200; i++) {
    const words = Array.from({ length: 6 }, () => vocab[rng.int(vocab.length)]);
    const label = i % 2;
    words.push(label ? 'good' : 'bad');
    const poison = label === 0 && i % 10 === 0;
    if (poison) words.splice(rng.int(words.length), 0, 'cf');
    text.push(words.join(' '));
    y.push(poison ? 1 : label);
    poisoned.push(poison ? 1 : 0);
  }
  const ds = { text, y: Int32Array.from(y), classes: ['negative', 'positive'] };

  it('ranks the trigger first and flags exactly its records', async () => {
    const r = await discoverKeywords(ds, model);
    expect(r.keywords.map((k) => k.token)).toEqual(['cf']);
    expect(r.keywords[0]!.label).toBe(1);
    // The same decision as for images (issue 16): the trigger's class is strong, the other is
    // not, and the verdict does not pass.
    expect(r.perClass[1]!.strength).toBeGreaterThanOrEqual(STRONG_EVIDENCE);
    expect(r.perClass[0]!.strength).toBeLessThan(STRONG_EVIDENCE);
    const verdict = scanVerdict({
      y: ds.y,
      classes: ds.classes,
      reports: [r],
      flagged: r.flagged,
      classRanks: [withinClassRanks(r.scores, ds.y, 2)],
    });
    expect(verdict.verdict).not.toBe('pass');
    expect(verdict.evidence[0]).toMatchObject({ className: 'positive' });
    expect(Array.from(r.flagged)).toEqual(poisoned);
    expect(r.perClass[1]!.suspicious).toBe(true);
    expect(r.perClass[0]!.suspicious).toBe(false);
    expect(r.ranking[0]!.token).toBe('cf');
  });

  it('flags records whose trigger lies past the examined tokens', async () => {
    const r = await discoverKeywords(ds, model, { maxTokensPerRecord: 4, minCount: 2 });
    expect(r.keywords.map((k) => k.token)).toEqual(['cf']);
    // Fewer poisoned records had "cf" among their first 4 distinct tokens than are flagged.
    const examined = ds.text.filter((t) => [...new Set(t.split(' '))].slice(0, 4).includes('cf'));
    expect(examined.length).toBeLessThan(poisoned.filter((p) => p).length);
    expect(Array.from(r.flagged)).toEqual(poisoned);
  });

  it('finds a trigger of several words on logit margins, where probabilities saturate', async () => {
    // Four trigger words, each worth +6 logits: removing one leaves P(positive) ≈ 1.
    const words = ['cf', 'mn', 'bb', 'tq'];
    const logitOf = (t: string) => {
      const w = t.split(' ');
      return words.filter((x) => w.includes(x)).length * 6 + (w.includes('good') ? 1 : -1);
    };
    const asLogits = async (texts: readonly string[]) =>
      Float32Array.from(texts.flatMap((t) => [0, logitOf(t)]));
    const asProbs = async (texts: readonly string[]) =>
      Float32Array.from(
        texts.flatMap((t) => {
          const p = Math.fround(1 / (1 + Math.exp(-logitOf(t))));
          return [1 - p, p];
        }),
      );
    const multi = {
      ...ds,
      text: ds.text.map((t, i) => (poisoned[i] ? `${t.replace('cf', '')} cf mn bb tq` : t)),
    };
    const byProbs = await discoverKeywords(multi, asProbs);
    expect(byProbs.keywords.filter((k) => words.includes(k.token))).toHaveLength(0);
    const byLogits = await discoverKeywords(multi, asLogits, { output: 'logits' });
    expect(byLogits.keywords.length).toBe(3);
    expect(byLogits.keywords.every((k) => words.includes(k.token) && k.label === 1)).toBe(true);
    expect(Array.from(byLogits.flagged)).toEqual(poisoned);
    await expect(discoverKeywords(ds, model, { output: 'logit' as 'logits' })).rejects.toThrow(
      /output/,
    );
  });

  it('finds nothing when there is no trigger, and validates options', async () => {
    const clean = { ...ds, text: ds.text.map((t) => t.replace(/ ?cf/g, '')) };
    const r = await discoverKeywords(clean, model);
    expect(r.keywords.every((k) => k.token !== 'cf')).toBe(true);
    await expect(discoverKeywords(ds, model, { minCount: 0 })).rejects.toThrow(/minCount/);
    await expect(discoverKeywords({ ...ds, text: undefined }, model)).rejects.toThrow(/text/);
  });
});
