/**
 * The distributed `manifest create` (issue 22): workers hash shards of the directory's files and
 * of the dataset's records; the coordinator puts the file digests back in path order (the same
 * root digest) and merges the shards' Merkle subtrees into the records' Merkle root. Record shards
 * hold a power of two of records, so when the records are already in id order each shard's root is
 * a node of the RFC 6962 tree of all of them and the subtree roots merge into the root with no
 * record hashed twice; otherwise the coordinator sorts the digests and builds the root itself.
 * Either way the manifest is the one `createManifest` writes.
 */
import { resolve } from 'node:path';
import { type Dataset, numRecords } from '../data/dataset.js';
import { readDatasetDir } from '../data/dataset-dir.js';
import { recordViews } from '../data/record-view.js';
import { AntidoteError } from '../errors.js';
import {
  assembleManifest,
  DEFAULT_IGNORE,
  hashFiles,
  listFiles,
  type Manifest,
  type ManifestFile,
  type ManifestRecords,
  recordsRootOf,
} from '../integrity/manifest.js';
import { leafHash, merkleRootOfLeafHashes } from '../integrity/merkle.js';
import { hashRecord, type RecordDigest } from '../integrity/record-hash.js';
import type { QueueTarget } from './connection.js';
import { checkDigest, datasetDigest } from './digests.js';
import { dataRef } from './job-data.js';
import {
  type JobPayload,
  ManifestFilesResultSchema,
  ManifestRecordsResultSchema,
} from './payloads.js';
import { type RunProgress, runJobs } from './run-jobs.js';

/** Options of {@link manifestOnQueue}. */
export interface ManifestOnQueueOptions {
  readonly name?: string;
  /** The dataset of `dir` (a dataset directory), whose records the manifest hashes. */
  readonly dataset?: Dataset;
  /** Files per shard; default 64. */
  readonly filesPerShard?: number;
  /** Records per shard, rounded up to a power of two; default 4096. */
  readonly recordsPerShard?: number;
  readonly onProgress?: (p: RunProgress) => void;
  readonly unreachableMs?: number;
}

/** The smallest power of two ≥ `n` (and ≥ 1). */
function powerOfTwo(n: number): number {
  let k = 1;
  while (k < n) k *= 2;
  return k;
}

/**
 * The manifest of `dir` (see `createManifest`), hashed by the workers of `target`; the same
 * manifest, byte for byte, as the single-process `createManifest`.
 */
export async function manifestOnQueue(
  target: QueueTarget,
  dir: string,
  o: ManifestOnQueueOptions = {},
): Promise<Manifest> {
  const ignore = [...new Set(DEFAULT_IGNORE)].sort();
  const paths = await listFiles(dir, ignore);
  const abs = resolve(dir);
  const perFiles = Math.max(1, o.filesPerShard ?? 64);
  const payloads: { payload: JobPayload; weight: number }[] = [];
  for (let i = 0; i < paths.length; i += perFiles) {
    const part = paths.slice(i, i + perFiles);
    payloads.push({
      payload: { kind: 'manifest-files', dir: abs, paths: part },
      weight: part.length,
    });
  }
  const fileJobs = payloads.length;
  const perRecords = powerOfTwo(o.recordsPerShard ?? 4096);
  if (o.dataset) {
    const ref = dataRef(abs, o.dataset);
    const n = numRecords(o.dataset);
    for (let start = 0; start < n; start += perRecords) {
      const end = Math.min(n, start + perRecords);
      payloads.push({
        payload: { kind: 'manifest-records', data: ref, start, end },
        weight: end - start,
      });
    }
  }
  const results = await runJobs(
    target,
    payloads,
    ManifestFilesResultSchema.or(ManifestRecordsResultSchema),
    {
      ...(o.onProgress ? { onProgress: o.onProgress } : {}),
      ...(o.unreachableMs !== undefined ? { unreachableMs: o.unreachableMs } : {}),
    },
  );
  const files: ManifestFile[] = results
    .slice(0, fileJobs)
    .flatMap((r) => (r as { files: ManifestFile[] }).files);
  if (files.length !== paths.length || files.some((f, i) => f.path !== paths[i])) {
    throw new AntidoteError('INVALID_FORMAT', 'the file shards do not cover the listed files');
  }
  const shards = results.slice(fileJobs) as { items: RecordDigest[]; subtreeRoot: string }[];
  const records = o.dataset ? mergeRecordShards(shards) : undefined;
  return assembleManifest(dir, {
    ignore,
    files,
    ...(records ? { records } : {}),
    ...(o.name ? { name: o.name } : {}),
  });
}

const byId = (a: RecordDigest, b: RecordDigest) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/**
 * The records part of a manifest from record shards in record order: the shards' subtree roots
 * merged when the records are in strictly increasing id order, else the sorted digests' root.
 * Duplicate ids are rejected as `hashRecords` rejects them.
 */
export function mergeRecordShards(
  shards: readonly { items: readonly RecordDigest[]; subtreeRoot: string }[],
): ManifestRecords {
  const items = shards.flatMap((s) => s.items);
  const sorted = items.every((r, i) => i === 0 || items[i - 1]!.id < r.id);
  if (sorted) {
    const root = merkleRootOfLeafHashes(shards.map((s) => Buffer.from(s.subtreeRoot, 'hex')));
    return { count: items.length, merkleRoot: root.toString('hex'), items };
  }
  items.sort(byId);
  for (let i = 1; i < items.length; i++) {
    if (items[i]!.id === items[i - 1]!.id) {
      throw new AntidoteError('INVALID_FORMAT', `record id "${items[i]!.id}" appears twice`, {
        id: items[i]!.id,
      });
    }
  }
  return { count: items.length, merkleRoot: recordsRootOf(items), items };
}

/** A worker's side of a file shard. */
export async function runManifestFilesJob(
  p: Extract<JobPayload, { kind: 'manifest-files' }>,
  progress: (done: number, total: number, stage: string) => void,
): Promise<{ files: ManifestFile[] }> {
  const files = await hashFiles(p.dir, p.paths, 4, (done) =>
    progress(done, p.paths.length, 'files'),
  );
  return { files };
}

/** A worker's side of a record shard: record digests and their Merkle subtree root. */
export async function runManifestRecordsJob(
  p: Extract<JobPayload, { kind: 'manifest-records' }>,
  progress: (done: number, total: number, stage: string) => void,
): Promise<{ items: RecordDigest[]; subtreeRoot: string }> {
  const { dataset } = await readDatasetDir(p.data.spec, { checkFinite: false });
  checkDigest(`dataset ${p.data.spec}`, p.data.digest, datasetDigest(dataset));
  if (p.end > numRecords(dataset) || p.start >= p.end) {
    throw new AntidoteError('INVALID_ARGUMENT', `records ${p.start}–${p.end} are out of range`);
  }
  const items: RecordDigest[] = [];
  let i = 0;
  for (const view of recordViews(dataset)) {
    if (i >= p.end) break;
    if (i++ < p.start) continue;
    items.push(hashRecord(view));
    if (items.length % 1024 === 0) progress(items.length, p.end - p.start, 'records');
  }
  const root = merkleRootOfLeafHashes(items.map((r) => leafHash(Buffer.from(r.digest, 'hex'))));
  return { items, subtreeRoot: root.toString('hex') };
}
