import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../testing/import-graph.js';
import { type JsonSchema, validateJsonSchema } from '../testing/json-schema.js';
import { AUDIT_REPORT_FORMAT, type AuditReport } from './audit-report.js';
import { jsonSchemaText, reportJsonSchemas } from './json-schema.js';

const SCHEMAS = join(REPO_ROOT, 'schemas');
const committed = (file: string): JsonSchema =>
  JSON.parse(readFileSync(join(SCHEMAS, file), 'utf8')) as JsonSchema;

/** A report as the report builder makes it (`audit/report-builder.ts`), as report.json holds it. */
function sampleReport(): Record<string, unknown> {
  const report: AuditReport = {
    schema: AUDIT_REPORT_FORMAT,
    verdict: 'pass',
    reason: 'No record flagged.',
    title: 'Poisoning audit of digits',
    headline: 'The scan says PASS.',
    run: {
      date: '2026-12-06T00:00:00.000Z',
      tool: 'antidote',
      version: '0.1.0',
      operator: 'ci',
      inputs: [{ role: 'dataset', path: 'data/digits', digest: `sha256:${'0f'.repeat(32)}` }],
    },
    subject: { dataset: 'data/digits (20 records)' },
    sections: [
      {
        id: 'summary',
        title: 'Summary',
        status: 'pass',
        paragraphs: ['No policy failure.'],
        metrics: [{ label: 'Records', value: 20 }],
      },
      {
        id: 'scan',
        title: 'Scan findings',
        status: 'pass',
        charts: [{ svg: '<svg></svg>', title: 't', legend: [], description: 'd' }],
        images: [{ pngBase64: 'AA==', alt: 'a', caption: 'c' }],
        tables: [{ caption: 'c', columns: ['a'], rows: [['x', 1, null]] }],
      },
      { id: 'recommendations', title: 'Recommendations', bullets: ['Keep scanning.'] },
    ],
    data: { verdict: 'pass' },
    generator: { antidote: '0.1.0', seed: 1, backend: 'cpu' },
  };
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
