import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAntidoteError } from '../errors.js';
import {
  decryptFile,
  encryptFile,
  generateKek,
  HEADER_SIZE,
  kekFromEnv,
  parseKek,
  rewrapFile,
} from './encryption.js';

async function rejects(p: Promise<unknown>, code: string, msg?: RegExp): Promise<void> {
  let err: unknown;
  try {
    await p;
  } catch (e) {
    err = e;
  }
  expect(isAntidoteError(err), String(err)).toBe(true);
  expect((err as { code: string }).code).toBe(code);
  if (msg) expect((err as Error).message).toMatch(msg);
}

/** Deterministic bytes (no Math.random). */
function bytes(n: number, seed = 1): Buffer {
  const b = Buffer.alloc(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

describe('chunked AES-256-GCM', () => {
  let dir: string;
  const kek = generateKek();
  const CH = 64;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'antidote-enc-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  async function encrypted(n: number): Promise<{ plain: Buffer; enc: string; ct: Buffer }> {
    const plain = bytes(n, n + 7);
    const src = join(dir, `p${n}`);
    await writeFile(src, plain);
    const enc = join(dir, `e${n}`);
    await encryptFile(src, enc, kek, { chunkSize: CH });
    return { plain, enc, ct: await readFile(enc) };
  }

  async function expectNoPlaintext(out: string): Promise<void> {
    expect(existsSync(out)).toBe(false);
    expect((await readdir(dir)).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  }

  it('property: round-trips any size and chunk size', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 700 }),
        fc.integer({ min: 1, max: 130 }),
        async (n, ch) => {
          const plain = bytes(n, n * 31 + ch);
          const src = join(dir, 'prop.in');
          const enc = join(dir, 'prop.enc');
          const out = join(dir, 'prop.out');
          await writeFile(src, plain);
          const r = await encryptFile(src, enc, kek, { chunkSize: ch });
          expect(r.chunks).toBe(Math.max(1, Math.ceil(n / ch)));
          expect((await readFile(enc)).length).toBe(HEADER_SIZE + n + r.chunks * 16);
          await decryptFile(enc, out, kek);
          expect((await readFile(out)).equals(plain)).toBe(true);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('property: any single flipped bit is caught and no plaintext is left', async () => {
    const { ct } = await encrypted(300);
    const bad = join(dir, 'flip.enc');
    const out = join(dir, 'flip.out');
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: ct.length - 1 }),
        fc.integer({ min: 0, max: 7 }),
        async (pos, bit) => {
          const t = Buffer.from(ct);
          t[pos]! ^= 1 << bit;
          await writeFile(bad, t);
          let err: unknown;
          try {
            await decryptFile(bad, out, kek);
          } catch (e) {
            err = e;
          }
          expect(isAntidoteError(err)).toBe(true);
          await expectNoPlaintext(out);
        },
      ),
      { numRuns: 80 },
    );
  });

  it('names the tampered chunk', async () => {
    const { ct } = await encrypted(300); // 5 chunks of 64
    const t = Buffer.from(ct);
    t[HEADER_SIZE + 2 * (CH + 16) + 3]! ^= 0xff;
    await writeFile(join(dir, 't.enc'), t);
    await rejects(
      decryptFile(join(dir, 't.enc'), join(dir, 't.out'), kek),
      'DECRYPTION_FAILED',
      /chunk 2 /,
    );
    await expectNoPlaintext(join(dir, 't.out'));
  });

  it('names the lowest tampered chunk when several fail in the pipeline', async () => {
    const { ct } = await encrypted(600); // 10 chunks of 64, more than the pipeline depth
    const t = Buffer.from(ct);
    for (const i of [8, 5, 6]) t[HEADER_SIZE + i * (CH + 16) + 1]! ^= 0x01;
    await writeFile(join(dir, 'm.enc'), t);
    await rejects(
      decryptFile(join(dir, 'm.enc'), join(dir, 'm.out'), kek),
      'DECRYPTION_FAILED',
      /chunk 5 /,
    );
    await expectNoPlaintext(join(dir, 'm.out'));
  });

  it('catches reordered, dropped, duplicated and truncated chunks', async () => {
    const { ct } = await encrypted(300);
    const head = ct.subarray(0, HEADER_SIZE);
    const B = CH + 16;
    const chunk = (i: number) =>
      ct.subarray(HEADER_SIZE + i * B, Math.min(ct.length, HEADER_SIZE + (i + 1) * B));
    const variants: Record<string, Buffer> = {
      reordered: Buffer.concat([head, chunk(1), chunk(0), chunk(2), chunk(3), chunk(4)]),
      dropped: Buffer.concat([head, chunk(0), chunk(2), chunk(3), chunk(4)]),
      duplicated: Buffer.concat([head, chunk(0), chunk(1), chunk(1), chunk(2), chunk(3), chunk(4)]),
      truncatedAtBoundary: Buffer.concat([head, chunk(0), chunk(1), chunk(2)]),
      truncatedMidChunk: ct.subarray(0, ct.length - 5),
      onlyHeader: Buffer.from(head),
      extended: Buffer.concat([ct, chunk(0)]),
      halfHeader: ct.subarray(0, 50),
    };
    for (const [name, buf] of Object.entries(variants)) {
      const p = join(dir, `${name}.enc`);
      await writeFile(p, buf);
      await rejects(decryptFile(p, join(dir, `${name}.out`), kek), 'DECRYPTION_FAILED');
      await expectNoPlaintext(join(dir, `${name}.out`));
    }
  });

  it('rejects a wrong key and keeps an existing destination untouched', async () => {
    const { enc } = await encrypted(100);
    const out = join(dir, 'keep.out');
    await writeFile(out, 'previous');
    await rejects(decryptFile(enc, out, generateKek()), 'DECRYPTION_FAILED', /another key/);
    expect(await readFile(out, 'utf8')).toBe('previous');
  });

  it('rotates the KEK without re-encrypting the data', async () => {
    const { enc, ct, plain } = await encrypted(200);
    const next = generateKek();
    await rewrapFile(enc, kek, next);
    const after = await readFile(enc);
    expect(after.subarray(HEADER_SIZE).equals(ct.subarray(HEADER_SIZE))).toBe(true);
    expect(after.subarray(0, 24).equals(ct.subarray(0, 24))).toBe(true);
    expect(after.subarray(24, HEADER_SIZE).equals(ct.subarray(24, HEADER_SIZE))).toBe(false);
    await rejects(decryptFile(enc, join(dir, 'r.out'), kek), 'DECRYPTION_FAILED');
    await decryptFile(enc, join(dir, 'r.out'), next);
    expect((await readFile(join(dir, 'r.out'))).equals(plain)).toBe(true);
    await rejects(rewrapFile(enc, kek, next), 'DECRYPTION_FAILED');
  });

  it('parses keys from hex, base64, raw bytes and env, without echoing them', () => {
    const k = generateKek();
    expect(parseKek(k.toString('hex'), 'x').equals(k)).toBe(true);
    expect(parseKek(`${k.toString('base64')}\n`, 'x').equals(k)).toBe(true);
    expect(parseKek(k, 'x').equals(k)).toBe(true);
    expect(kekFromEnv('K', { K: k.toString('hex') }).equals(k)).toBe(true);
    let msg = '';
    try {
      parseKek('secret-but-short', 'KEYFILE');
    } catch (e) {
      msg = (e as Error).message;
    }
    expect(msg).toMatch(/KEYFILE/);
    expect(msg).not.toMatch(/secret/);
  });
});
