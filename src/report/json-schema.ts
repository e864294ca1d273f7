import { z } from 'zod';
import { scanReportSchema } from '../defenses/scan-report.js';
import { auditReportSchema } from './audit-report.js';

/**
 * JSON Schemas (draft 2020-12) of the `report.json` documents, generated from their zod schemas
 * with zod 4's `z.toJSONSchema`, so a CI job or another tool can validate a report without
 * Antidote. They are committed under `schemas/` and published with the package
 * (`antidote/schemas/audit-report.schema.json`, `antidote/schemas/scan-report.schema.json`);
 * `report/json-schema.test.ts` fails when a committed file no longer matches its zod schema
 * (regenerate with `ANTIDOTE_UPDATE_SCHEMAS=1 npx vitest run src/report/json-schema.test.ts`).
 */

/** Base of the schemas' `$id`s. */
const SCHEMA_BASE = 'https://antidote.dev/schemas/';

/** One generated schema: its file name under `schemas/` and its content. */
export interface GeneratedJsonSchema {
  readonly file: string;
  readonly schema: Record<string, unknown>;
}

function generate(
  file: string,
  title: string,
  description: string,
  schema: z.ZodType,
): GeneratedJsonSchema {
  // `io: 'input'`: what a reader accepts (fields with defaults may be absent from the file).
  const { $schema, ...rest } = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' });
  return {
    file,
    schema: { $schema, $id: `${SCHEMA_BASE}${file}`, title, description, ...rest },
  };
}

/** The JSON Schemas of `report.json`: the audit/demo report's and the scan report's. */
export function reportJsonSchemas(): GeneratedJsonSchema[] {
  return [
    generate(
      'audit-report.schema.json',
      'Antidote audit report (antidote-audit/v1)',
      'report.json written by `antidote audit` and `antidote demo`: the verdict and its reason first, the run (date, tool version, operator, input digests), the sections shown in report.html, and the structured results.',
      auditReportSchema,
    ),
    generate(
      'scan-report.schema.json',
      'Antidote scan report (antidote-scan, version 1)',
      'report.json written by `antidote scan`: each detector report, the merged decision and the verdict.',
      scanReportSchema,
    ),
  ];
}

/** A generated schema as its file's text (two-space JSON and a final newline). */
export function jsonSchemaText(s: GeneratedJsonSchema): string {
  return `${JSON.stringify(s.schema, null, 2)}\n`;
}
