import { describe, expect, it } from 'vitest';
import { hashRecords } from '../integrity/manifest.js';
import { leafHash, merkleRootOfLeafHashes } from '../integrity/merkle.js';
import type { RecordDigest } from '../integrity/record-hash.js';
import { mergeRecordShards } from './manifest-jobs.js';

function shardsOf(items: readonly RecordDigest[], size: number) {
  const out = [];
  for (let i = 0; i < items.length; i += size) {
    const part = items.slice(i, i + size);
    const root = merkleRootOfLeafHashes(part.map((r) => leafHash(Buffer.from(r.digest, 'hex'))));
    out.push({ items: part, subtreeRoot: root.toString('hex') });
  }
  return out;
}

describe('mergeRecordShards', () => {
  const records = (ids: string[]) =>
    ids.map((id, i) => ({ id, label: 'a', features: new Float32Array([i, i + 1]) }));

  it('merges power-of-two subtrees into the RFC 6962 root of all records, for every size', () => {
    for (const n of [1, 2, 3, 7, 8, 9, 31, 33, 100]) {
      const ids = Array.from({ length: n }, (_, i) => `id-${String(i).padStart(4, '0')}`);
      const whole = hashRecords(records(ids));
      for (const size of [1, 2, 4, 16]) {
        expect(mergeRecordShards(shardsOf(whole.items, size))).toEqual(whole);
      }
    }
  });

  it('sorts records not in id order (the subtree roots are then not used)', () => {
    const ids = Array.from({ length: 21 }, (_, i) => `r${i}`);
    const whole = hashRecords(records(ids));
    const inRecordOrder = ids.map((id) => whole.items.find((r) => r.id === id)!);
    const merged = mergeRecordShards(
      shardsOf(inRecordOrder, 4).map((s) => ({ ...s, subtreeRoot: '0'.repeat(64) })),
    );
    expect(merged).toEqual(whole);
  });

  it('rejects duplicate ids as hashRecords does', () => {
    const items = hashRecords(records(['b', 'a'])).items;
    expect(() => mergeRecordShards(shardsOf([items[1]!, items[0]!, items[1]!], 2))).toThrow(
      /appears twice/,
    );
  });
});
