import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import { DETECTOR_NAMES } from '../defenses/registry.js';
import { canonicalJson } from '../integrity/canonical-json.js';
import { sha256Hex } from '../integrity/hash.js';
import { readText } from '../util/fs.js';
import { parseJson, parseWith } from '../util/schema.js';

const share = z.number().min(0).max(1);

/**
 * Zod schema of a deployment-gate policy file (JSON). Every section is optional; a section that
 * is present is a check that must pass. Paths are relative to the policy file.
 *
 * - `signature`: the model directory carries a signature (`model.sig`, the OMS convention, or
 *   `antidote.sig`) that verifies against one of `trustedKeys` (public key PEM files; key method)
 *   or chains to one of `trustedCAs` (CA certificate PEM files; certificate method) and matches the
 *   registered content. Independently, a project signature policy
 *   (`.antidote/signature-policy.json`, `registry/signature-policy.ts`) adds its own `signature`
 *   check to every gate run.
 * - `dataset`: the model has SLSA provenance that still matches its files, and every dataset it
 *   names is a committed catalogue version (`requireCatalogued`) or hashes equal to one of `data`.
 * - `scan`: the scan's verdict (`defenses/verdict.ts`) is PASS, and poisoning detectors run on
 *   `data` (the training set) find no suspicious class beyond
 *   `maxSuspiciousClasses` and flag at most `maxFlaggedShare` of the records; without `data` the
 *   scan results registered with the model are used. With `allowReview`, a REVIEW verdict that
 *   holds no strong class-level finding (records flagged on weak evidence only) passes when the
 *   thresholds above hold; a strong finding never passes.
 * - `accuracy`: clean accuracy on `testSet` ≥ `min`, and no drop greater than `maxDrop` against
 *   the current production version on the same test set.
 * - `backdoorProbe.strip`: STRIP (Gao et al. 2019) calibrated on the clean `clean` set at `frr`;
 *   the share of `probe` records rejected (entropy below the threshold) is at most `maxRejectRate`.
 *   A backdoored model rejects its triggered training records, so the share rises above the FRR.
 * - `backdoorProbe.neuralCleanse`: Neural Cleanse (Wang et al. 2019) reverse-engineers a minimal
 *   trigger per class on `clean` and fails when any class is flagged (its mask an outlier below
 *   the median by the MAD anomaly index; image models only).
 */
export const gatePolicySchema = z.strictObject({
  version: z.literal(1),
  signature: z
    .strictObject({
      trustedKeys: z.array(z.string().min(1)).default([]),
      trustedCAs: z.array(z.string().min(1)).default([]),
    })
    .refine((s) => s.trustedKeys.length + s.trustedCAs.length > 0, {
      message: 'needs trustedKeys, trustedCAs or both',
    })
    .optional(),
  dataset: z
    .strictObject({
      requireCatalogued: z.boolean().default(false),
      data: z.array(z.string().min(1)).default([]),
    })
    .optional(),
  scan: z
    .strictObject({
      data: z.string().min(1).optional(),
      methods: z
        .array(z.enum(DETECTOR_NAMES as [string, ...string[]]))
        .min(1)
        .default(['ac']),
      maxSuspiciousClasses: z.number().int().min(0).default(0),
      maxFlaggedShare: share.default(0.05),
      allowReview: z.boolean().default(false),
      seed: z.number().int().default(0),
    })
    .optional(),
  accuracy: z
    .strictObject({
      testSet: z.string().min(1),
      min: share.default(0),
      maxDrop: share.optional(),
    })
    .optional(),
  backdoorProbe: z
    .strictObject({
      strip: z
        .strictObject({
          clean: z.string().min(1),
          probe: z.string().min(1),
          frr: z.number().gt(0).lt(0.5).default(0.05),
          overlays: z.number().int().min(1).max(64).default(10),
          maxRejectRate: share.default(0.1),
          seed: z.number().int().default(0),
        })
        .optional(),
      neuralCleanse: z
        .strictObject({
          clean: z.string().min(1),
          /** Clean records used (the first ones); default 1,000. */
          records: z.number().int().min(10).default(1000),
          epochs: z.number().int().min(1).max(1000).default(10),
          stepsPerEpoch: z.number().int().min(1).max(10000).default(20),
          initCost: z.number().min(0).default(0.01),
          anomalyScale: z.enum(['log', 'linear']).default('log'),
          anomalyThreshold: z.number().positive().default(2),
          seed: z.number().int().default(0),
        })
        .optional(),
    })
    .refine((b) => b.strip || b.neuralCleanse, {
      message: 'needs strip, neuralCleanse or both',
    })
    .optional(),
});

/** A validated gate policy. */
export type GatePolicy = z.infer<typeof gatePolicySchema>;

/** A policy with where it came from and its digest (recorded with every gate result). */
export interface LoadedGatePolicy {
  readonly policy: GatePolicy;
  /** Directory relative paths are resolved against. */
  readonly baseDir: string;
  /** SHA-256 of the canonical JSON of the policy as written. */
  readonly digest: string;
  readonly path?: string;
}

/** Validates a policy object; `INVALID_CONFIG` naming the field when it does not fit. */
export function parseGatePolicy(
  raw: unknown,
  options: { where?: string; baseDir?: string } = {},
): LoadedGatePolicy {
  const where = options.where ?? 'gate policy';
  return {
    policy: parseWith(gatePolicySchema, raw, where, { code: 'INVALID_CONFIG', withField: true }),
    baseDir: options.baseDir ?? process.cwd(),
    digest: sha256Hex(canonicalJson(raw as never)),
  };
}

/** Reads and validates a gate policy file. */
export async function loadGatePolicy(path: string): Promise<LoadedGatePolicy> {
  const text = await readText(path, { message: () => `cannot read gate policy ${path}` });
  const raw = parseJson(text, path, { code: 'INVALID_CONFIG' });
  return {
    ...parseGatePolicy(raw, { where: path, baseDir: dirname(resolve(path)) }),
    path: resolve(path),
  };
}
