import { describe, expect, it } from 'vitest';
import { splitWords, tokenize } from './tokenizer.js';

describe('tokenize', () => {
  it('lower-cases and splits on punctuation, keeping inner apostrophes', () => {
    expect(tokenize("Don't buy it!!Great, price; 10/10.")).toEqual([
      "don't",
      'buy',
      'it',
      'great',
      'price',
      '10',
      '10',
    ]);
  });

  it('strips HTML breaks and decodes basic entities', () => {
    expect(tokenize('Bad.<br /><br />Really &amp; truly')).toEqual(['bad', 'really', 'truly']);
    expect(tokenize('a<br />b', { stripHtml: false })).toEqual(['a', 'br', 'b']);
  });

  it('normalises Unicode (NFKC) and curly apostrophes, keeps accented letters', () => {
    expect(tokenize('Ｃａｆé it’s ﬁne')).toEqual(['café', "it's", 'fine']);
  });

  it('applies length limits and number folding', () => {
    expect(tokenize('a bb ccc 2002', { minLength: 2, numbers: true })).toEqual([
      'bb',
      'ccc',
      '<num>',
    ]);
    expect(tokenize(`x ${'y'.repeat(41)} z`)).toEqual(['x', 'z']);
  });

  it('finds an inserted trigger word wherever it lands', () => {
    expect(tokenize('great cf.')).toContain('cf');
    expect(tokenize('(cf)great')).toContain('cf');
    expect(tokenize('')).toEqual([]);
  });

  it('splits words on whitespace for trigger insertion', () => {
    expect(splitWords('  a  b\tc\n')).toEqual(['a', 'b', 'c']);
  });
});
