import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadTextDataset, parseTextRecords } from './text.js';

describe('text records', () => {
  it('reads a JSON array into a [N, 0] dataset with text', () => {
    const ds = parseTextRecords(
      JSON.stringify([
        { text: 'great film', label: 'pos' },
        { text: 'dull', label: 'neg', source: 'imdb' },
        { text: 'fine', label: 'pos' },
      ]),
    );
    expect(ds.shape).toEqual([3, 0]);
    expect(ds.x.length).toBe(0);
    expect(ds.text).toEqual(['great film', 'dull', 'fine']);
    expect(ds.classes).toEqual(['neg', 'pos']);
    expect(Array.from(ds.y)).toEqual([1, 0, 1]);
    expect(ds.ids).toEqual(['0', '1', '2']);
    expect(ds.source).toEqual(['', 'imdb', '']);
  });

  it('reads JSONL with ids, numeric labels, blank lines and CRLF', () => {
    const ds = parseTextRecords(
      '{"text":"a","label":1,"id":"r1"}\r\n\r\n{"text":"b","label":0,"id":7}\n',
    );
    expect(ds.classes).toEqual(['0', '1']);
    expect(Array.from(ds.y)).toEqual([1, 0]);
    expect(ds.ids).toEqual(['r1', '7']);
    expect(ds.source).toBeUndefined();
  });

  it('uses given classes', () => {
    const ds = parseTextRecords('{"text":"a","label":"spam"}', { classes: ['ham', 'spam'] });
    expect(Array.from(ds.y)).toEqual([1]);
  });

  const bad: [string, string, object, string, RegExp][] = [
    [
      'malformed JSONL line',
      '{"text":"a","label":"x"}\n{"text": oops}\n',
      {},
      'INVALID_FORMAT',
      /t\.jsonl: line 2: malformed JSON/,
    ],
    [
      'record without label',
      '{"text":"a","label":"x"}\n\n{"text":"b"}\n',
      {},
      'INVALID_FORMAT',
      /line 3: not a \{text, label\} record \(label: /,
    ],
    ['text not a string', '[{"text":1,"label":"x"}]', {}, 'INVALID_FORMAT', /element 0: .*text: /],
    ['malformed JSON array', '[{"text":"a"', {}, 'INVALID_FORMAT', /malformed JSON/],
    ['JSON not an array', '[1', { format: 'jsonl' }, 'INVALID_FORMAT', /line 1/],
    ['empty', '\n\n', {}, 'INVALID_FORMAT', /no text records/],
    [
      'label outside classes',
      '{"text":"a","label":"x"}',
      { classes: ['y'] },
      'LABEL_OUT_OF_RANGE',
      /line 1: label "x"/,
    ],
    [
      'some ids missing',
      '{"text":"a","label":"x","id":"q"}\n{"text":"b","label":"x"}',
      {},
      'INVALID_FORMAT',
      /line 2: record has no id/,
    ],
    [
      'duplicate ids',
      '{"text":"a","label":"x","id":"q"}\n{"text":"b","label":"x","id":"q"}',
      {},
      'INVALID_FORMAT',
      /"q" appears twice/,
    ],
  ];
  for (const [name, text, options, code, pattern] of bad) {
    it(`${name} → ${code}`, () => {
      expect(() => parseTextRecords(text, options, 't.jsonl')).toThrow(
        expect.objectContaining({ code, message: expect.stringMatching(pattern) }),
      );
    });
  }

  it('loads .jsonl and .json files', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'antidote-text-'));
    writeFileSync(join(dir, 'a.jsonl'), '{"text":"[x]","label":"a"}\n');
    writeFileSync(join(dir, 'b.json'), '[{"text":"y","label":"b"}]');
    expect((await loadTextDataset(join(dir, 'a.jsonl'))).text).toEqual(['[x]']);
    expect((await loadTextDataset(join(dir, 'b.json'))).text).toEqual(['y']);
  });
});
