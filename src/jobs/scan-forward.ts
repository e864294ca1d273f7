/**
 * The coordinator's side of a distributed scan's forward pass (issue 22, `scan-jobs.ts`): the
 * shards of records, aligned to the forward-pass batch, submitted to the workers, and the files
 * they wrote. Apart from the workers' side so that `scan --queue` can send its shards before it
 * loads the engine and the detectors (`cli/commands/scan-start.ts`).
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { type Dataset, numRecords } from '../data/dataset.js';
import { AntidoteError } from '../errors.js';
import type { QueueTarget } from './connection.js';
import type { RangeDigests } from './digest-cache.js';
import { recordRangeDigest } from './digests.js';
import { type JobPayload, type ModelRef, ScanShardResultSchema } from './payloads.js';
import { type RunProgress, runJobs } from './run-jobs.js';

/** The forward-pass batch of `computeRepresentations` (defenses/representations.ts). */
export const SCAN_BATCH = 1024;

/**
 * Records per shard of a scan of `records` records: `requested` (default a 256th of them, so at
 * most 256 jobs) rounded up to a multiple of {@link SCAN_BATCH}.
 */
export function scanShardRecords(records: number, requested?: number): number {
  return Math.max(1, Math.ceil((requested ?? Math.ceil(records / 256)) / SCAN_BATCH)) * SCAN_BATCH;
}

/** Activations of one layer for every record, `[n, dim]`. */
export interface ShardedRepresentations {
  readonly data: Float32Array;
  readonly dim: number;
}

/** Options of {@link representationsOnQueue}. */
export interface RepresentationsOnQueueOptions {
  /**
   * The scanned records as the coordinator read them (`dataset`, divided by 255 when it found
   * 0–255 images: `divideBy255`), and where workers read them (`spec`: a path on the shared
   * filesystem or a built-in name). Each shard job carries the digest of its own records.
   */
  readonly data: {
    readonly spec: string;
    readonly divideBy255: boolean;
  } & (
    | { readonly dataset: Dataset; readonly cached?: undefined }
    | {
        readonly dataset?: undefined;
        /**
         * The shards' digests from the cache of verified digests (`digest-cache.ts`): the shards
         * are submitted before the coordinator reads the data; `shard` must be the shard size
         * these options give.
         */
        readonly cached: RangeDigests;
      }
  );
  readonly model: ModelRef;
  /** Layer (default: the model's penultimate). */
  readonly layer?: string;
  /** Also the class probabilities of every record, from the same forward pass. */
  readonly probabilities?: boolean;
  /** Threads of each worker's forward pass (the single run's `--threads`). */
  readonly threads?: number;
  /**
   * Records per shard, rounded up to a multiple of {@link SCAN_BATCH}; default a 256th of the
   * records (at most 256 jobs, each at least one batch).
   */
  readonly shardRecords?: number;
  /** A directory on the shared filesystem for the shard files (created, then emptied). */
  readonly workDir: string;
  readonly onProgress?: (p: RunProgress) => void;
  readonly unreachableMs?: number;
  /** Called once every shard is on the queue (`RunJobsOptions.onSubmitted`). */
  readonly onSubmitted?: () => void | Promise<void>;
}

/** A file a worker wrote, with the SHA-256 it reported. */
export interface ReportedFile {
  readonly file: string;
  readonly digest: string;
}

/** One shard of a sharded forward pass: records `[start, end)`'s activations, in a file. */
export interface ForwardShard extends ReportedFile {
  readonly start: number;
  readonly end: number;
  /** `recordRangeDigest` of the shard's records, as the coordinator read them. */
  readonly recordDigest: string;
  /** The records' class probabilities, when asked for. */
  readonly probabilities?: ReportedFile;
}

/** The files of a sharded forward pass, on the shared filesystem (see {@link forwardPassOnQueue}). */
export interface ForwardShards {
  /** Where the records are (`spec`), and whether the coordinator divided them by 255. */
  readonly data: { readonly spec: string; readonly divideBy255: boolean };
  readonly dim: number;
  readonly records: number;
  /** Classes of the probabilities (0: not asked for). */
  readonly classes: number;
  readonly shards: readonly ForwardShard[];
}

/** The shard files of a forward pass, what reading them needs ({@link readForwardShards}). */
export type ForwardShardFiles = Omit<ForwardShards, 'data' | 'shards'> & {
  readonly shards: readonly Omit<ForwardShard, 'recordDigest'>[];
};

/**
 * The forward pass of every record, run by the workers of `target` in batch-aligned shards; the
 * shard files stay in `o.workDir` (the caller removes it) for {@link readForwardShards},
 * {@link readShardProbabilities} or the workers' per-class phase ({@link classPhasesOnQueue}).
 */
export async function forwardPassOnQueue(
  target: QueueTarget,
  o: RepresentationsOnQueueOptions,
): Promise<ForwardShards> {
  const { dataset, cached } = o.data;
  const records = dataset ? numRecords(dataset) : cached.records;
  const shard = scanShardRecords(records, o.shardRecords);
  if (cached && (cached.shard !== shard || cached.digests.length !== Math.ceil(records / shard))) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `the cached digests are of ${cached.digests.length} shards of ${cached.shard} records; this scan makes shards of ${shard}`,
    );
  }
  const digestOf = (k: number, start: number, end: number): string =>
    dataset ? recordRangeDigest(dataset, start, end) : cached.digests[k]!;
  await mkdir(o.workDir, { recursive: true });
  // Each shard's digest is computed when its job is submitted (runJobs submits the first ones
  // before it makes the rest): the workers start while the coordinator digests the other shards.
  const payloads: (() => Extract<JobPayload, { kind: 'scan-representations' }>)[] = [];
  const ranges: { start: number; end: number; digest?: string }[] = [];
  for (let start = 0; start < records; start += shard) {
    const end = Math.min(records, start + shard);
    const range: (typeof ranges)[number] = { start, end };
    const k = ranges.length;
    ranges.push(range);
    payloads.push(() => ({
      kind: 'scan-representations',
      records: {
        spec: o.data.spec,
        divideBy255: o.data.divideBy255,
        start,
        end,
        digest: (range.digest ??= digestOf(k, start, end)),
      },
      model: o.model,
      ...(o.layer !== undefined ? { layer: o.layer } : {}),
      batchSize: SCAN_BATCH,
      threads: o.threads ?? 1,
      outFile: join(o.workDir, `shard-${start}.f32`),
      ...(o.probabilities
        ? { probabilitiesFile: join(o.workDir, `shard-${start}.proba.f32`) }
        : {}),
    }));
  }
  const results = await runJobs(
    target,
    payloads.map((payload, k) => ({ payload, weight: ranges[k]!.end - ranges[k]!.start })),
    ScanShardResultSchema,
    {
      ...(o.onProgress ? { onProgress: o.onProgress } : {}),
      ...(o.unreachableMs !== undefined ? { unreachableMs: o.unreachableMs } : {}),
      ...(o.onSubmitted ? { onSubmitted: o.onSubmitted } : {}),
    },
  );
  const dim = results[0]?.dim ?? 0;
  const classes = o.probabilities ? (results[0]?.probabilities?.classes ?? 0) : 0;
  const shards = results.map((r, k): ForwardShard => {
    const { start, end, digest } = ranges[k]!;
    const p = r.probabilities;
    if (r.dim !== dim || r.records !== end - start || (p?.classes ?? 0) !== classes) {
      throw new AntidoteError(
        'SHAPE_MISMATCH',
        `shard ${start}–${end} holds ${r.records} records of dimension ${r.dim} (${p?.classes ?? 0} classes); expected ${end - start} of dimension ${dim} (${classes} classes)`,
      );
    }
    return {
      file: r.file,
      digest: r.digest,
      start,
      end,
      recordDigest: digest ?? digestOf(k, start, end),
      ...(p ? { probabilities: { file: p.file, digest: p.digest } } : {}),
    };
  });
  return {
    data: { spec: o.data.spec, divideBy255: o.data.divideBy255 },
    dim,
    records,
    classes,
    shards,
  };
}
