import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadCsv, parseCsv, sortClasses } from './csv.js';

describe('parseCsv', () => {
  it('reads features, labels, ids and sources', () => {
    const { dataset: ds, featureNames } = parseCsv(
      'id,a,label,b,who\nr1,1.5,spam,2,alice\nr2,-3e2,ham,.5,bob\nr3,0,spam,7,alice\n',
      { id: 'id', source: 'who' },
    );
    expect(featureNames).toEqual(['a', 'b']);
    expect(ds.shape).toEqual([3, 2]);
    expect(Array.from(ds.x)).toEqual([1.5, 2, -300, 0.5, 0, 7]);
    expect(ds.classes).toEqual(['ham', 'spam']);
    expect(Array.from(ds.y)).toEqual([1, 0, 1]);
    expect(ds.ids).toEqual(['r1', 'r2', 'r3']);
    expect(ds.source).toEqual(['alice', 'bob', 'alice']);
  });

  it('defaults to the last column as the label, numeric class order, zero-padded ids', () => {
    const rows = Array.from({ length: 11 }, (_, i) => `${i},${i % 3 === 0 ? 10 : i % 3}`).join(
      '\n',
    );
    const { dataset: ds } = parseCsv(`f,cls\n${rows}\n`);
    expect(ds.classes).toEqual(['1', '2', '10']);
    expect(ds.ids[0]).toBe('00');
    expect(ds.ids[10]).toBe('10');
    expect(ds.source).toBeUndefined();
  });

  it('codes --categorical columns as level indices, leaves --ignore columns out', () => {
    const text =
      'tx,amount,country,note,fraud\nT000000,12.5,FR,hello,0\nT000001,3,DE,,1\nT000002,7,FR,x,0\n';
    const r = parseCsv(text, {
      id: 'tx',
      label: 'fraud',
      categorical: ['country'],
      ignore: ['note'],
    });
    expect(r.featureNames).toEqual(['amount', 'country']);
    expect(r.columns).toEqual([
      { name: 'amount', kind: 'numeric' },
      { name: 'country', kind: 'categorical', levels: ['DE', 'FR'] },
    ]);
    expect(Array.from(r.dataset.x)).toEqual([12.5, 1, 3, 0, 7, 1]);
    expect(r.dataset.ids).toEqual(['T000000', 'T000001', 'T000002']);
    expect(() => parseCsv(text, { id: 'tx', label: 'fraud', categorical: ['fraud'] })).toThrow(
      /cannot also be categorical or ignored/,
    );
    expect(() => parseCsv(text, { label: 'fraud', ignore: ['nope'] })).toThrow(
      /no ignored column "nope"/,
    );
  });

  it('says which flag fits a column of names', () => {
    expect(() => parseCsv('tx,a,label\nT1,1,x\n')).toThrow(
      /"T1" is not a number \(a column of names is --categorical "tx", an id column --id, one to leave out --ignore\)/,
    );
  });

  it('takes the label by index, given classes, other delimiters, a BOM and quoted fields', () => {
    const { dataset: ds } = parseCsv('\ufeffy;"x 1";x2\nb;"1";2\na;3;4\n', {
      label: 0,
      classes: ['b', 'a', 'c'],
      delimiter: ';',
    });
    expect(Array.from(ds.y)).toEqual([0, 1]);
    expect(ds.classes).toEqual(['b', 'a', 'c']);
    expect(Array.from(ds.x)).toEqual([1, 2, 3, 4]);
  });

  const bad: [string, string, object, string, RegExp][] = [
    [
      'ragged row',
      'a,b,label\n1,2,x\n3,4\n',
      {},
      'INVALID_FORMAT',
      /data\.csv: line 3 has 2 fields, the header has 3/,
    ],
    ['too many fields', 'a,label\n1,x\n\n3,4,5\n', {}, 'INVALID_FORMAT', /line 4 has 3 fields/],
    [
      'non-numeric feature',
      'a,b,label\n1,2,x\n3,abc,y\n',
      {},
      'INVALID_FORMAT',
      /line 3, column "b" \(2\): "abc" is not a number/,
    ],
    ['hex is not a decimal', 'a,label\n0x1F,x\n', {}, 'INVALID_FORMAT', /line 2, column "a" \(1\)/],
    [
      'NaN feature',
      'a,b,label\n1,NaN,x\n',
      {},
      'NON_FINITE_VALUE',
      /line 2, column "b" \(2\): non-finite value NaN/,
    ],
    [
      'empty feature',
      'a,b,label\n1,2,x\n,2,y\n',
      {},
      'NON_FINITE_VALUE',
      /line 3, column "a" \(1\): empty value/,
    ],
    ['infinite feature', 'a,label\n-inf,x\n', {}, 'NON_FINITE_VALUE', /non-finite value -inf/],
    ['float32 overflow', 'a,label\n1e39,x\n', {}, 'NON_FINITE_VALUE', /overflows float32/],
    ['empty label', 'a,label\n1,\n', {}, 'INVALID_FORMAT', /line 2: empty label/],
    [
      'label outside classes',
      'a,label\n1,x\n2,z\n',
      { classes: ['x', 'y'] },
      'LABEL_OUT_OF_RANGE',
      /line 3: label "z" is not one of the classes/,
    ],
    ['unclosed quote', 'a,label\n"1,x\n', {}, 'INVALID_FORMAT', /malformed CSV/],
    ['header only', 'a,label\n', {}, 'INVALID_FORMAT', /no records/],
    ['empty file', '', {}, 'INVALID_FORMAT', /empty CSV/],
    ['no features', 'label\nx\n', {}, 'INVALID_FORMAT', /no feature columns/],
    [
      'unknown label column',
      'a,b\n1,2\n',
      { label: 'cls' },
      'NOT_FOUND',
      /no label column "cls" \(columns: a, b\)/,
    ],
    ['label index out of range', 'a,b\n1,2\n', { label: 5 }, 'INVALID_ARGUMENT', /index 5/],
    [
      'same column twice',
      'a,b,c\n1,2,3\n',
      { label: 'c', id: 'c' },
      'INVALID_ARGUMENT',
      /must be different/,
    ],
    [
      'duplicate ids',
      'id,a,label\nq,1,x\nq,2,x\n',
      { id: 'id' },
      'INVALID_FORMAT',
      /"q" appears twice/,
    ],
  ];
  for (const [name, text, options, code, pattern] of bad) {
    it(`${name} → ${code}`, () => {
      expect(() => parseCsv(text, options, 'data.csv')).toThrow(
        expect.objectContaining({ code, message: expect.stringMatching(pattern) }),
      );
    });
  }

  it('sortClasses orders numbers numerically and strings by code unit', () => {
    expect(sortClasses(['10', '9', '1.5', '9'])).toEqual(['1.5', '9', '10']);
    expect(sortClasses(['b', 'B', 'a', '10'])).toEqual(['10', 'B', 'a', 'b']);
  });
});

describe('loadCsv', () => {
  it('reads a file and names it in errors', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'antidote-csv-'));
    writeFileSync(join(dir, 'ok.csv'), 'a,label\n1,x\n');
    writeFileSync(join(dir, 'bad.csv'), 'a,label\n1,x\n2\n');
    expect((await loadCsv(join(dir, 'ok.csv'))).dataset.shape).toEqual([1, 1]);
    await expect(loadCsv(join(dir, 'bad.csv'))).rejects.toMatchObject({
      code: 'INVALID_FORMAT',
      details: { path: join(dir, 'bad.csv'), line: 3 },
    });
    await expect(loadCsv(join(dir, 'none.csv'))).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });
});
