import { createHash } from 'node:crypto';
import { AntidoteError } from '../errors.js';

/**
 * Merkle trees over byte strings with RFC 6962 (Certificate Transparency, Laurie, Langley &
 * Kasper 2013; §2.1) domain separation: a leaf hashes `0x00 || data`, an inner node
 * `0x01 || left || right`, and a tree of n leaves splits at the largest power of two below n.
 * Leaves and nodes can therefore never be confused (no second-preimage by re-interpreting a node).
 */

const LEAF = Buffer.from([0]);
const NODE = Buffer.from([1]);

/** RFC 6962 leaf hash of `data`. */
export function leafHash(data: Uint8Array): Buffer {
  return createHash('sha256').update(LEAF).update(data).digest();
}

/** RFC 6962 inner-node hash. */
export function nodeHash(left: Uint8Array, right: Uint8Array): Buffer {
  return createHash('sha256').update(NODE).update(left).update(right).digest();
}

function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** The Merkle Tree Hash of already leaf-hashed values (bottom-up, O(n) hashes). */
export function merkleRootOfLeafHashes(leaves: readonly Uint8Array[]): Buffer {
  if (leaves.length === 0) return createHash('sha256').digest();
  // Bottom-up pairing with an odd node carried up unchanged gives exactly the RFC 6962
  // left-balanced tree (the split at the largest power of two below n).
  let level: Uint8Array[] = leaves.slice();
  while (level.length > 1) {
    const next: Uint8Array[] = [];
    for (let i = 0; i + 1 < level.length; i += 2) next.push(nodeHash(level[i]!, level[i + 1]!));
    if (level.length % 2 === 1) next.push(level[level.length - 1]!);
    level = next;
  }
  return Buffer.from(level[0]!);
}

/** The Merkle Tree Hash (MTH) of `data` items; the empty tree hashes to SHA-256(""). */
export function merkleRoot(data: readonly Uint8Array[]): Buffer {
  return merkleRootOfLeafHashes(data.map(leafHash));
}

/** An inclusion (audit) proof for the leaf at `index` in a tree of `treeSize` leaves. */
export interface InclusionProof {
  readonly index: number;
  readonly treeSize: number;
  /** Sibling hashes from the leaf up (hex). */
  readonly path: readonly string[];
}

/** RFC 6962 §2.1.1 audit path for leaf `index` over already leaf-hashed values. */
export function inclusionProof(leaves: readonly Uint8Array[], index: number): InclusionProof {
  if (!Number.isInteger(index) || index < 0 || index >= leaves.length) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `leaf index ${index} is outside [0, ${leaves.length})`,
    );
  }
  const path: string[] = [];
  const rec = (lo: number, hi: number, m: number): void => {
    const n = hi - lo;
    if (n <= 1) return;
    const k = splitPoint(n);
    if (m < k) {
      rec(lo, lo + k, m);
      path.push(merkleRootOfLeafHashes(leaves.slice(lo + k, hi)).toString('hex'));
    } else {
      rec(lo + k, hi, m - k);
      path.push(merkleRootOfLeafHashes(leaves.slice(lo, lo + k)).toString('hex'));
    }
  };
  rec(0, leaves.length, index);
  return { index, treeSize: leaves.length, path };
}

/**
 * Checks an inclusion proof (RFC 9162 §2.1.3.2): true when `leaf` (a leaf hash) at
 * `proof.index` is in the tree whose root is `root`.
 */
export function verifyInclusion(
  leaf: Uint8Array,
  proof: InclusionProof,
  root: Uint8Array,
): boolean {
  const { index, treeSize } = proof;
  if (!Number.isInteger(index) || !Number.isInteger(treeSize) || index < 0 || index >= treeSize) {
    return false;
  }
  let fn = index;
  let sn = treeSize - 1;
  let r: Buffer = Buffer.from(leaf);
  for (const hex of proof.path) {
    if (sn === 0) return false;
    const p = Buffer.from(hex, 'hex');
    if (p.length !== 32) return false;
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && r.length === root.length && r.equals(Buffer.from(root));
}
