import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { AntidoteError } from '../errors.js';
import { fastRecordArrays, type RecordArrays, zodRecordArrays } from '../util/record-arrays.js';
import type { ClassFinding, DetectionReport, FindingValue } from './detector.js';

/**
 * The scan report written by `antidote scan` (`report.json` in the report directory) and its zod
 * schema: every reader (`antidote mitigate`, the model registry) parses it with
 * {@link parseScanReport}, so a hand-edited or truncated report fails with the field it breaks.
 */

/** `format` of a scan report. */
export const SCAN_REPORT_FORMAT = 'antidote-scan';
/** File name of the report inside a scan report directory. */
export const SCAN_REPORT_FILE = 'report.json';

/** What a detector found in one class, as written (extra fields are kept). */
const classFindingSchema = z.looseObject({
  classIndex: z.int().min(0),
  className: z.string(),
  count: z.int().min(0),
  flagged: z.int().min(0),
  suspicious: z.boolean(),
  strength: z.number().optional(),
  reason: z.string(),
  stats: z.record(z.string(), z.unknown()).default({}),
});

/** The scan report's schemas, its per-record arrays checked by `a`. */
function reportSchemas<A extends RecordArrays>(a: A) {
  /** One detector's report as written by `reportToJSON` (typed arrays as plain arrays). */
  const detectionReport = z
    .object({
      method: z.string().min(1),
      ids: a.strings.optional(),
      scores: a.numbers,
      flagged: a.flags,
      perClass: z.array(classFindingSchema),
      params: z.record(z.string(), z.unknown()).default({}),
      suggestedLabels: a.ints.optional(),
    })
    .superRefine((r, ctx) => {
      const n = r.scores.length;
      for (const key of ['flagged', 'ids', 'suggestedLabels'] as const) {
        const v = r[key];
        if (v !== undefined && v.length !== n) {
          ctx.addIssue({
            code: 'custom',
            path: [key],
            message: `must have one entry per score (${n}), has ${v.length}`,
          });
        }
      }
    });

  /** The merged decision of the scan (see `scanDecision` in `scan.ts`). */
  const decision = z.object({
    /** Registry names of the detectors merged, e.g. `["ac", "ss", "spectre"]`. */
    detectors: z.array(z.string()).min(1),
    /** Detectors that must agree to flag a record (before corroboration). */
    quorum: z.int().min(1),
    /** The decision per record: 1 = flagged. */
    flagged: a.flags,
    /** Number of detectors flagging each record. */
    votes: a.counts,
    /** Mean percentile rank per record (higher = more suspicious). */
    suspicion: a.numbers,
    /** Ids of the flagged records, in record order. */
    flaggedIds: a.strings,
  });

  /** The document `antidote scan` writes as `report.json`. */
  const report = z.object({
    format: z.literal(SCAN_REPORT_FORMAT),
    version: z.literal(1),
    /** The dataset and model arguments of the scan. */
    data: z.string().optional(),
    model: z.string().optional(),
    /** How the model's records were prepared (ONNX models: layout, normalisation, tokenisation). */
    preprocessing: z.record(z.string(), z.unknown()).optional(),
    records: z.int().min(0),
    /** Each detector's report, by registry name. */
    methods: z.record(z.string(), detectionReport),
    /** The merged decision (absent in reports written before it was recorded). */
    decision: decision.optional(),
    /** The verdict of the scan (`verdict.ts`; absent in reports written before issue 16). */
    verdict: z
      .looseObject({
        verdict: z.enum(['pass', 'review', 'fail']),
        reason: z.string(),
        evidence: z.array(z.unknown()),
      })
      .optional(),
    /** Keyword discovery's suspected keywords and ranking (text models). */
    keywords: z
      .looseObject({ suspected: z.array(z.unknown()), ranking: z.array(z.unknown()) })
      .optional(),
    /** Contamination per source (`source-trust.ts`), when the records carry a source. */
    sources: z
      .looseObject({ toReview: z.array(z.string()), sources: z.array(z.unknown()) })
      .optional(),
    /** Detection metrics against the dataset's attack record, by registry name. */
    evaluation: z.record(z.string(), z.unknown()).optional(),
  });

  return { detectionReport, decision, report };
}

const zodSchemas = reportSchemas(zodRecordArrays);
const fastSchemas = reportSchemas(fastRecordArrays);

/** One detector's report as written by `reportToJSON` (typed arrays as plain arrays). */
export const detectionReportJsonSchema = zodSchemas.detectionReport;
/** The merged decision of the scan (see `scanDecision` in `scan.ts`). */
export const scanDecisionJsonSchema = zodSchemas.decision;
/**
 * The document `antidote scan` writes as `report.json`: the contract (and the published JSON
 * Schema). {@link parseScanReport} checks it with the same schema built on
 * {@link fastRecordArrays}.
 */
export const scanReportSchema = zodSchemas.report;

/** A parsed scan report. */
export type ScanReport = z.output<typeof scanReportSchema>;
/** The JSON form of a scan's merged decision. */
export type ScanDecisionJSON = z.output<typeof scanDecisionJsonSchema>;

/**
 * Parses `raw` with `schema`; on failure throws `code` with `prefix`, the first field zod rejected
 * and why (the defenses' one zod-to-AntidoteError step).
 */
export function parseOrThrow<S extends z.ZodType>(
  schema: S,
  raw: unknown,
  code: 'INVALID_FORMAT' | 'INVALID_ARGUMENT',
  prefix: string,
  details: Record<string, unknown> = {},
): z.output<S> {
  const r = schema.safeParse(raw);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const field = issue?.path.join('.') ?? '';
  throw new AntidoteError(code, `${prefix}: ${field || '(root)'}: ${issue?.message ?? 'invalid'}`, {
    ...details,
    field,
  });
}

/**
 * Checks `raw` against {@link scanReportSchema} (its per-record arrays in plain loops, with zod's
 * verdicts: {@link fastRecordArrays}); `INVALID_FORMAT` naming `where` and the field.
 */
export function parseScanReport(raw: unknown, where: string): ScanReport {
  return parseOrThrow(
    fastSchemas.report,
    raw,
    'INVALID_FORMAT',
    `${where} is not a valid antidote scan report`,
    {
      path: where,
    },
  );
}

/**
 * Reads and parses a scan report: a report directory or its `report.json`. `NOT_FOUND` when
 * nothing is there, `INVALID_FORMAT` for unreadable JSON or a document that is not a scan report.
 */
export async function readScanReport(path: string): Promise<{ file: string; report: ScanReport }> {
  let file = path;
  try {
    if ((await stat(path)).isDirectory()) file = join(path, SCAN_REPORT_FILE);
  } catch {
    throw new AntidoteError('NOT_FOUND', `no scan report at ${path}`, { path });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(file, 'utf8'));
  } catch (e) {
    throw new AntidoteError(
      (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'NOT_FOUND' : 'INVALID_FORMAT',
      `cannot read scan report ${file}: ${(e as Error).message}`,
      { path: file },
    );
  }
  return { file, report: parseScanReport(raw, file) };
}

/** A detector's report of a parsed scan report, as a {@link DetectionReport} with its ids. */
export function detectionReportOf(
  json: z.output<typeof detectionReportJsonSchema>,
): DetectionReport & { readonly ids?: readonly string[] } {
  return {
    method: json.method,
    scores: Float32Array.from(json.scores),
    flagged: Uint8Array.from(json.flagged),
    perClass: json.perClass as unknown as ClassFinding[],
    params: json.params as Record<string, FindingValue>,
    ...(json.ids ? { ids: json.ids } : {}),
    ...(json.suggestedLabels ? { suggestedLabels: Int32Array.from(json.suggestedLabels) } : {}),
  };
}
