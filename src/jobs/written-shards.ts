/**
 * The scan shards this worker process wrote, kept in memory by digest (issue 22). A worker's
 * class jobs read every shard of the forward pass, each checked against the digest its worker
 * reported; about half of them it wrote itself, and hashed then. Those it takes from here instead
 * of reading the file and hashing it again: the bytes kept are the very bytes it hashed into the
 * digest it reported (nothing writes them afterwards), so they are what the digest names, even if
 * the file was changed since (the other workers, which read the file, still refuse it). The
 * shards of other workers are read and checked as before.
 *
 * Kept within a byte budget, oldest first out; a class job that has read a forward pass drops
 * them all.
 */

/** The default budget of the kept shards (bytes): shards beyond it are read from their files. */
export const WRITTEN_SHARDS_BUDGET = 256 * 1024 * 1024;

const kept = new Map<string, Uint8Array>();
let keptBytes = 0;

/**
 * Keeps `bytes`, the content of a shard file this process just wrote, whose SHA-256 is `digest`
 * (the caller computed it from these bytes and must not change them afterwards). Older shards
 * make room; a shard larger than `budget` is not kept.
 */
export function keepWrittenShard(
  digest: string,
  bytes: Uint8Array,
  budget = WRITTEN_SHARDS_BUDGET,
): void {
  if (bytes.byteLength > budget) return;
  dropWrittenShard(digest);
  for (const [d, b] of kept) {
    if (keptBytes + bytes.byteLength <= budget) break;
    kept.delete(d);
    keptBytes -= b.byteLength;
  }
  kept.set(digest, bytes);
  keptBytes += bytes.byteLength;
}

/** The kept bytes of the shard this process wrote with `digest`, if they are still kept. */
export function writtenShard(digest: string): Uint8Array | undefined {
  return kept.get(digest);
}

/** Drops the kept shard of `digest`. */
function dropWrittenShard(digest: string): void {
  const b = kept.get(digest);
  if (!b) return;
  kept.delete(digest);
  keptBytes -= b.byteLength;
}

/** Drops every kept shard (a class job that has read them, a worker that stops). */
export function clearWrittenShards(): void {
  kept.clear();
  keptBytes = 0;
}

/** The bytes kept now (for tests and the budget's accounting). */
export function writtenShardBytes(): number {
  return keptBytes;
}
