import type { AuditReport, ReportSection, Verdict } from '../report/audit-report.js';
import { version } from '../version.js';

/** What {@link buildReport} assembles. */
export interface ReportParts {
  readonly title: string;
  /** What was audited (dataset, model, attack, policy). */
  readonly subject: Readonly<Record<string, string>>;
  readonly verdict: Verdict;
  readonly headline: string;
  /** The sections in order; `undefined` entries (sections that do not apply) are left out. */
  readonly sections: ReadonlyArray<ReportSection | undefined>;
  readonly data: Readonly<Record<string, unknown>>;
  readonly seed: number;
  readonly backend: string;
}

/**
 * The one report builder of the audit and the demo: both hand it their sections (the shared
 * ones of `report-sections.ts`, and their own) and get an `antidote-audit/v1` report, rendered
 * by `renderAuditHtml` and written by `writeReport`.
 */
export function buildReport(p: ReportParts): AuditReport {
  return {
    schema: 'antidote-audit/v1',
    title: p.title,
    subject: p.subject,
    verdict: p.verdict,
    headline: p.headline,
    sections: p.sections.filter((s): s is ReportSection => s !== undefined),
    data: p.data,
    generator: { antidote: version, seed: p.seed, backend: p.backend },
  };
}
