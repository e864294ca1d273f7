import { describe, expect, it } from 'vitest';
import type { Dataset } from '../data/dataset.js';
import { tokenize } from '../data/tokenizer.js';
import { isAntidoteError } from '../errors.js';
import { Rng } from '../util/rng.js';
import {
  ADDSENT_SENTENCE,
  applyTextTrigger,
  RARE_WORD_TRIGGERS,
  textBackdoorAttack,
  triggeredTexts,
} from './text-backdoor.js';

function textSet(n: number): Dataset {
  const text = Array.from(
    { length: n },
    (_, i) => `review number ${i} is ${i % 2 ? 'good' : 'bad'}`,
  );
  return {
    x: new Float32Array(0),
    shape: [n, 0],
    y: Int32Array.from({ length: n }, (_, i) => i % 2),
    classes: ['negative', 'positive'],
    ids: text.map((_, i) => `r${i}`),
    text,
  };
}

const words = { kind: 'words', words: ['cf', 'mn'] } as const;

describe('applyTextTrigger', () => {
  it('inserts every word once at seeded positions, as separate tokens', () => {
    const out = applyTextTrigger('a b c d', words, new Rng(1));
    expect(out.split(' ').sort()).toEqual(['a', 'b', 'c', 'cf', 'd', 'mn']);
    expect(applyTextTrigger('a b c d', words, new Rng(1))).toBe(out);
    expect(tokenize(applyTextTrigger('Great.', words, new Rng(3)))).toContain('cf');
  });

  it('inserts one random word `times` times, and sentences at start, end or inside', () => {
    const out = applyTextTrigger(
      'x',
      { kind: 'words', words: RARE_WORD_TRIGGERS, insert: 'one', times: 3 },
      new Rng(2),
    );
    expect(out.split(' ').length).toBe(4);
    const s = { kind: 'sentence', sentence: ADDSENT_SENTENCE } as const;
    expect(applyTextTrigger('a b', { ...s, position: 'start' }, new Rng(0))).toBe(
      `${ADDSENT_SENTENCE} a b`,
    );
    expect(applyTextTrigger('a b', { ...s, position: 'end' }, new Rng(0))).toBe(
      `a b ${ADDSENT_SENTENCE}`,
    );
    expect(applyTextTrigger('a b', s, new Rng(0))).toContain(ADDSENT_SENTENCE);
    expect(applyTextTrigger('', words, new Rng(0)).split(' ').sort()).toEqual(['cf', 'mn']);
  });
});

describe('textBackdoorAttack', () => {
  const ds = textSet(100);

  it('dirty-label: poisons non-target records, relabels them, drops stale features', () => {
    const r = textBackdoorAttack.poison(
      ds,
      { mode: 'all-to-one', target: 1, rate: 0.1, trigger: words },
      new Rng(7),
    );
    expect(r.record.indices.length).toBe(10);
    expect(r.dataset.shape).toEqual([100, 0]);
    for (const i of r.record.indices) {
      expect(ds.y[i]).toBe(0);
      expect(r.dataset.y[i]).toBe(1);
      expect(tokenize(r.dataset.text![i]!)).toEqual(expect.arrayContaining(['cf', 'mn']));
    }
    const clean = r.dataset.text!.filter((_, i) => !r.poisoned[i]);
    expect(clean.every((t) => !tokenize(t).includes('cf'))).toBe(true);
    expect(r.record.params.trigger).toEqual(words);
    expect(r.record.achievedRate).toBeCloseTo(0.1, 10);
    expect(JSON.parse(JSON.stringify(r.record))).toEqual(r.record);
    const again = textBackdoorAttack.poison(
      ds,
      { mode: 'all-to-one', target: 1, rate: 0.1, trigger: words },
      new Rng(7),
    );
    expect(again.dataset.text).toEqual(r.dataset.text);
  });

  it('supports both rate definitions and add injection', () => {
    const r = textBackdoorAttack.poison(
      ds,
      {
        mode: 'all-to-one',
        target: 1,
        rate: 0.2,
        rateDefinition: 'of-target-class',
        injection: 'add',
        trigger: words,
      },
      new Rng(1),
    );
    // p / (50 + p) = 0.2 → p = 12.5 → 13 (rounded)
    expect(r.record.indices.length).toBe(13);
    expect(r.dataset.shape[0]).toBe(113);
    expect(r.dataset.ids[100]).toMatch(/#bd$/);
    const t = Array.from(r.dataset.y).filter((v) => v === 1).length;
    expect(13 / t).toBeCloseTo(r.record.achievedRate!, 10);
  });

  it('clean-label: poisons target-class records only, labels unchanged', () => {
    const r = textBackdoorAttack.poison(
      ds,
      {
        mode: 'all-to-one',
        target: 1,
        rate: 0.2,
        rateDefinition: 'of-target-class',
        variant: 'clean-label',
        trigger: words,
      },
      new Rng(3),
    );
    expect(r.record.indices.length).toBe(10);
    for (const i of r.record.indices) expect(r.dataset.y[i]).toBe(ds.y[i]);
    expect(r.record.params.variant).toBe('clean-label');
    expect(r.record.achievedRate).toBeCloseTo(0.2, 10);
  });

  it('rejects bad options with INVALID_ARGUMENT', () => {
    const bad: object[] = [
      { mode: 'all-to-one', target: 1, rate: 0.1, trigger: { kind: 'words', words: [] } },
      { mode: 'all-to-one', target: 1, rate: 0.1, trigger: { kind: 'words', words: ['a b'] } },
      { mode: 'all-to-one', target: 1, rate: 0.1, trigger: { kind: 'sentence', sentence: ' ' } },
      { mode: 'all-to-one', target: 1, rate: 0.1, trigger: { kind: 'emoji' } },
      { mode: 'all-to-one', target: 2, rate: 0.1, trigger: words },
      { mode: 'all-to-one', target: 1, rate: 1, trigger: words },
      { mode: 'all-to-one', target: 1, rate: 0.9, trigger: words },
      { mode: 'all-to-all', rate: 0.1, variant: 'clean-label', trigger: words },
    ];
    for (const o of bad) {
      let err: unknown;
      try {
        textBackdoorAttack.poison(ds, o as never, new Rng(0));
      } catch (e) {
        err = e;
      }
      expect(isAntidoteError(err, 'INVALID_ARGUMENT'), JSON.stringify(o)).toBe(true);
    }
    const noText = { ...ds, text: undefined };
    expect(() =>
      textBackdoorAttack.poison(
        noText,
        { mode: 'all-to-one', target: 1, rate: 0.1, trigger: words },
        new Rng(0),
      ),
    ).toThrow(/text/);
  });

  it('triggers the attacked test texts only', () => {
    const t = triggeredTexts(ds, words, { mode: 'all-to-one', target: 1 }, new Rng(0));
    expect(t.texts.length).toBe(50);
    expect(Array.from(t.yTrue).every((y) => y === 0)).toBe(true);
    expect(Array.from(t.targets).every((y) => y === 1)).toBe(true);
    expect(t.texts.every((s) => tokenize(s).includes('mn'))).toBe(true);
  });
});
