import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildReport } from '../audit/report-builder.js';
import { reportRun } from '../audit/report-run.js';
import { recommendationsSection, summarySection } from '../audit/report-sections.js';
import { REPO_ROOT } from '../testing/import-graph.js';
import { type JsonSchema, validateJsonSchema } from '../testing/json-schema.js';
import { jsonSchemaText, reportJsonSchemas } from './json-schema.js';

const SCHEMAS = join(REPO_ROOT, 'schemas');
const committed = (file: string): JsonSchema =>
  JSON.parse(readFileSync(join(SCHEMAS, file), 'utf8')) as JsonSchema;

/** A report made by the report builder, as `report.json` holds it. */
function sampleReport(): Record<string, unknown> {
  const report = buildReport({
    title: 'Poisoning audit of digits',
    subject: { dataset: 'data/digits (20 records)' },
    headline: 'The scan says PASS.',
    reasons: { scan: 'No record flagged.' },
    run: reportRun(
      [{ role: 'dataset', path: 'data/digits', digest: `sha256:${'0f'.repeat(32)}` }],
      { clock: () => new Date(Date.UTC(2026, 11, 6)), operator: 'ci' },
    ),
    sections: [
      summarySection(['No policy failure.'], [{ label: 'Records', value: 20 }]),
      { id: 'scan', title: 'Scan findings', status: 'pass', paragraphs: ['Nothing.'] },
      recommendationsSection(['Keep scanning.']),
    ],
    data: { verdict: 'pass' },
    seed: 1,
    backend: 'cpu',
  });
  return JSON.parse(JSON.stringify(report)) as Record<string, unknown>;
}

describe('the JSON Schemas of report.json', () => {
  it('are committed under schemas/ and match their zod schemas', () => {
    const update = process.env.ANTIDOTE_UPDATE_SCHEMAS === '1';
    if (update) mkdirSync(SCHEMAS, { recursive: true });
    for (const s of reportJsonSchemas()) {
      const file = join(SCHEMAS, s.file);
      if (update) writeFileSync(file, jsonSchemaText(s));
      expect(existsSync(file), `${file} is missing`).toBe(true);
      expect(
        readFileSync(file, 'utf8'),
        `schemas/${s.file} is out of date with its zod schema: ANTIDOTE_UPDATE_SCHEMAS=1 npx vitest run src/report/json-schema.test.ts`,
      ).toBe(jsonSchemaText(s));
    }
  });

  it('are published with the package (files and exports of package.json)', () => {
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
      files: string[];
      exports: Record<string, unknown>;
    };
    expect(pkg.files).toContain('schemas');
    for (const s of reportJsonSchemas())
      expect(pkg.exports[`./schemas/${s.file}`]).toBe(`./schemas/${s.file}`);
  });

  it('accept a real audit report and reject broken ones', () => {
    const schema = committed('audit-report.schema.json');
    const good = sampleReport();
    expect(validateJsonSchema(schema, good)).toEqual([]);
    const broken: [string, Record<string, unknown>][] = [
      ['no verdict', (({ verdict: _, ...rest }) => rest)(good)],
      ['unknown verdict', { ...good, verdict: 'ok' }],
      [
        'absolute input path',
        {
          ...good,
          run: {
            ...(good.run as object),
            inputs: [
              { role: 'dataset', path: '/home/me/data', digest: `sha256:${'0f'.repeat(32)}` },
            ],
          },
        },
      ],
      ['date not ISO', { ...good, run: { ...(good.run as object), date: 'yesterday' } }],
      ['section without title', { ...good, sections: [{ id: 'x' }] }],
    ];
    for (const [why, doc] of broken) expect(validateJsonSchema(schema, doc), why).not.toEqual([]);
  });

  it('accept a scan report document and reject one without its format', () => {
    const schema = committed('scan-report.schema.json');
    const doc = {
      format: 'antidote-scan',
      version: 1,
      records: 2,
      methods: {
        ac: {
          method: 'activation-clustering',
          scores: [0.1, 0.9],
          flagged: [0, 1],
          perClass: [
            { classIndex: 0, className: 'a', count: 2, flagged: 1, suspicious: true, reason: 'r' },
          ],
        },
      },
      verdict: { verdict: 'review', reason: 'one detector', evidence: [] },
    };
    expect(validateJsonSchema(schema, doc)).toEqual([]);
    expect(validateJsonSchema(schema, { ...doc, format: undefined })).not.toEqual([]);
    expect(validateJsonSchema(schema, { ...doc, methods: { ac: { method: 'x' } } })).not.toEqual(
      [],
    );
  });
});
