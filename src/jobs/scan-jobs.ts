/**
 * The distributed scan (issue 22): the forward pass, the expensive part of a scan, is split into
 * shards of records aligned to the forward-pass batch (each worker runs the very batches the
 * single process would, so the activations and class probabilities are the same floats), written
 * to the shared filesystem; then the per-class phase of the class-phased detectors runs on the
 * workers, one job per class; the coordinator runs their cross-class phase, the other detectors
 * (on the shards' activations and probabilities) and the decision as `scanDataset` always does:
 * the same flagged set as `antidote scan`. A shard's worker reads and checks only its records
 * (`loadJobRecords`); a class job reads the labels the coordinator wrote and the shard files,
 * each checked against its digest.
 */
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { type Dataset, numRecords, recordSize } from '../data/dataset.js';
import {
  CLASS_PHASED_DETECTORS,
  type ClassPhaseContext,
  type ClassPhaseRequest,
  classPhasedDetector,
} from '../defenses/class-phases.js';
import { checkRepresentations } from '../defenses/representations.js';
import type { Model } from '../engine/model.js';
import { AntidoteError } from '../errors.js';
import { sha256Hex } from '../integrity/hash.js';
import { writeFileAtomic } from '../util/fs.js';
import type { QueueTarget } from './connection.js';
import { loadJobModel, loadJobRecords, loadJobRecordsOf } from './job-data.js';
import { type JobPayload, type ModelRef, ScanClassesResultSchema } from './payloads.js';
import { type RunProgress, runJobs } from './run-jobs.js';
import {
  type ForwardShardFiles,
  type ForwardShards,
  forwardPassOnQueue,
  type ReportedFile,
  type RepresentationsOnQueueOptions,
  type ShardedRepresentations,
} from './scan-forward.js';
import { decodeTyped, encodeTyped } from './typed-codec.js';
import { clearWrittenShards, keepWrittenShard, writtenShard } from './written-shards.js';

export {
  type ForwardShard,
  type ForwardShardFiles,
  type ForwardShards,
  forwardPassOnQueue,
  type ReportedFile,
  type RepresentationsOnQueueOptions,
  SCAN_BATCH,
  type ShardedRepresentations,
  scanShardRecords,
} from './scan-forward.js';

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
 * Rows of `width` values per record from one file per shard (`pick`), checked against the
 * digests the workers reported (`INTEGRITY_MISMATCH`) and their sizes (`SHAPE_MISMATCH`); a
 * shard whose bytes `kept` holds (by digest: ones this process wrote and hashed) is not read.
 */
async function readShardRows(
  f: ForwardShardFiles,
  width: number,
  what: string,
  pick: (s: ForwardShardFiles['shards'][number]) => ReportedFile | undefined,
  kept?: (digest: string) => Uint8Array | undefined,
): Promise<Float32Array> {
  const data = new Float32Array(f.records * width);
  let covered = 0;
  for (const s of f.shards) {
    const file = pick(s);
    if (!file) {
      throw new AntidoteError('SHAPE_MISMATCH', `shard ${s.start}–${s.end} has no ${what}`);
    }
    const bytes = kept?.(file.digest) ?? (await readReported(what, file.file, file.digest));
    if (s.end > f.records || bytes.length !== (s.end - s.start) * width * 4) {
      throw new AntidoteError(
        'SHAPE_MISMATCH',
        `shard ${s.start}–${s.end} holds ${bytes.length / 4} values of ${what}; expected ${(s.end - s.start) * width}`,
      );
    }
    data.set(new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4), s.start * width);
    covered += s.end - s.start;
  }
  if (covered !== f.records) {
    throw new AntidoteError(
      'SHAPE_MISMATCH',
      `the shards cover ${covered} records of ${f.records}`,
    );
  }
  return data;
}

/**
 * The activations of every record from the files of a sharded forward pass, each file checked
 * against its digest (`INTEGRITY_MISMATCH`) and its size against its records (`SHAPE_MISMATCH`).
 * `kept` gives the bytes of shards this process wrote itself, by digest (`jobs/written-shards.ts`):
 * those are taken as they are, not read from their files.
 */
export async function readForwardShards(
  f: ForwardShardFiles,
  kept?: (digest: string) => Uint8Array | undefined,
): Promise<ShardedRepresentations> {
  return { data: await readShardRows(f, f.dim, 'shard', (s) => s, kept), dim: f.dim };
}

/**
 * The class probabilities of every record (`[records, classes]`) from the files of a sharded
 * forward pass that asked for them, checked as {@link readForwardShards} checks activations.
 */
export async function readShardProbabilities(f: ForwardShardFiles): Promise<Float32Array> {
  if (f.classes < 1) {
    throw new AntidoteError('INVALID_ARGUMENT', 'this forward pass did not compute probabilities');
  }
  return readShardRows(f, f.classes, 'probabilities', (s) => s.probabilities);
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
  readonly model: ModelRef;
  /** The forward pass's files (from {@link forwardPassOnQueue}). */
  readonly forward: ForwardShards;
  /**
   * The scanned labels (one per record): written for the workers (with their digest), and the
   * order of the jobs.
   */
  readonly y: Int32Array;
  readonly classes: number;
  /** Threads of the model's forward passes on the workers (the single run's `--threads`). */
  readonly threads?: number;
  /** A directory on the shared filesystem for the jobs' answers (created; the caller removes it). */
  readonly workDir: string;
  readonly onProgress?: (p: RunProgress) => void;
  readonly unreachableMs?: number;
  /** Called once every class job is on the queue (`RunJobsOptions.onSubmitted`). */
  readonly onSubmitted?: () => void | Promise<void>;
}

/**
 * The per-class phase of class-phased detectors (`defenses/class-phases.ts`) on the workers of
 * `target`: one job per class and group of requests (a detector whose per-class phase reads input
 * records, `tt`, alone; the others together), largest classes first so that the workers finish
 * together, each reading the forward pass's files (once per worker and scan) and running its
 * requests on its class's records only.
 * Answers, per request, one statistics value per class in class order (a `ClassPhaseRunner` for
 * `scanDataset`'s `classPhases`).
 */
export async function classPhasesOnQueue(
  target: QueueTarget,
  o: ClassPhasesOnQueueOptions,
  requests: readonly ClassPhaseRequest[],
): Promise<unknown[][]> {
  await mkdir(o.workDir, { recursive: true });
  const labelBytes = new Uint8Array(Int32Array.from(o.y).buffer);
  const labels = { file: join(o.workDir, 'labels.i32'), digest: sha256Hex(labelBytes) };
  await writeFileAtomic(labels.file, labelBytes);
  const counts = new Array<number>(o.classes).fill(0);
  for (const c of o.y) counts[c] = (counts[c] ?? 0) + 1;
  const order = counts.map((_, c) => c).sort((a, b) => counts[b]! - counts[a]! || a - b);
  // Detectors whose per-class phase reads input records (tt) check the ranges they read from.
  const data = {
    ...o.forward.data,
    ranges: o.forward.shards.map((s) => ({ start: s.start, end: s.end, digest: s.recordDigest })),
  };
  // One job per class and group of requests: each detector that reads records alone (tt runs the
  // model), the others together. Jobs of about equal cost, largest classes first, so that two
  // workers finish together.
  const reading = requests.flatMap((r, j) =>
    classPhasedDetector(r.method)?.readsRecords ? [j] : [],
  );
  const rest = requests.flatMap((r, j) => (classPhasedDetector(r.method)?.readsRecords ? [] : [j]));
  const groups = [...reading.map((j) => [j]), ...(rest.length > 0 ? [rest] : [])];
  const jobs = order.flatMap((c) => groups.map((js) => ({ c, js })));
  const shards = o.forward.shards.map((s) => ({
    file: s.file,
    digest: s.digest,
    start: s.start,
    end: s.end,
  }));
  const payloads = jobs.map(
    ({ c, js }, k): Extract<JobPayload, { kind: 'scan-classes' }> => ({
      kind: 'scan-classes',
      labels,
      model: o.model,
      shards,
      dim: o.forward.dim,
      records: o.forward.records,
      classes: [c],
      ...(js.some((j) => reading.includes(j)) ? { data } : {}),
      ...(o.threads !== undefined ? { threads: o.threads } : {}),
      requests: js.map((j) => ({
        method: requests[j]!.method,
        options: { ...requests[j]!.options },
      })),
      outFile: join(o.workDir, `class-${c}-${k}.atc`),
    }),
  );
  const answers: unknown[][] = requests.map(() => new Array<unknown>(o.classes));
  /** Job `k`'s answer file, checked and decoded into `answers`. */
  const readAnswer = async (k: number, r: { file: string; digest: string }): Promise<void> => {
    const bytes = await readReported('class', r.file, r.digest);
    const decoded = decodeTyped(bytes) as { classes?: { classIndex: number; stats: unknown[] }[] };
    const { c, js } = jobs[k]!;
    const entry = decoded.classes?.[0];
    if (!entry || entry.classIndex !== c || entry.stats.length !== js.length) {
      throw new AntidoteError('SHAPE_MISMATCH', `the answer for class ${c} is not that class's`);
    }
    js.forEach((j, t) => {
      answers[j]![c] = entry.stats[t] ?? undefined;
    });
  };
  // Each answer is read as its job ends (the coordinator waits anyway), not all after the last.
  const reads: Promise<void>[] = [];
  const results = await runJobs(
    target,
    payloads.map((payload, k) => ({ payload, weight: Math.max(1, counts[jobs[k]!.c]!) })),
    ScanClassesResultSchema,
    {
      ...(o.onProgress ? { onProgress: o.onProgress } : {}),
      ...(o.unreachableMs !== undefined ? { unreachableMs: o.unreachableMs } : {}),
      ...(o.onSubmitted ? { onSubmitted: o.onSubmitted } : {}),
      onResult: (k, r) => {
        const read = readAnswer(k, r as { file: string; digest: string }); // validated
        read.catch(() => {}); // awaited below
        reads.push(read);
      },
    },
  );
  await Promise.all(reads);
  if (reads.length !== results.length) {
    throw new AntidoteError('INVALID_STATE', `${reads.length} of ${results.length} answers read`);
  }
  return answers;
}

/**
 * A worker's side of a scan shard: its records alone, checked against their digest, then the
 * forward pass over them (activations, and the class probabilities of the same pass when asked),
 * to the shard's files.
 */
export async function runScanShardJob(
  p: Extract<JobPayload, { kind: 'scan-representations' }>,
  progress: (done: number, total: number, stage: string) => void,
): Promise<{
  file: string;
  digest: string;
  dim: number;
  records: number;
  probabilities?: { file: string; digest: string; classes: number };
}> {
  const { start, end } = p.records;
  if (start % p.batchSize !== 0) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `shard ${start}–${end} does not start on a forward-pass batch (${p.batchSize})`,
    );
  }
  const loaded = await loadJobRecords(p.records);
  const model = await loadJobModel(p.model);
  model.checkReads(loaded);
  model.useThreads(p.threads);
  const ds = model.featurize(loaded.dataset);
  const n = numRecords(ds);
  const size = recordSize(ds);
  const c = model.classifier;
  const k = c.numClasses;
  const both = p.probabilitiesFile !== undefined;
  let out: Float32Array | undefined;
  const probs = both ? new Float32Array(n * k) : undefined;
  let dim = 0;
  for (let s = 0; s < n; s += p.batchSize) {
    const m = Math.min(p.batchSize, n - s);
    const x = ds.x.subarray(s * size, (s + m) * size);
    // The calls `computeRepresentations` makes (defenses/representations.ts): the same floats.
    const a: { data: Float32Array; dim: number; probabilities?: Float32Array } = !both
      ? await c.activations(x, m, p.layer)
      : c.activationsAndProba
        ? await c.activationsAndProba(x, m, p.layer)
        : { ...(await c.activations(x, m, p.layer)), probabilities: await c.predictProba(x, m) };
    if (!out) {
      dim = a.dim;
      out = new Float32Array(n * dim);
    }
    out.set(a.data, s * dim);
    if (probs) probs.set(a.probabilities!, s * k);
    progress(s + m, n, 'activations');
  }
  const bytes = new Uint8Array(out!.buffer, out!.byteOffset, out!.byteLength);
  await writeFileAtomic(p.outFile, bytes);
  const digest = sha256Hex(bytes);
  // This worker's class jobs take the shard from memory: these bytes are what `digest` names.
  keepWrittenShard(digest, bytes);
  let probabilities: { file: string; digest: string; classes: number } | undefined;
  if (probs && p.probabilitiesFile) {
    const pb = new Uint8Array(probs.buffer);
    await writeFileAtomic(p.probabilitiesFile, pb);
    probabilities = { file: p.probabilitiesFile, digest: sha256Hex(pb), classes: k };
  }
  return {
    file: p.outFile,
    digest,
    dim,
    records: n,
    ...(probabilities ? { probabilities } : {}),
  };
}

/**
 * The worker's cached forward pass: the activations it last read (by its shards' digests) and
 * the labels (by their digest), kept across the class jobs of one scan. The same label array
 * lets the detectors' per-scan caches (`tt`'s class-means span) serve every class job of the
 * worker instead of being recomputed per job.
 */
let repsCache: { key: string; reps: ShardedRepresentations } | undefined;
let labelsCache: { digest: string; records: number; y: Int32Array } | undefined;

/** The kept dataset as the last model featurized it (`model.featurize` of every record, once). */
let featurizedCache: { model: Model; source: Dataset; ds: Dataset } | undefined;

/** `model.featurize(source)`, kept for the next call with the same model and kept dataset. */
function featurizedOf(model: Model, source: Dataset): Dataset {
  if (featurizedCache?.model !== model || featurizedCache.source !== source) {
    featurizedCache = { model, source, ds: model.featurize(source) };
  }
  return featurizedCache.ds;
}

/** Drops the worker's cached activations and labels (a worker that stops). */
export function clearScanCache(): void {
  clearWrittenShards();
  repsCache = undefined;
  labelsCache = undefined;
  featurizedCache = undefined;
}

/** The scan's labels from the file the coordinator wrote, checked against its digest (kept). */
async function scanLabels(p: Extract<JobPayload, { kind: 'scan-classes' }>): Promise<Int32Array> {
  if (labelsCache?.digest === p.labels.digest && labelsCache.records === p.records) {
    return labelsCache.y;
  }
  labelsCache = undefined;
  const labelBytes = await readReported('labels', p.labels.file, p.labels.digest);
  if (labelBytes.length !== p.records * 4) {
    throw new AntidoteError(
      'SHAPE_MISMATCH',
      `the labels file holds ${labelBytes.length / 4} labels, the forward pass ${p.records} records`,
    );
  }
  const y = new Int32Array(
    labelBytes.buffer.slice(labelBytes.byteOffset, labelBytes.byteOffset + labelBytes.length),
  );
  labelsCache = { digest: p.labels.digest, records: p.records, y };
  return y;
}

/** The records labelled `c`, ascending (the class's entry of `indicesByClass`). */
export function recordsOfClass(y: Int32Array, c: number): Int32Array {
  let m = 0;
  for (let i = 0; i < y.length; i++) if (y[i] === c) m++;
  const out = new Int32Array(m);
  for (let i = 0, k = 0; k < m; i++) if (y[i] === c) out[k++] = i;
  return out;
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
  // The model is loaded (and checked) as for the forward pass: it starts the same engine, whose
  // matrix product the numeric routines use when it is active (numeric/accelerator.ts).
  const model = await loadJobModel(p.model);
  if (p.threads !== undefined) model.useThreads(p.threads);
  const y = await scanLabels(p);
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
    const reps = await readForwardShards(
      { dim: p.dim, records: p.records, classes: 0, shards: p.shards },
      writtenShard,
    );
    // Read: the kept shards are copied (those of another scan, rarely on this worker, would be
    // read from their files).
    clearWrittenShards();
    // Every record's activations, checked once per scan as the single process checks them
    // before its detectors (the class jobs read their class's rows, `tt` every row).
    checkRepresentations(reps, p.records);
    repsCache = { key, reps };
  }
  const { reps } = repsCache;
  const context: ClassPhaseContext | undefined = detectors.some((d) => d.readsRecords)
    ? {
        all: reps,
        y,
        model: model.classifier,
        records: async (indices) => {
          if (!p.data) {
            throw new AntidoteError(
              'INVALID_ARGUMENT',
              'this per-class job reads input records, but its payload names none',
            );
          }
          // The records where the worker keeps them (checked, featurized once per model), as
          // the single process reads them from its featurized dataset: no copy per call.
          const loaded = await loadJobRecordsOf(p.data, indices);
          model.checkReads(loaded);
          const ds = featurizedOf(model, loaded.dataset);
          const size = recordSize(ds);
          return { x: ds.x, size, offset: (i) => i * size };
        },
      }
    : undefined;
  const out: { classIndex: number; stats: unknown[] }[] = [];
  for (const c of p.classes) {
    // The class's rows of every record's activations, as the single process calls the per-class
    // phases (`activationClustering`, `spectralSignatures`): no copy of the class's rows per job
    // (docs/scale.md, tenth pass). What goes back holds no part of `reps` (`portable`: `ac`'s
    // spaces that are rows of `reps` are copied to the class's rows).
    const indices = recordsOfClass(y, c);
    const stats: unknown[] = [];
    for (const [j, d] of detectors.entries()) {
      progress(j, detectors.length, d.name);
      const st = await d.perClass(reps, indices, indices, c, p.requests[j]!.options, context);
      stats.push(d.portable ? d.portable(st, reps) : st);
      // Lets the worker renew its job lock between detectors (each phase is synchronous).
      await new Promise((resolve) => setImmediate(resolve));
    }
    out.push({ classIndex: c, stats });
  }
  const bytes = encodeTyped({ classes: out });
  await writeFileAtomic(p.outFile, bytes);
  return { file: p.outFile, digest: sha256Hex(bytes) };
}
