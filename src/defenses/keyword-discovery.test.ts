import { describe, expect, it } from 'vitest';
import { Rng } from '../data/rng.js';
import { discoverKeywords } from './keyword-discovery.js';

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
    expect(r.keywords[0].label).toBe(1);
    expect(Array.from(r.flagged)).toEqual(poisoned);
    expect(r.perClass[1].suspicious).toBe(true);
    expect(r.perClass[0].suspicious).toBe(false);
    expect(r.ranking[0].token).toBe('cf');
  });

  it('flags records whose trigger lies past the examined tokens', async () => {
    const r = await discoverKeywords(ds, model, { maxTokensPerRecord: 4, minCount: 2 });
    expect(r.keywords.map((k) => k.token)).toEqual(['cf']);
    // Fewer poisoned records had "cf" among their first 4 distinct tokens than are flagged.
    const examined = ds.text.filter((t) => [...new Set(t.split(' '))].slice(0, 4).includes('cf'));
    expect(examined.length).toBeLessThan(poisoned.filter((p) => p).length);
    expect(Array.from(r.flagged)).toEqual(poisoned);
  });

  it('finds nothing when there is no trigger, and validates options', async () => {
    const clean = { ...ds, text: ds.text.map((t) => t.replace(/ ?cf/g, '')) };
    const r = await discoverKeywords(clean, model);
    expect(r.keywords.every((k) => k.token !== 'cf')).toBe(true);
    await expect(discoverKeywords(ds, model, { minCount: 0 })).rejects.toThrow(/minCount/);
    await expect(discoverKeywords({ ...ds, text: undefined }, model)).rejects.toThrow(/text/);
  });
});
