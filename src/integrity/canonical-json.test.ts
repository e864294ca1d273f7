import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isAntidoteError } from '../errors.js';
import { canonicalJson } from './canonical-json.js';

describe('canonicalJson (RFC 8785)', () => {
  it('sorts keys by UTF-16 code units and drops whitespace', () => {
    // RFC 8785 §3.2.3 sorting example (code units: \u20ac > \r > 1 > digits...).
    const v = {
      '\u20ac': 'Euro Sign',
      '\r': 'Carriage Return',
      '\ufb33': 'Hebrew Letter Dalet With Dagesh',
      '1': 'One',
      '\ud83d\ude00': 'Emoji: Grinning Face',
      '\u0080': 'Control',
      '\u00f6': 'Latin Small Letter O With Diaeresis',
    };
    // Read the member order from the text: Object.keys would list integer-like keys first.
    const c = canonicalJson(v);
    const order = ['\r', '1', '\u0080', '\u00f6', '\u20ac', '\ud83d\ude00', '\ufb33'].map((k) =>
      c.indexOf(JSON.stringify(k) + ':'),
    );
    expect(order.every((p) => p >= 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    expect(c.startsWith('{"\\r":"Carriage Return","1":"One"')).toBe(true);
  });

  it('formats numbers as ECMAScript does (RFC 8785 appendix B samples)', () => {
    const cases: [number, string][] = [
      [0, '0'],
      [-0, '0'],
      [1e21, '1e+21'],
      [1e-7, '1e-7'],
      [333333333.3333333, '333333333.3333333'],
      [9007199254740991, '9007199254740991'],
      [5e-324, '5e-324'],
      [1.7976931348623157e308, '1.7976931348623157e+308'],
      [0.000001, '0.000001'],
      [1e23, '1e+23'],
      [-1.5, '-1.5'],
    ];
    for (const [n, s] of cases) expect(canonicalJson(n)).toBe(s);
  });

  it('matches the RFC 8785 §3.2.2 example', () => {
    const input = {
      numbers: [333333333.3333333, 1e30, 4.5, 0.002, 1e-27],
      string: '\u20ac$\u000f\u000aA\'\u0042\u0022\u005c\\"/',
      literals: [null, true, false],
    };
    expect(canonicalJson(input)).toBe(
      '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],' +
        '"string":"\u20ac$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}',
    );
  });

  it('rejects what I-JSON forbids', () => {
    for (const bad of [
      Number.NaN,
      Number.POSITIVE_INFINITY,
      '\ud800',
      { a: '\udc00x' },
      new Date(0),
      new Uint8Array(2),
      10n,
      [undefined],
    ]) {
      let err: unknown;
      try {
        canonicalJson(bad);
      } catch (e) {
        err = e;
      }
      expect(isAntidoteError(err, 'INVALID_ARGUMENT')).toBe(true);
    }
    const cyc: Record<string, unknown> = {};
    cyc.self = cyc;
    expect(() => canonicalJson(cyc)).toThrow(/cyclic/);
  });

  it('property: parse(canonical(v)) is a fixed point and equals v', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        const c = canonicalJson(v);
        const back = JSON.parse(c);
        expect(canonicalJson(back)).toBe(c);
        // Same content as JSON.stringify, modulo key order and -0.
        expect(back).toEqual(JSON.parse(JSON.stringify(v)));
      }),
      { numRuns: 300 },
    );
  });

  it('property: independent of key insertion order', () => {
    fc.assert(
      fc.property(
        fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 2 })),
        fc.infiniteStream(fc.nat()),
        (obj, rnd) => {
          const entries = Object.entries(obj);
          // Permute deterministically from the generated stream.
          const it = rnd[Symbol.iterator]();
          for (let i = entries.length - 1; i > 0; i--) {
            const j = it.next().value % (i + 1);
            [entries[i], entries[j]] = [entries[j]!, entries[i]!];
          }
          expect(canonicalJson(Object.fromEntries(entries))).toBe(canonicalJson(obj));
        },
      ),
      { numRuns: 200 },
    );
  });

  it('property: distinct values give distinct bytes', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.jsonValue(), (a, b) => {
        const same = canonicalJson(a) === canonicalJson(b);
        expect(same).toBe(
          canonicalJson(JSON.parse(JSON.stringify(a))) ===
            canonicalJson(JSON.parse(JSON.stringify(b))),
        );
      }),
      { numRuns: 100 },
    );
  });
});
