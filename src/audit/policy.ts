import { z } from 'zod';
import type { ScanVerdict } from '../defenses/verdict.js';
import type { Verdict } from '../report/audit-report.js';
import type { IntegrityFindings } from './integrity-check.js';
import type { VulnerabilityAssessment } from './vulnerability.js';

/** The poison rate at or below which a backdoor reaching 90% ASR counts as exposure, by default. */
export const DEFAULT_MIN_ASR90_RATE = 0.01;

/**
 * Whether the simulated backdoor of `v` reaches 90% ASR at or below `minAsr90Rate` of the
 * training set (false when no backdoor was simulated, none reached 90%, or the assessment
 * states limitations instead of a rate: see {@link vulnerabilityStatus}).
 */
export function backdoorExposed(
  v: VulnerabilityAssessment | undefined,
  minAsr90Rate: number,
): boolean {
  if (v && v.limitations.length > 0) return false;
  const rate = v?.curves.find((c) => c.attack === 'backdoor')?.asr90Rate;
  return rate !== null && rate !== undefined && rate <= minAsr90Rate;
}

/**
 * Status of the vulnerability assessment under the policy's `minAsr90Rate`: `review` when the
 * simulated backdoor is exposed ({@link backdoorExposed}), `pass` when a trustworthy rate (or
 * none reaching 90%) was measured, and `undefined` — not assessed, neither pass nor fail — when
 * the assessment states limitations instead of a rate (too few records per class, a trigger
 * that works without poison): the check is not applied to a number that was not computed.
 */
export function vulnerabilityStatus(
  v: VulnerabilityAssessment | undefined,
  minAsr90Rate: number,
): Verdict | undefined {
  if (v && v.limitations.length > 0) return undefined;
  return backdoorExposed(v, minAsr90Rate) ? 'review' : 'pass';
}

/** The audit policy: when `antidote audit` fails (exit code 1). */
export const auditPolicySchema = z
  .object({
    /**
     * Fail on this verdict or worse: `fail` (default), `review` (`warn`, its former name, is
     * read as `review`), or `never`.
     */
    failOn: z.enum(['fail', 'review', 'warn', 'never']).default('fail'),
    /**
     * Accept a scan whose verdict is REVIEW (one detector's strong finding the others do not
     * confirm). Default false: such an audit fails (exit code 1) with the finding named, so a
     * REVIEW never passes silently; `antidote audit --allow-review` sets it.
     */
    allowReview: z.boolean().default(false),
    /** Most records the scan may flag, as a share of the dataset, before the scan fails. */
    maxFlaggedShare: z.number().min(0).max(1).default(0.005),
    /** Require a valid signature on the dataset directory. */
    requireSignature: z.boolean().default(false),
    /** Warn when a backdoor reaches 90% ASR at or below this poison rate. */
    minAsr90Rate: z.number().min(0).max(1).default(DEFAULT_MIN_ASR90_RATE),
  })
  .strict();

/** A parsed audit policy. */
export type AuditPolicy = z.infer<typeof auditPolicySchema>;

/**
 * The policy's decision on an audit's findings. Every section of the audit report takes its
 * status from these fields, so the verdict at the top always agrees with the sections.
 */
export interface PolicyDecision {
  readonly verdict: Verdict;
  /** Whether the policy passes (`failOn` applied to the verdict). */
  readonly passed: boolean;
  /** Why the policy fails, if it does. */
  readonly failures: readonly string[];
  /** Records the scan flagged, and their share of the dataset. */
  readonly flagged: number;
  readonly flaggedShare: number;
  /** Status of each stage: the verdict is the worst of them. */
  readonly integrity: Verdict;
  readonly scan: Verdict;
  /** Undefined when the assessment states limitations instead of a rate (see {@link vulnerabilityStatus}). */
  readonly vulnerability: Verdict | undefined;
  /** Whether a simulated backdoor reaches 90% ASR at or below the policy's rate. */
  readonly exposed: boolean;
}

const pct = (v: number) => `${(v * 100).toFixed(2)}%`;

const RANK: Record<Verdict, number> = { pass: 0, review: 1, fail: 2 };

/** The worse of verdicts (`pass` for none). */
export function worstVerdict(...verdicts: readonly Verdict[]): Verdict {
  return verdicts.reduce<Verdict>((w, v) => (RANK[v] > RANK[w] ? v : w), 'pass');
}

/** Status of the integrity findings: a bad or a required-but-missing signature fails. */
function integrityStatus(i: IntegrityFindings, policy: AuditPolicy, failures: string[]): Verdict {
  const sig = i.signature;
  let status: Verdict =
    (i.previous?.diff.records?.labelChanged.length ?? 0) > 0 ? 'review' : 'pass';
  if (sig.present && sig.verified === false) {
    failures.push('the dataset signature does not verify');
    status = 'fail';
  }
  if (policy.requireSignature && sig.verified !== true) {
    failures.push('the policy requires a verified signature');
    status = 'fail';
  }
  return status;
}

/**
 * Applies the audit policy to the findings of the integrity check, the scan (`flagged`, one
 * entry per record, and its verdict) and the vulnerability assessment: `fail` on a policy
 * failure (bad or missing required signature, too many flagged records) or a FAIL scan,
 * `review` on exposure, label changes since the last version or a REVIEW scan (which fails the
 * policy unless `allowReview`), else `pass`. A vulnerability assessment that states limitations
 * instead of a rate neither reviews nor passes: its status is undefined and the verdict comes
 * from the other stages.
 */
export function decidePolicy(
  policy: AuditPolicy,
  findings: {
    readonly integrity: IntegrityFindings;
    readonly flagged: Uint8Array;
    readonly vulnerability?: VulnerabilityAssessment | undefined;
    /** The scan's verdict (`MergedScan.verdict`); without it, any flagged record is a review. */
    readonly scanVerdict?: Pick<ScanVerdict, 'verdict' | 'reason'> | undefined;
  },
): PolicyDecision {
  const n = findings.flagged.length;
  const flagged = findings.flagged.reduce((a, b) => a + b, 0);
  const flaggedShare = n ? flagged / n : 0;
  const failures: string[] = [];
  const integrity = integrityStatus(findings.integrity, policy, failures);
  const sv = findings.scanVerdict;
  let scan: Verdict = sv ? sv.verdict : flagged > 0 ? 'review' : 'pass';
  if (flaggedShare > policy.maxFlaggedShare) {
    failures.push(
      `the scan flagged ${flagged} records (${pct(flaggedShare)}), more than the policy's ${pct(policy.maxFlaggedShare)}`,
    );
    scan = 'fail';
  }
  if (sv?.verdict === 'fail') failures.push(`the scan found poison: ${sv.reason}`);
  if (sv?.verdict === 'review' && !policy.allowReview) {
    failures.push(`the scan needs review (--allow-review to accept): ${sv.reason}`);
  }
  const exposed = backdoorExposed(findings.vulnerability, policy.minAsr90Rate);
  const vulnerability = vulnerabilityStatus(findings.vulnerability, policy.minAsr90Rate);
  const verdict = worstVerdict(integrity, scan, vulnerability ?? 'pass');
  const passed =
    policy.failOn === 'never' ||
    (failures.length === 0 && (policy.failOn === 'fail' ? verdict !== 'fail' : verdict === 'pass'));
  return {
    verdict,
    passed,
    failures,
    flagged,
    flaggedShare,
    integrity,
    scan,
    vulnerability,
    exposed,
  };
}
