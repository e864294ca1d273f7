import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isAntidoteError } from '../errors.js';
import { EDGE_VALUES } from '../testing/edge-values.js';
import { reportToJSON } from './detector.js';
import { parseScanReport, readScanReport, scanReportSchema } from './scan-report.js';

const method = reportToJSON(
  {
    method: 'activation-clustering',
    scores: Float32Array.from([0.1, 0.9]),
    flagged: Uint8Array.from([0, 1]),
    perClass: [
      {
        classIndex: 0,
        className: 'a',
        count: 2,
        flagged: 1,
        suspicious: true,
        reason: 'small cluster',
        stats: { separation: null },
      },
    ],
    params: { seed: 0 },
  },
  ['r0', 'r1'],
);
const doc = { format: 'antidote-scan', version: 1, records: 2, methods: { ac: method } };
const decision = {
  detectors: ['ac'],
  quorum: 1,
  flagged: [0, 1],
  votes: [0, 1],
  suspicion: [0.2, 0.9],
  flaggedIds: ['r1'],
};

describe('scan report schema', () => {
  it('accepts what scan writes (without a decision too) and rejects a broken report by field', () => {
    expect(parseScanReport(doc, 'r.json').methods.ac?.flagged).toEqual([0, 1]);
    const bad = (d: unknown, field: RegExp) => {
      let err: unknown;
      try {
        parseScanReport(d, 'r.json');
      } catch (e) {
        err = e;
      }
      expect(isAntidoteError(err, 'INVALID_FORMAT')).toBe(true);
      expect((err as Error).message).toMatch(field);
    };
    bad({ ...doc, format: 'other' }, /format/);
    bad({ ...doc, methods: { ac: { ...method, flagged: [0] } } }, /methods\.ac\.flagged/);
    bad({ ...doc, methods: { ac: { ...method, flagged: [0, 2] } } }, /methods\.ac\.flagged\.1/);
    bad({ ...doc, methods: { ac: { ...method, ids: ['r0'] } } }, /methods\.ac\.ids/);
    bad({ ...doc, decision: { detectors: [], quorum: 1 } }, /decision/);
    // Number arrays: the first bad element is named by its index, whatever is wrong with it.
    bad({ ...doc, methods: { ac: { ...method, scores: [0.1, '0.9'] } } }, /methods\.ac\.scores\.1/);
    bad({ ...doc, methods: { ac: { ...method, scores: [null, 0.9] } } }, /methods\.ac\.scores\.0/);
    bad({ ...doc, methods: { ac: { ...method, scores: 'x' } } }, /methods\.ac\.scores: .*array/);
    const { scores: _scores, ...noScores } = method;
    bad({ ...doc, methods: { ac: noScores } }, /methods\.ac\.scores/);
    bad(
      { ...doc, methods: { ac: { ...method, suggestedLabels: [0, 1.5] } } },
      /suggestedLabels\.1/,
    );
    expect(parseScanReport({ ...doc, decision }, 'r.json').decision?.votes).toEqual([0, 1]);
    bad({ ...doc, decision: { ...decision, votes: [0, -1] } }, /decision\.votes\.1/);
    bad({ ...doc, decision: { ...decision, flagged: [true, 1] } }, /decision\.flagged\.0/);
  });

  it('checks the per-record arrays in plain loops with zod’s verdicts: same errors, same fields', () => {
    // Every per-record array of the report, each value of a set of edge cases put in turn at its
    // first and its last place: parseScanReport (the loops) accepts exactly what the zod schema
    // (the contract) accepts, and names the same first field and reason when it refuses.
    const full = { ...doc, methods: { ac: { ...method, suggestedLabels: [1, 0] } }, decision };
    const arrays: [string, (v: unknown[]) => unknown][] = [
      ['scores', (v) => ({ ...full, methods: { ac: { ...full.methods.ac, scores: v } } })],
      ['flagged', (v) => ({ ...full, methods: { ac: { ...full.methods.ac, flagged: v } } })],
      ['ids', (v) => ({ ...full, methods: { ac: { ...full.methods.ac, ids: v } } })],
      ['labels', (v) => ({ ...full, methods: { ac: { ...full.methods.ac, suggestedLabels: v } } })],
      ['decision.flagged', (v) => ({ ...full, decision: { ...decision, flagged: v } })],
      ['votes', (v) => ({ ...full, decision: { ...decision, votes: v } })],
      ['suspicion', (v) => ({ ...full, decision: { ...decision, suspicion: v } })],
      ['flaggedIds', (v) => ({ ...full, decision: { ...decision, flaggedIds: v } })],
    ];
    const verdict = (d: unknown) => {
      try {
        parseScanReport(d, 'r.json');
        return 'ok';
      } catch (e) {
        return (e as Error).message;
      }
    };
    const zodVerdict = (d: unknown) => {
      const r = scanReportSchema.safeParse(d);
      if (r.success) return 'ok';
      const issue = r.error.issues[0]!;
      return `r.json is not a valid antidote scan report: ${issue.path.join('.') || '(root)'}: ${issue.message}`;
    };
    let refused = 0;
    for (const [name, make] of arrays) {
      const base = name === 'ids' ? ['r0', 'r1'] : name === 'flaggedIds' ? [] : [0, 1];
      const docs = EDGE_VALUES.flatMap((x) =>
        name === 'flaggedIds' ? [make([x])] : [make([x, base[1]]), make([base[0], x])],
      );
      // A hole (read as undefined), a value that is not an array, and the array missing.
      // biome-ignore lint/suspicious/noSparseArray: a hole is one of the cases
      docs.push(make([, base[1]]), make('x' as never), make(undefined as never));
      for (const d of docs) {
        const v = verdict(d);
        expect(`${name}: ${v}`).toBe(`${name}: ${zodVerdict(d)}`);
        if (v !== 'ok') refused++;
      }
    }
    expect(refused).toBeGreaterThan(150);
    // What scan writes passes both, and reads back as the same values.
    expect(parseScanReport(full, 'r.json')).toEqual(scanReportSchema.parse(full));
  });

  it('reads a report directory or file: NOT_FOUND when absent, INVALID_FORMAT when not JSON', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'antidote-scan-report-'));
    await writeFile(join(dir, 'report.json'), JSON.stringify(doc));
    expect((await readScanReport(dir)).report.records).toBe(2);
    expect((await readScanReport(join(dir, 'report.json'))).file).toBe(join(dir, 'report.json'));
    await expect(readScanReport(join(dir, 'missing'))).rejects.toSatisfy((e) =>
      isAntidoteError(e, 'NOT_FOUND'),
    );
    await writeFile(join(dir, 'bad.json'), '{');
    await expect(readScanReport(join(dir, 'bad.json'))).rejects.toSatisfy((e) =>
      isAntidoteError(e, 'INVALID_FORMAT'),
    );
  });
});
