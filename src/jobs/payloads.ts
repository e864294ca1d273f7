/**
 * The zod schemas of the distributed jobs' payloads, progress and results (issue 22). A worker
 * parses every payload before it works and the coordinator every result before it merges: what
 * crosses Redis is never trusted as typed. Workers and coordinator share a filesystem: payloads
 * carry paths (datasets, models, shard files), never data, plus the digests that pin them.
 */
import { z } from 'zod';

const hex64 = z.string().regex(/^[0-9a-f]{64}$/);

/** A dataset a job reads: its spec (a path on the shared filesystem or a built-in name). */
export const DataRefSchema = z.strictObject({
  spec: z.string().min(1),
  /** Keep the first `limit` records only (the sweep spec's `trainLimit` / `testLimit`). */
  limit: z.number().int().positive().optional(),
  /** Read 0–255 images on the [0, 1] scale first (`normalizeRange`), as `scan` does. */
  normalize: z.boolean().optional(),
  /** `datasetDigest` of the records as the coordinator read them. */
  digest: hex64,
});
/** A dataset reference of a job. */
export type DataRef = z.infer<typeof DataRefSchema>;

/** A model a job reads: a model directory or `.onnx` file on the shared filesystem. */
export const ModelRefSchema = z.strictObject({
  path: z.string().min(1),
  /** `modelDigest` of the model's files. */
  digest: hex64,
  /** `loadModel` options (ONNX layout and normalisation overrides). */
  options: z.record(z.string(), z.unknown()).optional(),
});
/** A model reference of a job. */
export type ModelRef = z.infer<typeof ModelRefSchema>;

/** One training run of a sweep (a seed, a trigger and a rate): `runExperiment` on a worker. */
export const SweepRunPayloadSchema = z.strictObject({
  kind: z.literal('sweep-run'),
  name: z.string().optional(),
  train: DataRefSchema,
  test: DataRefSchema,
  attack: z.looseObject({ attack: z.enum(['backdoor', 'label-flip']) }),
  victim: z.looseObject({}),
  seed: z.number().int(),
});

/**
 * The records `[start, end)` of a dataset a scan shard reads: where they are, and the digest of
 * those records alone (`recordRangeDigest`) as the coordinator read them, so a worker checks only
 * what it works on.
 */
export const RecordRangeRefSchema = z.strictObject({
  spec: z.string().min(1),
  /** Divide the records by 255 (the coordinator found 0–255 images: `normalizeRange`). */
  divideBy255: z.boolean(),
  start: z.number().int().nonnegative(),
  end: z.number().int().positive(),
  /** `recordRangeDigest` of the records `[start, end)`, after the division. */
  digest: hex64,
});
/** A range of records a job reads. */
export type RecordRangeRef = z.infer<typeof RecordRangeRefSchema>;

/** The scanned records a per-class job may read, and each range's digest. */
export type RecordSetRef = NonNullable<z.infer<typeof ScanClassesPayloadSchema>['data']>;

/**
 * The forward pass over records `[start, end)` of a scan's dataset: their activations written to
 * `outFile`, and with `probabilitiesFile` their class probabilities from the same pass.
 */
export const ScanShardPayloadSchema = z.strictObject({
  kind: z.literal('scan-representations'),
  records: RecordRangeRefSchema,
  model: ModelRefSchema,
  layer: z.string().optional(),
  /** Forward-pass batch; shards start on a multiple of it, so the floats are the single run's. */
  batchSize: z.number().int().positive(),
  threads: z.number().int().positive(),
  outFile: z.string().min(1),
  probabilitiesFile: z.string().min(1).optional(),
});

/** A file on the shared filesystem and the SHA-256 of its bytes. */
const DigestedFileSchema = z.strictObject({ file: z.string().min(1), digest: hex64 });

/**
 * The per-class phase of class-phased detectors (`defenses/class-phases.ts`) on `classes`, from
 * the forward pass's shard files, written to `outFile`.
 */
export const ScanClassesPayloadSchema = z.strictObject({
  kind: z.literal('scan-classes'),
  /** Every record's label, int32 little-endian, written by the coordinator. */
  labels: DigestedFileSchema,
  model: ModelRefSchema,
  shards: z
    .array(
      z.strictObject({
        file: z.string().min(1),
        digest: hex64,
        start: z.number().int().nonnegative(),
        end: z.number().int().positive(),
      }),
    )
    .min(1),
  dim: z.number().int().positive(),
  records: z.number().int().positive(),
  classes: z.array(z.number().int().nonnegative()).min(1),
  /**
   * Where the scanned records are, with the digest of each forward shard's records: for the
   * detectors whose per-class phase reads input records (`tt`), each range it reads from is
   * checked first (once per worker).
   */
  data: z
    .strictObject({
      spec: z.string().min(1),
      divideBy255: z.boolean(),
      ranges: z
        .array(
          z.strictObject({
            start: z.number().int().nonnegative(),
            end: z.number().int().positive(),
            digest: hex64,
          }),
        )
        .min(1),
    })
    .optional(),
  /** Threads of the model's forward passes (the single run's `--threads`). */
  threads: z.number().int().positive().optional(),
  requests: z
    .array(
      z.strictObject({ method: z.string().min(1), options: z.record(z.string(), z.unknown()) }),
    )
    .min(1),
  outFile: z.string().min(1),
});

/** The digests of some files of a directory (a shard of `manifest create`). */
export const ManifestFilesPayloadSchema = z.strictObject({
  kind: z.literal('manifest-files'),
  dir: z.string().min(1),
  paths: z.array(z.string().min(1)).min(1),
});

/** The record digests of records `[start, end)` of a dataset directory (`manifest create`). */
export const ManifestRecordsPayloadSchema = z.strictObject({
  kind: z.literal('manifest-records'),
  data: DataRefSchema,
  start: z.number().int().nonnegative(),
  end: z.number().int().positive(),
});

/** Every job payload, told apart by `kind`. */
export const JobPayloadSchema = z.discriminatedUnion('kind', [
  SweepRunPayloadSchema,
  ScanShardPayloadSchema,
  ScanClassesPayloadSchema,
  ManifestFilesPayloadSchema,
  ManifestRecordsPayloadSchema,
]);
/** A job payload. */
export type JobPayload = z.infer<typeof JobPayloadSchema>;

/** A job's progress, as a worker reports it (`job.updateProgress`). */
export const JobProgressSchema = z.strictObject({
  done: z.number().nonnegative(),
  total: z.number().nonnegative(),
  stage: z.string().optional(),
});
/** A job's progress. */
export type JobProgress = z.infer<typeof JobProgressSchema>;

/** Result of a sweep run: the experiment result (checked in depth by its consumer's use). */
export const SweepRunResultSchema = z.looseObject({
  seed: z.number().int(),
  poison: z.looseObject({ count: z.number().int().nonnegative() }),
  poisoned: z.looseObject({ accuracy: z.number() }),
});

/** Result of a scan shard: where its activations (and probabilities) are, and their digests. */
export const ScanShardResultSchema = z.strictObject({
  file: z.string().min(1),
  digest: hex64,
  dim: z.number().int().positive(),
  records: z.number().int().positive(),
  /** The class probabilities `[records, classes]`, when the payload asked for them. */
  probabilities: z
    .strictObject({
      file: z.string().min(1),
      digest: hex64,
      classes: z.number().int().positive(),
    })
    .optional(),
});

/** Result of a per-class job: where its statistics are and their digest. */
export const ScanClassesResultSchema = z.strictObject({
  file: z.string().min(1),
  digest: hex64,
});

/** Result of a file shard: the files' digests, in the shard's order. */
export const ManifestFilesResultSchema = z.strictObject({
  files: z.array(
    z.strictObject({
      path: z.string().min(1),
      size: z.number().int().nonnegative(),
      digest: hex64,
    }),
  ),
});

/** Result of a record shard: record digests in record order, and their Merkle subtree root. */
export const ManifestRecordsResultSchema = z.strictObject({
  items: z.array(
    z.strictObject({
      id: z.string(),
      label: z.union([z.string(), z.number()]),
      source: z.string().optional(),
      features: hex64,
      digest: hex64,
    }),
  ),
  /** RFC 6962 root of the items' record digests, in the shard's order. */
  subtreeRoot: hex64,
});
