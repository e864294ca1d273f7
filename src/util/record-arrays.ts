/**
 * Per-record arrays checked with zod's verdicts in plain loops (issue 22): a report or a cache
 * entry of a large dataset holds hundreds of thousands of such values.
 */
import { z } from 'zod';

/**
 * How per-record arrays (one value per record: scores, flags, labels, votes, ids) are checked:
 * zod's arrays ({@link zodRecordArrays}: a schema's contract, and its published JSON Schema), or
 * {@link fastRecordArrays} (the same verdicts, in plain loops). The scan report's schema is built
 * on either (`defenses/scan-report.ts`).
 */
export interface RecordArrays {
  /** Finite numbers (`z.number()`). */
  readonly numbers: z.ZodType<number[]>;
  /** Safe integers (`z.int()`). */
  readonly ints: z.ZodType<number[]>;
  /** Safe integers ≥ 0 (`z.int().min(0)`). */
  readonly counts: z.ZodType<number[]>;
  /** 0 or 1. */
  readonly flags: z.ZodType<(0 | 1)[]>;
  readonly strings: z.ZodType<string[]>;
}

/** The per-record arrays as zod's arrays of zod's element types. */
export const zodRecordArrays = {
  numbers: z.array(z.number()),
  ints: z.array(z.int()),
  counts: z.array(z.int().min(0)),
  flags: z.array(z.union([z.literal(0), z.literal(1)])),
  strings: z.array(z.string()),
} satisfies RecordArrays;

/**
 * An array accepted when `valid` accepts it (one loop over its values); otherwise parsed by
 * `full`, whose issues are reported (the same fields and messages). `valid` must accept exactly
 * the arrays `full` accepts (`record-arrays.test.ts` and `scan-report.test.ts` check each against zod).
 */
function fastArray<T>(full: z.ZodType<T[]>, valid: (v: unknown[]) => boolean): z.ZodType<T[]> {
  return z.custom<T[]>().superRefine((v, ctx) => {
    if (Array.isArray(v) && valid(v)) return;
    const r = full.safeParse(v);
    // Fatal, as a failed zod array is: the object's own refinements do not run on it.
    if (!r.success)
      for (const issue of r.error.issues) ctx.addIssue({ ...issue, continue: false } as never);
  });
}

/**
 * The per-record arrays checked in plain loops, each value as its zod element schema checks it
 * (`z.number()`: finite; `z.int()`: a safe integer; the literals 0 and 1, −0 among them): the
 * scan report of 60,000 records holds ≈ 600,000 such values, which zod's parse, element by
 * element, took ≈ 0.1 s of CPU to check on every scan, and a distributed scan's cached dataset
 * outline 120,000 ids and sources (issue 22). A refused array is reported
 * by zod. Values are read by index: a hole reads as undefined, which zod refuses too. The loops
 * are written out per type (a callback per value cost as much again in a process that checks
 * one report: cold code).
 */
export const fastRecordArrays = {
  numbers: fastArray(zodRecordArrays.numbers, (v) => {
    for (let i = 0; i < v.length; i++) if (!Number.isFinite(v[i])) return false;
    return true;
  }),
  ints: fastArray(zodRecordArrays.ints, (v) => {
    for (let i = 0; i < v.length; i++) if (!Number.isSafeInteger(v[i])) return false;
    return true;
  }),
  counts: fastArray(zodRecordArrays.counts, (v) => {
    for (let i = 0; i < v.length; i++) {
      if (!Number.isSafeInteger(v[i]) || (v[i] as number) < 0) return false;
    }
    return true;
  }),
  flags: fastArray(zodRecordArrays.flags, (v) => {
    for (let i = 0; i < v.length; i++) if (v[i] !== 0 && v[i] !== 1) return false;
    return true;
  }),
  strings: fastArray(zodRecordArrays.strings, (v) => {
    for (let i = 0; i < v.length; i++) if (typeof v[i] !== 'string') return false;
    return true;
  }),
} satisfies RecordArrays;
