/**
 * The content of an audit report: plain JSON, produced by `antidote audit` / `antidote demo`,
 * written as `report.json` and rendered as `report.html` by {@link renderAuditHtml}.
 */

/** Overall outcome. `fail`: poisoning or tampering found; `warn`: exposure or weak evidence. */
export type Verdict = 'pass' | 'review' | 'fail';

/** A named number for tables (`value` in [0, 1] is shown as a percentage when `percent`). */
export interface Metric {
  readonly label: string;
  readonly value: number | string | null;
  readonly percent?: boolean;
}

/** An image shown in the report, already encoded (base64 PNG). */
export interface ReportImage {
  readonly pngBase64: string;
  readonly alt: string;
  readonly caption: string;
}

/** A chart already rendered to SVG markup. */
export interface ReportChart {
  readonly svg: string;
  /** Text alternative (what the chart shows, in a sentence). */
  readonly description: string;
}

/** A table of rows. */
export interface ReportTable {
  readonly caption: string;
  readonly columns: readonly string[];
  readonly rows: ReadonlyArray<ReadonlyArray<string | number | null>>;
}

/** One section of the report. */
export interface ReportSection {
  readonly id: string;
  readonly title: string;
  /** Status badge of the section, when it has one. */
  readonly status?: Verdict;
  /** Paragraphs of plain text. */
  readonly paragraphs?: readonly string[];
  readonly metrics?: readonly Metric[];
  readonly tables?: readonly ReportTable[];
  readonly charts?: readonly ReportChart[];
  readonly images?: readonly ReportImage[];
  /** Bulleted list (e.g. recommendations). */
  readonly bullets?: readonly string[];
}

/** A whole audit report. */
export interface AuditReport {
  readonly schema: 'antidote-audit/v1';
  readonly title: string;
  /** What was audited (dataset, model). */
  readonly subject: Readonly<Record<string, string>>;
  readonly verdict: Verdict;
  /** One sentence a reader sees first. */
  readonly headline: string;
  readonly sections: readonly ReportSection[];
  /** Structured results behind the sections (the same numbers, machine-readable). */
  readonly data: Readonly<Record<string, unknown>>;
  /** Antidote version and settings (seed, backend) that produced the report. */
  readonly generator: Readonly<Record<string, string | number>>;
}
