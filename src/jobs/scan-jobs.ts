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
import {
  CLASS_PHASED_DETECTORS,
  type ClassPhaseRequest,
  classPhasedDetector,
} from '../defenses/class-phases.js';
import { checkRepresentations } from '../defenses/representations.js';
import type { Classifier } from '../engine/classifier.js';
import { AntidoteError } from '../errors.js';
import { sha256Hex } from '../integrity/hash.js';
import { writeFileAtomic } from '../util/fs.js';
import type { QueueTarget } from './connection.js';
import { loadJobData, loadJobModel } from './job-data.js';
import {
  type DataRef,
  type JobPayload,
  type ModelRef,
  ScanClassesResultSchema,
  ScanShardResultSchema,
} from './payloads.js';
import { type RunProgress, runJobs } from './run-jobs.js';
import { decodeTyped, encodeTyped } from './typed-codec.js';

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

/** One shard of a sharded forward pass: records `[start, end)`'s activations, in a file. */
export interface ForwardShard {
  readonly file: string;
  /** SHA-256 of the file, as its worker reported it. */
  readonly digest: string;
  readonly start: number;
  readonly end: number;
}

/** The files of a sharded forward pass, on the shared filesystem (see {@link forwardPassOnQueue}). */
export interface ForwardShards {
  readonly dim: number;
  readonly records: number;
  readonly shards: readonly ForwardShard[];
}

/**
 * The forward pass of every record, run by the workers of `target` in batch-aligned shards; the
 * shard files stay in `o.workDir` (the caller removes it) for {@link readForwardShards} or the
 * workers' per-class phase ({@link classPhasesOnQueue}).
 */
export async function forwardPassOnQueue(
  target: QueueTarget,
  o: RepresentationsOnQueueOptions,
): Promise<ForwardShards> {
  const shard =
    Math.max(1, Math.ceil((o.shardRecords ?? Math.ceil(o.records / 256)) / SCAN_BATCH)) *
    SCAN_BATCH;
  await mkdir(o.workDir, { recursive: true });
  const payloads: Extract<JobPayload, { kind: 'scan-representations' }>[] = [];
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
  const results = await runJobs(
    target,
    payloads.map((payload) => ({ payload, weight: payload.end - payload.start })),
    ScanShardResultSchema,
    {
      ...(o.onProgress ? { onProgress: o.onProgress } : {}),
      ...(o.unreachableMs !== undefined ? { unreachableMs: o.unreachableMs } : {}),
    },
  );
  const dim = results[0]?.dim ?? 0;
  const shards = results.map((r, k) => {
    const p = payloads[k]!;
    if (r.dim !== dim || r.records !== p.end - p.start) {
      throw new AntidoteError(
        'SHAPE_MISMATCH',
        `shard ${p.start}–${p.end} holds ${r.records} records of dimension ${r.dim}; expected ${p.end - p.start} of dimension ${dim}`,
      );
    }
    return { file: r.file, digest: r.digest, start: p.start, end: p.end };
  });
  return { dim, records: o.records, shards };
}

/** A file a worker wrote, checked against the digest it reported (`INTEGRITY_MISMATCH`). */
async function readReported(what: string, file: string, digest: string): Promise<Buffer> {
  const bytes = await readFile(file);
  if (sha256Hex(bytes) !== digest) {
    throw new AntidoteError(
      'INTEGRITY_MISMATCH',
      `${what} file ${file} does not match the digest its worker reported`,
      { path: file },
    );
  }
  return bytes;
}

/**
 * The activations of every record from the files of a sharded forward pass, each file checked
 * against its digest (`INTEGRITY_MISMATCH`) and its size against its records (`SHAPE_MISMATCH`).
 */
export async function readForwardShards(f: ForwardShards): Promise<ShardedRepresentations> {
  const data = new Float32Array(f.records * f.dim);
  let covered = 0;
  for (const s of f.shards) {
    const bytes = await readReported('shard', s.file, s.digest);
    if (s.end > f.records || bytes.length !== (s.end - s.start) * f.dim * 4) {
      throw new AntidoteError(
        'SHAPE_MISMATCH',
        `shard ${s.start}–${s.end} holds ${bytes.length / 4} values; expected ${(s.end - s.start) * f.dim}`,
      );
    }
    data.set(new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4), s.start * f.dim);
    covered += s.end - s.start;
  }
  if (covered !== f.records) {
    throw new AntidoteError(
      'SHAPE_MISMATCH',
      `the shards cover ${covered} records of ${f.records}`,
    );
  }
  return { data, dim: f.dim };
}

/**
 * The activations of every record, computed by the workers of `target` in shards and checked
 * (each shard file against the digest its worker reported, shapes against the record count).
 */
export async function representationsOnQueue(
  target: QueueTarget,
  o: RepresentationsOnQueueOptions,
): Promise<ShardedRepresentations> {
  try {
    return await readForwardShards(await forwardPassOnQueue(target, o));
  } finally {
    await rm(o.workDir, { recursive: true, force: true });
  }
}

/** Options of {@link classPhasesOnQueue}. */
export interface ClassPhasesOnQueueOptions {
  readonly data: DataRef;
  readonly model: ModelRef;
  /** The forward pass's files (from {@link forwardPassOnQueue}). */
  readonly forward: ForwardShards;
  /** The scanned labels (one per record), for the order of the jobs and the check of the answers. */
  readonly y: Int32Array;
  readonly classes: number;
  /** A directory on the shared filesystem for the jobs' answers (created; the caller removes it). */
  readonly workDir: string;
  readonly onProgress?: (p: RunProgress) => void;
  readonly unreachableMs?: number;
}

/**
 * The per-class phase of class-phased detectors (`defenses/class-phases.ts`) on the workers of
 * `target`: one job per class (largest classes first, so two workers finish together), each
 * reading the forward pass's files and running every request on its class's records only.
 * Answers, per request, one statistics value per class in class order (a `ClassPhaseRunner` for
 * `scanDataset`'s `classPhases`).
 */
export async function classPhasesOnQueue(
  target: QueueTarget,
  o: ClassPhasesOnQueueOptions,
  requests: readonly ClassPhaseRequest[],
): Promise<unknown[][]> {
  await mkdir(o.workDir, { recursive: true });
  const counts = new Array<number>(o.classes).fill(0);
  for (const c of o.y) counts[c] = (counts[c] ?? 0) + 1;
  const order = counts.map((_, c) => c).sort((a, b) => counts[b]! - counts[a]! || a - b);
  const payloads = order.map(
    (c): Extract<JobPayload, { kind: 'scan-classes' }> => ({
      kind: 'scan-classes',
      data: o.data,
      model: o.model,
      shards: o.forward.shards.map((s) => ({ ...s })),
      dim: o.forward.dim,
      records: o.forward.records,
      classes: [c],
      requests: requests.map((r) => ({ method: r.method, options: { ...r.options } })),
      outFile: join(o.workDir, `class-${c}.atc`),
    }),
  );
  const results = await runJobs(
    target,
    payloads.map((payload, k) => ({ payload, weight: Math.max(1, counts[order[k]!]!) })),
    ScanClassesResultSchema,
    {
      ...(o.onProgress ? { onProgress: o.onProgress } : {}),
      ...(o.unreachableMs !== undefined ? { unreachableMs: o.unreachableMs } : {}),
    },
  );
  const answers: unknown[][] = requests.map(() => new Array<unknown>(o.classes));
  for (const [k, r] of results.entries()) {
    const bytes = await readReported('class', r.file, r.digest);
    const decoded = decodeTyped(bytes) as { classes?: { classIndex: number; stats: unknown[] }[] };
    const c = order[k]!;
    const entry = decoded.classes?.[0];
    if (!entry || entry.classIndex !== c || entry.stats.length !== requests.length) {
      throw new AntidoteError('SHAPE_MISMATCH', `the answer for class ${c} is not that class's`);
    }
    entry.stats.forEach((st, j) => {
      answers[j]![c] = st ?? undefined;
    });
  }
  return answers;
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

/** The worker's cached activations: the last forward pass it read, by its shards' digests. */
let repsCache: { key: string; reps: ShardedRepresentations } | undefined;

/** Drops the worker's cached activations (a worker that stops). */
export function clearScanCache(): void {
  repsCache = undefined;
}

/**
 * A worker's side of a per-class job: the activations of the forward pass (read once per scan and
 * kept), the class's rows, and each requested detector's per-class phase on them, written to the
 * job's file ({@link encodeTyped}).
 */
export async function runScanClassJob(
  p: Extract<JobPayload, { kind: 'scan-classes' }>,
  progress: (done: number, total: number, stage: string) => void,
): Promise<{ file: string; digest: string }> {
  const loaded = await loadJobData(p.data);
  // The model is loaded (and checked) as for the forward pass: it starts the same engine, whose
  // matrix product the numeric routines use when it is active (numeric/accelerator.ts).
  const model = await loadJobModel(p.model);
  const y = model.featurize(loaded.dataset).y;
  if (y.length !== p.records) {
    throw new AntidoteError(
      'SHAPE_MISMATCH',
      `the dataset has ${y.length} records, the forward pass ${p.records}`,
    );
  }
  const detectors = p.requests.map((r) => {
    const d = classPhasedDetector(r.method);
    if (!d) {
      throw new AntidoteError(
        'INVALID_ARGUMENT',
        `"${r.method}" has no per-class phase; class-phased detectors: ${Object.keys(CLASS_PHASED_DETECTORS).join(', ')}`,
      );
    }
    return d;
  });
  const key = p.shards.map((s) => s.digest).join(',');
  if (repsCache?.key !== key) {
    repsCache = undefined;
    const reps = await readForwardShards({ dim: p.dim, records: p.records, shards: p.shards });
    repsCache = { key, reps };
  }
  const { reps } = repsCache;
  const out: { classIndex: number; stats: unknown[] }[] = [];
  for (const c of p.classes) {
    const indices = Int32Array.from(
      (function* () {
        for (let i = 0; i < y.length; i++) if (y[i] === c) yield i;
      })(),
    );
    const data = new Float32Array(indices.length * reps.dim);
    indices.forEach((i, r) => {
      data.set(reps.data.subarray(i * reps.dim, (i + 1) * reps.dim), r * reps.dim);
    });
    const classReps = { data, dim: reps.dim };
    checkRepresentations(classReps, indices.length);
    const rows = Int32Array.from({ length: indices.length }, (_, r) => r);
    const stats: unknown[] = [];
    for (const [j, d] of detectors.entries()) {
      progress(j, detectors.length, d.name);
      stats.push(d.perClass(classReps, rows, indices, c, p.requests[j]!.options));
      // Lets the worker renew its job lock between detectors (each phase is synchronous).
      await new Promise((resolve) => setImmediate(resolve));
    }
    out.push({ classIndex: c, stats });
  }
  const bytes = encodeTyped({ classes: out });
  await writeFileAtomic(p.outFile, bytes);
  return { file: p.outFile, digest: sha256Hex(bytes) };
}
