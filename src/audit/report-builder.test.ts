import { describe, expect, it } from 'vitest';
import { buildReport } from './report-builder.js';

const parts = {
  title: 't',
  subject: {},
  headline: 'h',
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
