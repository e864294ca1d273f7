import { z } from 'zod';

/**
 * The content of an audit report: plain JSON, produced by `antidote audit` / `antidote demo`,
 * written as `report.json` and rendered as `report.html` by {@link renderAuditHtml}. The zod
 * schema {@link auditReportSchema} is the one definition: the types below are inferred from it,
 * and the JSON Schema published with the package (`schemas/audit-report.schema.json`, see
 * `report/json-schema.ts`) is generated from it.
 */

/** Identifier of the report format (`schema` field). */
export const AUDIT_REPORT_FORMAT = 'antidote-audit/v1';

/**
 * The overall outcome, the scan's PASS / REVIEW / FAIL (`defenses/verdict.ts`) merged with the
 * other checks: `fail`: poisoning or tampering found; `review`: a human must look (unconfirmed
 * evidence, exposure); `pass`: nothing found.
 */
export const verdictSchema = z.enum(['pass', 'review', 'fail']);
/** Overall outcome (see {@link verdictSchema}). */
export type Verdict = z.output<typeof verdictSchema>;

/** A named number for tables (`value` in [0, 1] is shown as a percentage when `percent`). */
export const metricSchema = z.object({
  label: z.string(),
  value: z.union([z.number(), z.string(), z.null()]),
  percent: z.boolean().optional(),
});
/** A named number (see {@link metricSchema}). */
export type Metric = z.output<typeof metricSchema>;

/** An image shown in the report, already encoded (base64 PNG). */
export const reportImageSchema = z.object({
  pngBase64: z.string(),
  alt: z.string(),
  caption: z.string(),
});
/** An image of the report (see {@link reportImageSchema}). */
export type ReportImage = z.output<typeof reportImageSchema>;

/** One legend entry of a chart (the page draws the legend, beside the plot, never over it). */
export const chartLegendEntrySchema = z.object({
  name: z.string(),
  /** CSS colour of the series. */
  color: z.string(),
  /** Drawn as a dashed line. */
  dashed: z.boolean().optional(),
});
/** One legend entry (see {@link chartLegendEntrySchema}). */
export type ChartLegendEntry = z.output<typeof chartLegendEntrySchema>;

/**
 * A chart: the plot already rendered to SVG markup, its title and legend (rendered by the page
 * as HTML around the plot, so they can never overlap it or each other), and a text alternative.
 */
export const reportChartSchema = z.object({
  svg: z.string(),
  /** Title shown above the plot (absent: the plot's own). */
  title: z.string().optional(),
  /** Legend shown under the title (absent: none, or the plot's own). */
  legend: z.array(chartLegendEntrySchema).optional(),
  /** Text alternative (what the chart shows, in a sentence). */
  description: z.string(),
});
/** A chart of the report (see {@link reportChartSchema}). */
export type ReportChart = z.output<typeof reportChartSchema>;

/** A table of rows. */
export const reportTableSchema = z.object({
  caption: z.string(),
  columns: z.array(z.string()),
  rows: z.array(z.array(z.union([z.string(), z.number(), z.null()]))),
});
/** A table of the report (see {@link reportTableSchema}). */
export type ReportTable = z.output<typeof reportTableSchema>;

/** One section of the report. */
export const reportSectionSchema = z.object({
  id: z.string(),
  title: z.string(),
  /** Status badge of the section, when it has one. */
  status: verdictSchema.optional(),
  /** Paragraphs of plain text. */
  paragraphs: z.array(z.string()).optional(),
  metrics: z.array(metricSchema).optional(),
  tables: z.array(reportTableSchema).optional(),
  charts: z.array(reportChartSchema).optional(),
  images: z.array(reportImageSchema).optional(),
  /** Bulleted list (e.g. recommendations). */
  bullets: z.array(z.string()).optional(),
});
/** One section of the report (see {@link reportSectionSchema}). */
export type ReportSection = z.output<typeof reportSectionSchema>;

/** One input of the audit (dataset, model, policy), by relative path and digest. */
export const reportInputSchema = z.object({
  /** What the input is: `dataset`, `model`, `policy`, `trusted`. */
  role: z.string(),
  /**
   * Where it was read from, relative to the directory the command ran in (never an absolute
   * path), or a built-in name such as `mnist:test`.
   */
  path: z.string().regex(/^(?![\\/]|[A-Za-z]:)/, 'must be a relative path, not an absolute one'),
  /** `sha256:<hex>` of its content (see `audit/report-run.ts` for what is hashed). */
  digest: z.string().regex(/^sha256:[0-9a-f]{64}$/),
});
/** One input of the audit (see {@link reportInputSchema}). */
export type ReportInput = z.output<typeof reportInputSchema>;

/** Who produced the report, when, with which tool, from which inputs. */
export const reportRunSchema = z.object({
  /** When the report was made (ISO 8601, UTC). */
  date: z.iso.datetime(),
  /** The tool, `antidote`. */
  tool: z.literal('antidote'),
  /** The tool's version. */
  version: z.string(),
  /** Who ran it: the `--operator` option, else the OS user name. */
  operator: z.string(),
  inputs: z.array(reportInputSchema),
});
/** The run behind a report (see {@link reportRunSchema}). */
export type ReportRun = z.output<typeof reportRunSchema>;

/** A whole audit report, as written to `report.json`. */
export const auditReportSchema = z.object({
  schema: z.literal(AUDIT_REPORT_FORMAT),
  /**
   * The verdict: the worst status of the sections, so never better than the scan's merged verdict
   * (PASS / REVIEW / FAIL) shown in the scan section.
   */
  verdict: verdictSchema,
  /** Why, in one sentence (the reader sees `VERDICT: reason` first). */
  reason: z.string(),
  title: z.string(),
  /** The reason and the key numbers, in a few sentences. */
  headline: z.string(),
  run: reportRunSchema,
  /** What was audited (dataset, model), in words. */
  subject: z.record(z.string(), z.string()),
  sections: z.array(reportSectionSchema),
  /** Structured results behind the sections (the same numbers, machine-readable). */
  data: z.record(z.string(), z.unknown()),
  /** Antidote version and settings (seed, backend) that produced the report. */
  generator: z.record(z.string(), z.union([z.string(), z.number()])),
});
/** A whole audit report (see {@link auditReportSchema}). */
export type AuditReport = z.output<typeof auditReportSchema>;
