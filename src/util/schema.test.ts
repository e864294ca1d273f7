import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { parseJson, parseWith } from './schema.js';

const schema = z.object({ name: z.string(), roles: z.array(z.object({ id: z.number() })) });

describe('parseWith', () => {
  it('returns the parsed value', () => {
    expect(parseWith(schema, { name: 'a', roles: [{ id: 1 }] }, 'x.json')).toEqual({
      name: 'a',
      roles: [{ id: 1 }],
    });
  });

  it('names where and the failing field; INVALID_FORMAT by default', () => {
    expect(() => parseWith(schema, { name: 'a', roles: [{ id: 'no' }] }, 'x.json')).toThrow(
      expect.objectContaining({
        code: 'INVALID_FORMAT',
        message: expect.stringMatching(/^x\.json: roles\.0\.id: /),
        details: { path: 'x.json' },
      }),
    );
    expect(() => parseWith(schema, 5, 'x.json')).toThrow(/^x\.json: \(root\): /);
  });

  it('honours code, head, root, prefix, field and all-issues options', () => {
    const run = (o: Parameters<typeof parseWith>[3], raw: unknown = 5) => {
      try {
        parseWith(schema, raw, 'w', o);
      } catch (e) {
        return e as { code: string; message: string; details: unknown };
      }
      throw new Error('no error');
    };
    expect(run({ code: 'INVALID_CONFIG', head: 'policy w', root: '(body)' })).toMatchObject({
      code: 'INVALID_CONFIG',
      message: expect.stringMatching(/^policy w: \(body\): /),
    });
    expect(run({ prefix: 'antidote.', root: '' }).message).toMatch(/^w: antidote\.: /);
    expect(run({ omitField: true }).message).not.toContain('(root)');
    expect(run({ withField: true }, { name: 1, roles: [] }).details).toEqual({
      path: 'w',
      field: 'name',
    });
    expect(run({ details: {} }).details).toEqual({});
    expect(run({ allIssues: true }, { name: 1, roles: 2 }).message).toMatch(
      /^w: name: .*; roles: /,
    );
  });
});

describe('parseJson', () => {
  it('parses text or UTF-8 bytes', () => {
    expect(parseJson('{"a":1}', 'x')).toEqual({ a: 1 });
    expect(parseJson(new TextEncoder().encode('[1]'), 'x')).toEqual([1]);
  });

  it('malformed JSON names where, with the code and head asked for', () => {
    expect(() => parseJson('{', 'p.json')).toThrow(
      expect.objectContaining({
        code: 'INVALID_FORMAT',
        message: expect.stringMatching(/^p\.json is not valid JSON: /),
        details: { path: 'p.json' },
      }),
    );
    expect(() =>
      parseJson('{', 'p.json', { code: 'INVALID_CONFIG', head: 'p.json: malformed JSON' }),
    ).toThrow(
      expect.objectContaining({
        code: 'INVALID_CONFIG',
        message: expect.stringMatching(/^p\.json: malformed JSON: /),
      }),
    );
  });
});
