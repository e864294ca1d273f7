/**
 * The distributed scan (issue 22): the forward pass, the expensive part of a scan, is split into
 * shards of records aligned to the forward-pass batch (each worker runs the very batches the
 * single process would, so the activations are the same floats), written to the shared filesystem
 * and put back together at the coordinator, which then runs the detectors and the decision on
 * them as `scanDataset` always does: the same flagged set as `antidote scan`.
 */
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { numRecords, recordSize } from '../data/dataset.js';
import type { Classifier } from '../engine/classifier.js';
import { AntidoteError } from '../errors.js';
import { sha256Hex } from '../integrity/hash.js';
import { writeFileAtomic } from '../util/fs.js';
import type { QueueTarget } from './connection.js';
import { loadJobData, loadJobModel } from './job-data.js';
import { type DataRef, type JobPayload, type ModelRef, ScanShardResultSchema } from './payloads.js';
import { type RunProgress, runJobs } from './run-jobs.js';

/** The forward-pass batch of `computeRepresentations` (defenses/representations.ts). */
export const SCAN_BATCH = 1024;

/** Activations of one layer for every record, `[n, dim]`. */
export interface ShardedRepresentations {
  readonly data: Float32Array;
  readonly dim: number;
}

/** Options of {@link representationsOnQueue}. */
export interface RepresentationsOnQueueOptions {
  readonly data: DataRef;
  readonly model: ModelRef;
  /** Number of records of the dataset. */
  readonly records: number;
  /** Layer (default: the model's penultimate). */
  readonly layer?: string;
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
}

/**
 * The activations of every record, computed by the workers of `target` in shards and checked
 * (each shard file against the digest its worker reported, shapes against the record count).
 */
export async function representationsOnQueue(
  target: QueueTarget,
  o: RepresentationsOnQueueOptions,
): Promise<ShardedRepresentations> {
  const shard =
    Math.max(1, Math.ceil((o.shardRecords ?? Math.ceil(o.records / 256)) / SCAN_BATCH)) *
    SCAN_BATCH;
  await mkdir(o.workDir, { recursive: true });
  const payloads: JobPayload[] = [];
  for (let start = 0; start < o.records; start += shard) {
    payloads.push({
      kind: 'scan-representations',
      data: o.data,
      model: o.model,
      ...(o.layer !== undefined ? { layer: o.layer } : {}),
      start,
      end: Math.min(o.records, start + shard),
      batchSize: SCAN_BATCH,
      threads: o.threads ?? 1,
      outFile: join(o.workDir, `shard-${start}.f32`),
    });
  }
  try {
    const results = await runJobs(
      target,
      payloads.map((payload) => ({
        payload,
        weight:
          (payload as { end: number; start: number }).end - (payload as { start: number }).start,
      })),
      ScanShardResultSchema,
      {
        ...(o.onProgress ? { onProgress: o.onProgress } : {}),
        ...(o.unreachableMs !== undefined ? { unreachableMs: o.unreachableMs } : {}),
      },
    );
    const dim = results[0]?.dim ?? 0;
    const data = new Float32Array(o.records * dim);
    for (const [k, r] of results.entries()) {
      const p = payloads[k] as Extract<JobPayload, { kind: 'scan-representations' }>;
      const bytes = await readFile(r.file);
      if (sha256Hex(bytes) !== r.digest) {
        throw new AntidoteError(
          'INTEGRITY_MISMATCH',
          `shard file ${r.file} does not match the digest its worker reported`,
          { path: r.file },
        );
      }
      if (r.dim !== dim || r.records !== p.end - p.start || bytes.length !== r.records * dim * 4) {
        throw new AntidoteError(
          'SHAPE_MISMATCH',
          `shard ${p.start}–${p.end} holds ${bytes.length / 4} values of dimension ${r.dim}; expected ${(p.end - p.start) * dim}`,
        );
      }
      data.set(new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4), p.start * dim);
    }
    return { data, dim };
  } finally {
    await rm(o.workDir, { recursive: true, force: true });
  }
}

/**
 * `model`, answering `activations` of `layer` for records of `records` (subarrays of it, as the
 * batched forward pass asks) from `reps` instead of running the model; every other call, and
 * activations of other arrays or layers, go to `model`.
 */
export function withRepresentations(
  model: Classifier,
  records: Float32Array,
  size: number,
  layer: string | undefined,
  reps: ShardedRepresentations,
): Classifier {
  const n = Math.floor(records.length / Math.max(1, size));
  return {
    inputShape: model.inputShape,
    numClasses: model.numClasses,
    layerNames: model.layerNames,
    predictProba: (x, m) => model.predictProba(x, m),
    predict: (x, m) => model.predict(x, m),
    activations: async (x, m, l) => {
      if (l === layer && x.buffer === records.buffer && size > 0) {
        const offset = (x.byteOffset - records.byteOffset) / 4;
        const first = offset / size;
        if (Number.isInteger(first) && x.length === m * size && first + m <= n) {
          return {
            data: reps.data.slice(first * reps.dim, (first + m) * reps.dim),
            dim: reps.dim,
          };
        }
      }
      return model.activations(x, m, l);
    },
    ...(model.lossGradient
      ? { lossGradient: (x: Float32Array, y: Int32Array) => model.lossGradient!(x, y) }
      : {}),
  };
}

/** A worker's side of a scan shard: the forward pass over its records, to its shard file. */
export async function runScanShardJob(
  p: Extract<JobPayload, { kind: 'scan-representations' }>,
  progress: (done: number, total: number, stage: string) => void,
): Promise<{ file: string; digest: string; dim: number; records: number }> {
  const loaded = await loadJobData(p.data);
  const model = await loadJobModel(p.model);
  model.checkReads(loaded);
  model.useThreads(p.threads);
  const ds = model.featurize(loaded.dataset);
  const n = numRecords(ds);
  if (p.end > n || p.start >= p.end || p.start % p.batchSize !== 0) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `shard ${p.start}–${p.end} is not a batch-aligned range of the ${n} records`,
    );
  }
  const size = recordSize(ds);
  let out: Float32Array | undefined;
  let dim = 0;
  for (let s = p.start; s < p.end; s += p.batchSize) {
    const m = Math.min(p.batchSize, p.end - s);
    const a = await model.classifier.activations(
      ds.x.subarray(s * size, (s + m) * size),
      m,
      p.layer,
    );
    if (!out) {
      dim = a.dim;
      out = new Float32Array((p.end - p.start) * dim);
    }
    out.set(a.data, (s - p.start) * dim);
    progress(s + m - p.start, p.end - p.start, 'activations');
  }
  const bytes = new Uint8Array(out!.buffer, out!.byteOffset, out!.byteLength);
  await writeFileAtomic(p.outFile, bytes);
  return { file: p.outFile, digest: sha256Hex(bytes), dim, records: p.end - p.start };
}
