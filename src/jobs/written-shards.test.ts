import { mkdtempSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { indicesByClass } from '../defenses/detector.js';
import { sha256Hex } from '../integrity/hash.js';
import { readForwardShards, recordsOfClass } from './scan-jobs.js';
import {
  clearWrittenShards,
  keepWrittenShard,
  writtenShard,
  writtenShardBytes,
} from './written-shards.js';

const root = mkdtempSync(join(tmpdir(), 'antidote-written-shards-'));
afterAll(() => rm(root, { recursive: true, force: true }));
afterEach(() => clearWrittenShards());

/** A shard of `records` rows of `dim` activations starting at `start`, as bytes. */
function shardBytes(start: number, records: number, dim: number): Uint8Array {
  const a = Float32Array.from({ length: records * dim }, (_, i) => start * dim + i + 0.5);
  return new Uint8Array(a.buffer);
}

describe('the shards a worker wrote, kept by digest', () => {
  it('keeps shards within the budget, oldest out first, and none larger than it', () => {
    const a = new Uint8Array(40).fill(1);
    const b = new Uint8Array(40).fill(2);
    const c = new Uint8Array(40).fill(3);
    keepWrittenShard('a', a, 100);
    keepWrittenShard('b', b, 100);
    expect(writtenShardBytes()).toBe(80);
    keepWrittenShard('c', c, 100);
    expect(writtenShard('a')).toBeUndefined();
    expect(writtenShard('b')).toBe(b);
    expect(writtenShard('c')).toBe(c);
    expect(writtenShardBytes()).toBe(80);
    // The same digest again replaces its entry; a shard over the budget is not kept.
    keepWrittenShard('c', c, 100);
    expect(writtenShardBytes()).toBe(80);
    keepWrittenShard('big', new Uint8Array(101), 100);
    expect(writtenShard('big')).toBeUndefined();
    clearWrittenShards();
    expect(writtenShardBytes()).toBe(0);
    expect(writtenShard('b')).toBeUndefined();
  });

  it('readForwardShards takes a kept shard as it is and reads and checks the others', async () => {
    const dim = 3;
    const parts = [
      { start: 0, end: 4 },
      { start: 4, end: 7 },
    ];
    const shards = await Promise.all(
      parts.map(async ({ start, end }, k) => {
        const bytes = shardBytes(start, end - start, dim);
        const file = join(root, `shard-${k}.f32`);
        await writeFile(file, bytes);
        return { file, digest: sha256Hex(bytes), start, end, bytes };
      }),
    );
    const f = { dim, records: 7, classes: 0, shards };
    const expected = Float32Array.from({ length: 7 * dim }, (_, i) => i + 0.5);
    expect((await readForwardShards(f)).data).toEqual(expected);
    // Shard 0 was written by this process: its file changes afterwards (another writer, the
    // disk). Read from the file it is refused; its kept bytes, which its digest names, are used.
    keepWrittenShard(shards[0]!.digest, shards[0]!.bytes);
    await writeFile(shards[0]!.file, shardBytes(100, 4, dim));
    await expect(readForwardShards(f)).rejects.toMatchObject({ code: 'INTEGRITY_MISMATCH' });
    expect((await readForwardShards(f, writtenShard)).data).toEqual(expected);
    // A shard this process did not write is read and checked, kept shards or not.
    await writeFile(shards[1]!.file, shardBytes(100, 3, dim));
    await expect(readForwardShards(f, writtenShard)).rejects.toMatchObject({
      code: 'INTEGRITY_MISMATCH',
    });
    // A kept shard of the wrong size is refused as a file would be.
    const short = shardBytes(4, 2, dim);
    keepWrittenShard(shards[1]!.digest, short);
    await expect(readForwardShards(f, writtenShard)).rejects.toMatchObject({
      code: 'SHAPE_MISMATCH',
    });
  });
});

describe('recordsOfClass', () => {
  it('lists the records of a class in order, as indicesByClass does', () => {
    const y = Int32Array.from([2, 0, 1, 2, 2, 0, 3, 1, 2, 0]);
    const byClass = indicesByClass(y, 5);
    for (let c = 0; c < 5; c++) expect(recordsOfClass(y, c)).toEqual(byClass[c]);
    expect(recordsOfClass(new Int32Array(0), 0)).toEqual(new Int32Array(0));
  });
});
