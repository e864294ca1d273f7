import { crc32, deflateRawSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { readZip, writeZip } from './zip.js';

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

describe('zip', () => {
  const entries = [
    { name: 'a.txt', data: enc('hello hello hello hello') },
    { name: 'dir/b.bin', data: Uint8Array.from({ length: 1000 }, (_, i) => i % 7) },
    { name: 'empty', data: new Uint8Array(0) },
    { name: 'é.txt', data: enc('utf-8 name') },
  ];

  for (const compress of [false, true]) {
    for (const forceZip64 of [false, true]) {
      it(`round-trips (compress=${compress}, zip64=${forceZip64})`, () => {
        const bytes = writeZip(entries, { compress, forceZip64 });
        const back = readZip(bytes);
        expect(back.map((e) => e.name)).toEqual(entries.map((e) => e.name));
        for (let i = 0; i < back.length; i++) {
          expect(Array.from(back[i]!.data)).toEqual(Array.from(entries[i]!.data));
        }
      });
    }
  }

  it('is deterministic and compresses when asked', () => {
    const a = writeZip(entries, { compress: true });
    const b = writeZip(
      entries.map((e) => ({ name: e.name, data: e.data.slice() })),
      { compress: true },
    );
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
    expect(a.length).toBeLessThan(writeZip(entries, { compress: false }).length);
  });

  it('refuses duplicate names when writing', () => {
    expect(() => writeZip([entries[0]!, entries[0]!])).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
  });

  it('detects a corrupted byte through the CRC', () => {
    const bytes = writeZip([entries[0]!], { compress: false });
    const i = bytes.indexOf('h'.charCodeAt(0), 30);
    bytes[i]! ^= 1;
    expect(() => readZip(bytes, 'x.zip')).toThrow(
      expect.objectContaining({
        code: 'INVALID_FORMAT',
        message: expect.stringMatching(/x\.zip: CRC-32 mismatch in entry "a\.txt"/),
      }),
    );
  });

  it('reports a truncated archive and garbage as INVALID_FORMAT', () => {
    const bytes = writeZip(entries, { compress: true });
    expect(() => readZip(bytes.subarray(0, bytes.length - 30), 't.zip')).toThrow(
      expect.objectContaining({ code: 'INVALID_FORMAT' }),
    );
    expect(() => readZip(bytes.subarray(0, 100), 't.zip')).toThrow(
      expect.objectContaining({
        code: 'INVALID_FORMAT',
        message: expect.stringContaining('t.zip'),
      }),
    );
    expect(() => readZip(enc('not a zip at all, just text'), 'g.zip')).toThrow(
      expect.objectContaining({
        code: 'INVALID_FORMAT',
        message: expect.stringContaining('no end-of-central-directory'),
      }),
    );
  });

  it('will not inflate past the recorded size (zip bomb)', () => {
    // A deflated entry whose central directory claims 10 bytes but which inflates to 1 MB.
    const big = new Uint8Array(1 << 20);
    const bytes = writeZip([{ name: 'bomb', data: big }], { compress: true });
    const v = new DataView(bytes.buffer);
    const cd = bytes.length - 22 - (46 + 4);
    expect(v.getUint32(cd, true)).toBe(0x02014b50);
    v.setUint32(cd + 24, 10, true);
    expect(() => readZip(bytes, 'bomb.zip')).toThrow(
      expect.objectContaining({
        code: 'INVALID_FORMAT',
        message: expect.stringContaining('cannot inflate "bomb"'),
      }),
    );
  });

  it('refuses encrypted entries and unknown methods', () => {
    const bytes = writeZip([entries[0]!], { compress: false });
    const v = new DataView(bytes.buffer);
    const cd = bytes.length - 22 - (46 + 5);
    v.setUint16(cd + 10, 12, true); // bzip2
    expect(() => readZip(bytes)).toThrow(
      expect.objectContaining({ message: expect.stringContaining('method 12') }),
    );
    v.setUint16(cd + 10, 0, true);
    v.setUint16(cd + 8, 1, true);
    expect(() => readZip(bytes)).toThrow(
      expect.objectContaining({ message: expect.stringContaining('encrypted') }),
    );
  });

  it('uses the raw deflate stream and the standard CRC-32', () => {
    const data = enc('abcabcabc');
    const bytes = writeZip([{ name: 'x', data }], { compress: true });
    const v = new DataView(bytes.buffer);
    expect(v.getUint32(14, true)).toBe(crc32(data) >>> 0);
    const body = deflateRawSync(data, { level: 6 });
    expect(Buffer.from(bytes.subarray(31, 31 + body.length)).equals(body)).toBe(true);
    expect(dec(readZip(bytes)[0]!.data)).toBe('abcabcabc');
  });
});
