import {
  AUDIT_REPORT_FORMAT,
  type AuditReport,
  type ReportRun,
  type ReportSection,
  type Verdict,
} from '../report/audit-report.js';
import { version } from '../version.js';
import { worstVerdict } from './policy.js';

/** What {@link buildReport} assembles. */
export interface ReportParts {
  readonly title: string;
  /** What was audited (dataset, model, attack, policy), in words (relative paths only). */
  readonly subject: Readonly<Record<string, string>>;
  readonly headline: string;
  /**
   * Why each section has its status, in one sentence, by section id: the report's reason is the
   * reasons of the sections that decide its verdict (those whose status is the verdict).
   */
  readonly reasons: Readonly<Record<string, string>>;
  /** When, by whom, from which inputs (`report-run.ts`). */
  readonly run: ReportRun;
  /**
   * The sections in order; `undefined` entries (sections that do not apply) are left out. The
   * section with id `summary` gets the report's verdict as its status.
   */
  readonly sections: ReadonlyArray<ReportSection | undefined>;
  readonly data: Readonly<Record<string, unknown>>;
  readonly seed: number;
  readonly backend: string;
}

/** The verdict of a report: the worst status of its sections (the summary's apart). */
export function reportVerdict(sections: readonly (ReportSection | undefined)[]): Verdict {
  return worstVerdict(
    ...sections.flatMap((s) => (s?.status && s.id !== 'summary' ? [s.status] : [])),
  );
}

/**
 * The reason of a report's verdict: the reasons of the sections whose status is the verdict, in
 * section order (a section without a stated reason is named with its status); for a PASS with no
 * section status, the scan's reason, else "no check found a problem".
 */
export function reportReason(
  verdict: Verdict,
  sections: readonly (ReportSection | undefined)[],
  reasons: Readonly<Record<string, string>>,
): string {
  const deciding = sections.filter(
    (s): s is ReportSection => s !== undefined && s.id !== 'summary' && s.status === verdict,
  );
  const parts = deciding.map(
    (s) => reasons[s.id] ?? `${s.title}: ${verdict.toUpperCase()} (see that section).`,
  );
  if (parts.length) return parts.join(' ');
  return reasons.scan ?? 'No check found a problem.';
}

/**
 * The one report builder of the audit and the demo: both hand it their sections (the shared
 * ones of `report-sections.ts`, and their own) and get an `antidote-audit/v1` report, rendered
 * by `renderAuditHtml` and written by `writeReport`. The verdict is the worst status of the
 * sections (so never better than the scan's merged verdict in the scan section) and its reason
 * comes from the sections that decide it: the verdict at the top always agrees with every
 * section below it. The verdict and reason are the first fields of `report.json`.
 */
export function buildReport(p: ReportParts): AuditReport {
  const verdict = reportVerdict(p.sections);
  return {
    schema: AUDIT_REPORT_FORMAT,
    verdict,
    reason: reportReason(verdict, p.sections, p.reasons),
    title: p.title,
    headline: p.headline,
    run: p.run,
    subject: p.subject,
    sections: p.sections.flatMap((s) =>
      s === undefined ? [] : s.id === 'summary' ? [{ ...s, status: verdict }] : [s],
    ),
    data: p.data,
    generator: { antidote: version, seed: p.seed, backend: p.backend },
  };
}
