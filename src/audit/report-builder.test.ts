import { describe, expect, it } from 'vitest';
import { auditReportSchema } from '../report/audit-report.js';
import { buildReport } from './report-builder.js';
import { reportRun } from './report-run.js';

const run = reportRun([], { clock: () => new Date(Date.UTC(2026, 0, 2)), operator: 'tester' });

const parts = {
  title: 't',
  subject: {},
  headline: 'h',
  reasons: { scan: 'the scan found nothing.', integrity: 'the signature does not verify.' },
  run,
  data: {},
  seed: 1,
  backend: 'cpu',
} as const;

describe('buildReport', () => {
  it('takes the verdict from the worst section and gives it to the summary', () => {
    const r = buildReport({
      ...parts,
      sections: [
        { id: 'summary', title: 'Summary', status: 'pass' },
        { id: 'integrity', title: 'Integrity', status: 'pass' },
        undefined,
        { id: 'scan', title: 'Scan findings', status: 'review' },
        { id: 'recommendations', title: 'Recommendations' },
      ],
    });
    expect(r.verdict).toBe('review');
    expect(r.sections.map((s) => [s.id, s.status])).toEqual([
      ['summary', 'review'],
      ['integrity', 'pass'],
      ['scan', 'review'],
      ['recommendations', undefined],
    ]);
    expect(r.generator).toMatchObject({ seed: 1, backend: 'cpu' });
    // The reason is the deciding section's: the scan's review, stated or named.
    expect(r.reason).toBe('the scan found nothing.');
    // Verdict and reason lead report.json; the report matches its schema.
    expect(Object.keys(r).slice(0, 3)).toEqual(['schema', 'verdict', 'reason']);
    expect(auditReportSchema.safeParse(JSON.parse(JSON.stringify(r))).success).toBe(true);
    expect(r.run).toEqual({
      date: '2026-01-02T00:00:00.000Z',
      tool: 'antidote',
      version: expect.any(String),
      operator: 'tester',
      inputs: [],
    });
  });

  it('gives the reasons of every section that decides the verdict, in order', () => {
    const r = buildReport({
      ...parts,
      sections: [
        { id: 'integrity', title: 'Integrity', status: 'fail' },
        { id: 'scan', title: 'Scan findings', status: 'fail' },
        { id: 'gate', title: 'Release gate', status: 'fail' },
        { id: 'vulnerability', title: 'Vulnerability', status: 'review' },
      ],
    });
    expect(r.verdict).toBe('fail');
    expect(r.reason).toBe(
      'the signature does not verify. the scan found nothing. Release gate: FAIL (see that section).',
    );
    const pass = buildReport({ ...parts, sections: [{ id: 'x', title: 'X' }] });
    expect(pass.reason).toBe('the scan found nothing.');
  });

  it('fails when any section fails, and passes with no status at all', () => {
    const statuses = (...list: ('pass' | 'review' | 'fail' | undefined)[]) =>
      buildReport({
        ...parts,
        sections: list.map((status, i) => ({ id: `s${i}`, title: `S${i}`, status })),
      }).verdict;
    expect(statuses('review', 'fail', 'pass')).toBe('fail');
    expect(statuses(undefined)).toBe('pass');
  });
});
