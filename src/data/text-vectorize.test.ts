import { describe, expect, it } from 'vitest';
import { isAntidoteError } from '../errors.js';
import {
  fitTextVectorizer,
  textVectorizerFromJSON,
  vectorizeTextDataset,
  vectorizeTexts,
} from './text-vectorize.js';

const docs = ['good good film', 'bad film', 'good plot, bad acting', 'film'];

describe('text vectorizer', () => {
  it('ranks the vocabulary by document frequency and applies minDocFreq', () => {
    const v = fitTextVectorizer(docs, { minDocFreq: 2 });
    expect(v.vocabulary).toEqual(['film', 'bad', 'good']);
    // sklearn smooth idf: ln((1+4)/(1+3)) + 1 for "film".
    expect(v.idf[0]).toBeCloseTo(Math.log(5 / 4) + 1, 12);
    expect(v.idf[1]).toBeCloseTo(Math.log(5 / 3) + 1, 12);
  });

  it('limits the vocabulary size and the document share', () => {
    expect(fitTextVectorizer(docs, { minDocFreq: 1, maxVocabulary: 2 }).vocabulary).toEqual([
      'film',
      'bad',
    ]);
    expect(fitTextVectorizer(docs, { minDocFreq: 1, maxDocShare: 0.5 }).vocabulary).not.toContain(
      'film',
    );
  });

  it('computes L2-normalised sublinear TF-IDF rows and ignores unknown tokens', () => {
    const v = fitTextVectorizer(docs, { minDocFreq: 2 });
    const x = vectorizeTexts(v, ['good good film unknown', '']);
    const [film, bad, good] = [x[0], x[1], x[2]];
    const wf = v.idf[0]!;
    const wg = (1 + Math.log(2)) * v.idf[2]!;
    const norm = Math.hypot(wf, wg);
    expect(film).toBeCloseTo(wf / norm, 6);
    expect(bad).toBe(0);
    expect(good).toBeCloseTo(wg / norm, 6);
    expect(Array.from(x.subarray(3))).toEqual([0, 0, 0]);
  });

  it('mean weights sum to one per document, binary weights are 0/1', () => {
    const mean = fitTextVectorizer(docs, { minDocFreq: 1, weighting: 'mean' });
    const x = vectorizeTexts(mean, ['good good film']);
    expect(x.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
    expect(x[mean.vocabulary.indexOf('good')]).toBeCloseTo(2 / 3, 6);
    const bin = fitTextVectorizer(docs, { minDocFreq: 1, weighting: 'binary' });
    expect(Math.max(...vectorizeTexts(bin, ['good good film']))).toBe(1);
  });

  it('vectorizes a text dataset, keeping its text and labels', () => {
    const v = fitTextVectorizer(docs, { minDocFreq: 2 });
    const ds = vectorizeTextDataset(
      {
        x: new Float32Array(0),
        shape: [2, 0],
        y: Int32Array.from([1, 0]),
        classes: ['neg', 'pos'],
        ids: ['a', 'b'],
        text: ['good film', 'bad'],
      },
      v,
    );
    expect(ds.shape).toEqual([2, 3]);
    expect(ds.text).toEqual(['good film', 'bad']);
    expect(ds.x.length).toBe(6);
  });

  it('round-trips through JSON and rejects malformed vectorizers', () => {
    const v = fitTextVectorizer(docs, { minDocFreq: 2 });
    expect(textVectorizerFromJSON(JSON.parse(JSON.stringify(v)))).toEqual(v);
    const bad = [
      { ...v, format: 'other' },
      { ...v, idf: [1] },
      { ...v, vocabulary: ['a', 'a', 'b'] },
      { ...v, idf: [1, -1, 1] },
    ];
    for (const b of bad) {
      let err: unknown;
      try {
        textVectorizerFromJSON(JSON.parse(JSON.stringify(b)), 'v.json');
      } catch (e) {
        err = e;
      }
      expect(isAntidoteError(err)).toBe(true);
    }
  });

  it('rejects bad options and an empty vocabulary', () => {
    expect(() => fitTextVectorizer(docs, { minDocFreq: 0 })).toThrow(/minDocFreq/);
    expect(() => fitTextVectorizer(docs, { maxVocabulary: 1.5 })).toThrow(/maxVocabulary/);
    expect(() => fitTextVectorizer(['a', 'b'], { minDocFreq: 2 })).toThrow(/vocabulary/);
  });
});
