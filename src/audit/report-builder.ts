import type { AuditReport, ReportSection, Verdict } from '../report/audit-report.js';
import { version } from '../version.js';
import { worstVerdict } from './policy.js';

/** What {@link buildReport} assembles. */
export interface ReportParts {
  readonly title: string;
  /** What was audited (dataset, model, attack, policy). */
  readonly subject: Readonly<Record<string, string>>;
  readonly headline: string;
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
 * The one report builder of the audit and the demo: both hand it their sections (the shared
 * ones of `report-sections.ts`, and their own) and get an `antidote-audit/v1` report, rendered
 * by `renderAuditHtml` and written by `writeReport`. The verdict is the worst status of the
 * sections, so the verdict at the top always agrees with every section below it.
 */
export function buildReport(p: ReportParts): AuditReport {
  const verdict = reportVerdict(p.sections);
  return {
    schema: 'antidote-audit/v1',
    title: p.title,
    subject: p.subject,
    verdict,
    headline: p.headline,
    sections: p.sections.flatMap((s) =>
      s === undefined ? [] : s.id === 'summary' ? [{ ...s, status: verdict }] : [s],
    ),
    data: p.data,
    generator: { antidote: version, seed: p.seed, backend: p.backend },
  };
}
