import type { ClassFinding, DetectionReport } from './detector.js';
import { STRONG_EVIDENCE } from './detector.js';

/**
 * The verdict of a scan (issue 16), computed in one place ({@link scanVerdict}) and shown first
 * by `antidote scan`, `antidote audit` (HTML and `report.json`), the demo, the deployment gate
 * and the registry:
 *
 * - `fail`: confirmed poison: a detector has a strong class-level finding (strength ≥
 *   `STRONG_EVIDENCE`) that another detector confirms, by a strong finding of its own in the same
 *   class or by ranking the flagged records among the most suspicious of that class.
 * - `review`: a detector has a strong finding the others do not confirm (or no other detector
 *   ran), or records are flagged without a strong class-level finding: a human must look; the
 *   evidence lists each finding with its detector, class, strength and reason.
 * - `pass`: nothing found: no record flagged and no strong finding. Never while any detector's
 *   class-level finding is strong; a detector that does not grade its findings counts as not
 *   strong, but the records it flags still prevent a pass.
 */

/** The three verdicts of a scan. */
export type ScanVerdictName = 'pass' | 'review' | 'fail';

/** One strong class-level finding behind a verdict. */
export interface VerdictEvidence {
  /** Registry name of the detector (e.g. `ac`). */
  readonly detector: string;
  readonly classIndex: number;
  readonly className: string;
  /** The finding's strength (see `ClassFinding.strength`). */
  readonly strength: number;
  /** Records of the class the detector flagged. */
  readonly flagged: number;
  /** The detector's reason. */
  readonly reason: string;
  /** Detectors that confirm the finding (empty when none does). */
  readonly confirmedBy: readonly string[];
}

/** The verdict of a scan, its reason in one sentence, and the evidence. */
export interface ScanVerdict {
  readonly verdict: ScanVerdictName;
  /**
   * Why, in one sentence (without the verdict word): every report and CLI output of the scan
   * starts with `VERDICT: reason` ({@link verdictLine}).
   */
  readonly reason: string;
  /** The strong class-level findings, strongest first. */
  readonly evidence: readonly VerdictEvidence[];
}

/** What {@link scanVerdict} reads of a merged scan. */
export interface VerdictInput {
  readonly y: Int32Array;
  readonly classes: readonly string[];
  readonly reports: readonly DetectionReport[];
  /** Registry names of the reports (default their `method`). */
  readonly detectors?: readonly string[];
  /** The merged decision per record. */
  readonly flagged: Uint8Array;
  /**
   * Per report, the within-class percentile rank of each record (1 = most suspicious of its
   * class; `withinClassRanks` of `scan.ts`).
   */
  readonly classRanks: readonly Float32Array[];
}

/**
 * Mean within-class percentile rank another detector must give the records a detector flagged in
 * a class to confirm the finding: 0.9 (the records sit in that detector's top 10% of the class).
 */
export const CONFIRMATION_RANK = 0.9;

/** A finding is strong when it is graded at least {@link STRONG_EVIDENCE}; ungraded is not. */
export function isStrong(strength: number | undefined): boolean {
  return strength !== undefined && strength >= STRONG_EVIDENCE;
}

/** Mean of `ranks` over the records of class `c` that `flagged` marks (NaN for none). */
function meanRankOfFlagged(
  ranks: Float32Array,
  flagged: Uint8Array,
  y: Int32Array,
  c: number,
): number {
  let sum = 0;
  let m = 0;
  for (let i = 0; i < y.length; i++) {
    if (y[i] !== c || !flagged[i]) continue;
    sum += ranks[i]!;
    m++;
  }
  return m ? sum / m : Number.NaN;
}

/**
 * The reports (indices) that confirm report `a`'s finding `f`: by a strong finding of their own
 * in the same class, or by ranking the records `a` flagged there among the most suspicious of the
 * class (mean within-class rank ≥ {@link CONFIRMATION_RANK}). The verdict and the scan's
 * membership rule (`scanDecision` in `scan.ts`) read the same confirmation.
 */
export function confirmingReports(
  input: Pick<VerdictInput, 'y' | 'reports' | 'classRanks'>,
  a: number,
  f: ClassFinding,
): number[] {
  const r = input.reports[a]!;
  const out: number[] = [];
  input.reports.forEach((o, b) => {
    if (b === a) return;
    const of = o.perClass.find((x) => x.classIndex === f.classIndex);
    const byStrength = isStrong(of?.strength);
    const byRank =
      f.flagged > 0 &&
      // float32 ranks: 0.9 is stored as 0.89999998
      meanRankOfFlagged(input.classRanks[b]!, r.flagged, input.y, f.classIndex) >=
        CONFIRMATION_RANK - 1e-6;
    if (byStrength || byRank) out.push(b);
  });
  return out;
}

/** The strong findings of every report, each with the detectors that confirm it. */
export function strongEvidence(input: VerdictInput): VerdictEvidence[] {
  const names = input.detectors ?? input.reports.map((r) => r.method);
  const out: VerdictEvidence[] = [];
  input.reports.forEach((r, a) => {
    for (const f of r.perClass) {
      if (!isStrong(f.strength)) continue;
      const confirmedBy = confirmingReports(input, a, f).map((b) => names[b]!);
      out.push({
        detector: names[a]!,
        classIndex: f.classIndex,
        className: f.className,
        strength: f.strength!,
        flagged: f.flagged,
        reason: f.reason,
        confirmedBy,
      });
    }
  });
  return out.sort((x, y) => y.strength - x.strength || x.classIndex - y.classIndex);
}

/** "class "0" (ac, strength 12.3, 64 records)" */
function describe(e: VerdictEvidence): string {
  return `class "${e.className}" (${e.detector}, strength ${e.strength.toFixed(1)}, ${e.flagged} record${e.flagged === 1 ? '' : 's'} flagged)`;
}

/** A list of at most three items, with the rest counted. */
function listOf(items: readonly string[]): string {
  const shown = items.slice(0, 3).join('; ');
  return items.length > 3 ? `${shown}; and ${items.length - 3} more` : shown;
}

/**
 * The verdict of a scan (see the module comment): `fail` on confirmed strong evidence, `review`
 * on unconfirmed strong evidence, on flagged records without strong evidence, or when any detector
 * flags records on its own; `pass` only when no detector flags anything and nothing is strong.
 */
export function scanVerdict(input: VerdictInput): ScanVerdict {
  const evidence = strongEvidence(input);
  const flagged = input.flagged.reduce((a, b) => a + b, 0);
  const n = input.flagged.length;
  const records = `${flagged} of ${n.toLocaleString('en-US')} record${n === 1 ? '' : 's'} flagged`;
  const confirmed = evidence.filter((e) => e.confirmedBy.length > 0);
  if (confirmed.length > 0) {
    const classes = new Set(confirmed.map((e) => e.className));
    return {
      verdict: 'fail',
      reason: `confirmed poison in ${classes.size} class${classes.size === 1 ? '' : 'es'}: ${listOf(confirmed.map((e) => `${describe(e)} confirmed by ${e.confirmedBy.join(', ')}`))}; ${records}.`,
      evidence,
    };
  }
  if (evidence.length > 0) {
    const lone = input.reports.length === 1;
    return {
      verdict: 'review',
      reason: `${listOf(evidence.map(describe))} ${lone ? 'found by the only detector run' : 'not confirmed by the other detectors'}; ${records} for a human to check.`,
      evidence,
    };
  }
  if (flagged > 0) {
    return {
      verdict: 'review',
      reason: `${records} without a strong class-level finding (no detector's evidence reaches strength ${STRONG_EVIDENCE}); check them.`,
      evidence,
    };
  }
  // A detector that flags records on its own is a finding too, even unconfirmed and weak: PASS
  // means nothing found (measured: on the fraud-like CSV, ASR 1.00, spectral signatures alone
  // flagged 44 records, all poisoned, that the merged decision did not keep).
  const alone = input.reports
    .map((r, k) => ({
      name: input.detectors?.[k] ?? r.method,
      count: r.flagged.reduce((a, b) => a + b, 0),
    }))
    .filter((d) => d.count > 0);
  if (alone.length > 0) {
    return {
      verdict: 'review',
      reason: `no record kept by the merged decision and no strong class-level finding, but ${listOf(alone.map((d) => `${d.name} flags ${d.count} record${d.count === 1 ? '' : 's'}`))} on its own; check them.`,
      evidence,
    };
  }
  // A PASS says what looked: a user reads "nothing found by ac, ss, ln, tt" and knows which
  // checks did not run (trigger reversal, `nc`, runs in `antidote audit` or with --method).
  const names = input.reports.map((r, k) => input.detectors?.[k] ?? r.method);
  return {
    verdict: 'pass',
    reason: `nothing found: no record flagged and no class-level finding reaches strength ${STRONG_EVIDENCE} (${names.length} detector${names.length === 1 ? '' : 's'}: ${names.join(', ')}).`,
    evidence,
  };
}

/** The first line of a scan's report or CLI output: `FAIL: confirmed poison in ...`. */
export function verdictLine(v: Pick<ScanVerdict, 'verdict' | 'reason'>): string {
  return `${v.verdict.toUpperCase()}: ${v.reason}`;
}
