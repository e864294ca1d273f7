import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { sha256File } from './hash.js';
import { ObjectStore } from './object-store.js';

const dir = mkdtempSync(join(tmpdir(), 'antidote-hash-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('sha256File', () => {
  // Small files are read whole (synchronously), larger ones streamed: both give the file's digest.
  it.each([0, 1, 31, 256 * 1024 - 1, 256 * 1024, 256 * 1024 + 1, 600_000])(
    'hashes a file of %i bytes as SHA-256 of its content, with its size',
    async (size) => {
      const data = Buffer.alloc(size);
      for (let i = 0; i < size; i++) data[i] = (i * 131 + 7) & 255;
      const p = join(dir, `f-${size}`);
      writeFileSync(p, data);
      const seen: number[] = [];
      const got = await sha256File(p, { bufferSize: 64 * 1024, onProgress: (n) => seen.push(n) });
      expect(got).toEqual({ digest: createHash('sha256').update(data).digest('hex'), size });
      if (size > 0) expect(seen.at(-1)).toBe(size);
      else expect(seen).toEqual([]);
    },
  );

  it('names a missing file or a folder with a typed error', async () => {
    await expect(sha256File(join(dir, 'absent'))).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(sha256File(dir)).rejects.toHaveProperty('code');
  });
});

describe('ObjectStore.putAllBytes', () => {
  it('stores each byte string under its digest, in order; files keep no catalogue rows', async () => {
    const store = new ObjectStore(join(dir, 'objects'));
    const items = [Buffer.from('a'), Buffer.from('bb'), Buffer.from('a')];
    const digests = await store.putAllBytes(items);
    expect(digests).toEqual(items.map((b) => createHash('sha256').update(b).digest('hex')));
    for (const [i, d] of digests.entries()) expect(await store.readBytes(d)).toEqual(items[i]);
    expect(store.inCatalogue).toBe(false);
    expect(() => store.putAllBytesSync(items)).toThrow(
      expect.objectContaining({ code: 'INVALID_STATE' }),
    );
  });
});
