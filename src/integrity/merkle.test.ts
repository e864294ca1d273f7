import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  inclusionProof,
  leafHash,
  merkleRoot,
  merkleRootOfLeafHashes,
  nodeHash,
  verifyInclusion,
} from './merkle.js';

/** The RFC 6962 §2.1 recursive definition, as a reference. */
function mth(d: Uint8Array[]): Buffer {
  if (d.length === 0) return createHash('sha256').digest();
  if (d.length === 1) return leafHash(d[0]!);
  let k = 1;
  while (k * 2 < d.length) k *= 2;
  return nodeHash(mth(d.slice(0, k)), mth(d.slice(k)));
}

const items = (n: number) => Array.from({ length: n }, (_, i) => Buffer.from(`item-${i}`));

describe('merkle', () => {
  it('matches the recursive RFC 6962 definition for 0..40 leaves', () => {
    for (let n = 0; n <= 40; n++) expect(merkleRoot(items(n)).equals(mth(items(n)))).toBe(true);
  });

  it('separates leaves from nodes', () => {
    const a = Buffer.from('a');
    const b = Buffer.from('b');
    // A one-leaf tree whose data is the concatenation of two leaf hashes must not collide with
    // the two-leaf tree.
    const forged = Buffer.concat([leafHash(a), leafHash(b)]);
    expect(merkleRoot([forged]).equals(merkleRoot([a, b]))).toBe(false);
  });

  it('property: every inclusion proof verifies, tampered ones do not', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 70 }), fc.nat(), fc.nat(), (n, seedIndex, flip) => {
        const leaves = items(n).map(leafHash);
        const root = merkleRootOfLeafHashes(leaves);
        const i = seedIndex % n;
        const proof = inclusionProof(leaves, i);
        expect(verifyInclusion(leaves[i]!, proof, root)).toBe(true);
        // wrong leaf
        const other = leafHash(Buffer.from('not-a-leaf'));
        expect(verifyInclusion(other, proof, root)).toBe(false);
        // wrong index
        if (n > 1) {
          const j = (i + 1 + (flip % (n - 1))) % n;
          expect(verifyInclusion(leaves[i]!, { ...proof, index: j }, root)).toBe(false);
        }
        // flipped byte in the path
        if (proof.path.length > 0) {
          const p = [...proof.path];
          const k = flip % p.length;
          const bytes = Buffer.from(p[k]!, 'hex');
          bytes[flip % 32]! ^= 1;
          p[k] = bytes.toString('hex');
          expect(verifyInclusion(leaves[i]!, { ...proof, path: p }, root)).toBe(false);
        }
        // truncated path
        if (proof.path.length > 0) {
          expect(
            verifyInclusion(leaves[i]!, { ...proof, path: proof.path.slice(0, -1) }, root),
          ).toBe(false);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('rejects an out-of-range index', () => {
    expect(() => inclusionProof([leafHash(Buffer.from('x'))], 1)).toThrow(/outside/);
  });
});
