import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isAntidoteError } from '../errors.js';
import { reportToJSON } from './detector.js';
import { parseScanReport, readScanReport } from './scan-report.js';

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
    const decision = {
      detectors: ['ac'],
      quorum: 1,
      flagged: [0, 1],
      votes: [0, 1],
      suspicion: [0.2, 0.9],
      flaggedIds: ['r1'],
    };
    expect(parseScanReport({ ...doc, decision }, 'r.json').decision?.votes).toEqual([0, 1]);
    bad({ ...doc, decision: { ...decision, votes: [0, -1] } }, /decision\.votes\.1/);
    bad({ ...doc, decision: { ...decision, flagged: [true, 1] } }, /decision\.flagged\.0/);
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
