import { describe, expect, it } from 'vitest';
import type { DetectionReport } from '../defenses/detector.js';
import type { ScanVerdict } from '../defenses/verdict.js';
import { sarifProblems } from '../testing/sarif.js';
import { type SarifInput, sarifDatasetLocation, scanToSarif } from './sarif.js';

const flags = (...on: number[]) => {
  const f = new Uint8Array(8);
  for (const i of on) f[i] = 1;
  return f;
};

/** 8 records, classes a/b, two contributors; ac flags 0,1,2 (class a) and 5 (class b). */
function input(verdict: ScanVerdict, source = true): SarifInput {
  const report = (flagged: Uint8Array) => ({ flagged }) as unknown as DetectionReport;
  return {
    ds: {
      ids: ['r0', 'r1', 'r2', 'r3', 'r4', 'r5', 'r6', 'r7'],
      y: Int32Array.from([0, 0, 0, 0, 1, 1, 1, 1]),
      classes: ['a', 'b'],
      ...(source
        ? { source: ['alice', 'alice', 'bob', 'bob', 'alice', 'bob', 'bob', 'alice'] }
        : {}),
    },
    scan: {
      detectors: ['ac', 'ss'],
      reports: [report(flags(0, 1, 2, 5)), report(flags(0, 1, 6))],
      // The merged decision keeps 0, 1, 2 and 5 (not ss's lone 6).
      flagged: flags(0, 1, 2, 5),
      verdict,
    },
    dataset: { path: 'data/train.csv', onDisk: true },
  };
}

const evidence = (confirmedBy: string[]) => ({
  detector: 'ac',
  classIndex: 0,
  className: 'a',
  strength: 3.2,
  flagged: 3,
  reason: 'two clusters',
  confirmedBy,
});

describe('scanToSarif', () => {
  it('writes a valid SARIF 2.1.0 log: one result per detector × class × source group', () => {
    const log = scanToSarif(
      input({ verdict: 'fail', reason: 'confirmed', evidence: [evidence(['ss'])] }),
    );
    expect(sarifProblems(JSON.parse(JSON.stringify(log)))).toEqual([]);
    const run = log.runs[0];
    expect(run.tool.driver.rules.map((r) => r.id)).toEqual(['antidote/ac', 'antidote/ss']);
    const groups = run.results.map((r) => [
      r.ruleId,
      r.properties.class,
      r.properties.source,
      r.properties.recordIds,
      r.level,
    ]);
    expect(groups).toEqual([
      ['antidote/ac', 'a', 'alice', ['r0', 'r1'], 'error'],
      ['antidote/ac', 'a', 'bob', ['r2'], 'error'],
      ['antidote/ac', 'b', 'bob', ['r5'], 'warning'],
      ['antidote/ss', 'a', 'alice', ['r0', 'r1'], 'error'],
    ]);
    const first = run.results[0]!;
    expect(first.locations[0]?.physicalLocation?.artifactLocation.uri).toBe('data/train.csv');
    expect(first.relatedLocations?.map((l) => l.logicalLocations?.[0]?.name)).toEqual(['r0', 'r1']);
    expect(first.message.text).toMatch(/^2 record\(s\) of class "a" from source "alice"/);
    // Deterministic: the same scan gives the same log.
    const again = scanToSarif(
      input({ verdict: 'fail', reason: 'confirmed', evidence: [evidence(['ss'])] }),
    );
    expect(JSON.stringify(again)).toBe(JSON.stringify(log));
  });

  it('levels follow the verdict: warnings for a REVIEW, class-level results for evidence without records', () => {
    const review = scanToSarif(
      input({ verdict: 'review', reason: 'unconfirmed', evidence: [evidence([])] }, false),
    );
    expect(sarifProblems(review)).toEqual([]);
    expect(new Set(review.runs[0].results.map((r) => r.level))).toEqual(new Set(['warning']));
    expect(review.runs[0].results.map((r) => r.properties.class)).toEqual(['a', 'b', 'a']);
    const noRecords = input({ verdict: 'review', reason: 'strong', evidence: [evidence([])] });
    const classOnly = scanToSarif({
      ...noRecords,
      scan: { ...noRecords.scan, flagged: new Uint8Array(8) },
      dataset: { path: 'mnist:test', onDisk: false },
    });
    expect(sarifProblems(classOnly)).toEqual([]);
    expect(classOnly.runs[0].results).toHaveLength(1);
    expect(classOnly.runs[0].results[0]?.properties).toMatchObject({ class: 'a', records: 0 });
    expect(classOnly.runs[0].results[0]?.locations[0]?.physicalLocation).toBeUndefined();
    const pass = scanToSarif({
      ...noRecords,
      scan: {
        ...noRecords.scan,
        flagged: new Uint8Array(8),
        verdict: { verdict: 'pass', reason: 'nothing', evidence: [] },
      },
    });
    expect(pass.runs[0].results).toEqual([]);
    expect(sarifProblems(pass)).toEqual([]);
  });

  it('points PNG folder records at their files; the checks catch broken logs', () => {
    const loc = sarifDatasetLocation(
      { kind: 'png-folder', dataset: { ids: ['a/x 1.png'] } as never },
      'data/pngs',
    );
    expect(loc).toEqual({ path: 'data/pngs', onDisk: true, recordFiles: ['a/x 1.png'] });
    expect(
      sarifDatasetLocation({ kind: 'builtin', dataset: {} as never }, 'mnist:test').onDisk,
    ).toBe(false);
    const base = input({ verdict: 'fail', reason: 'confirmed', evidence: [evidence(['ss'])] });
    const log = scanToSarif({
      ...base,
      dataset: {
        path: 'data/pngs',
        onDisk: true,
        recordFiles: base.ds.ids.map((i) => `a/${i} 1.png`),
      },
    });
    expect(log.runs[0].results[0]?.relatedLocations?.[0]?.physicalLocation).toEqual({
      artifactLocation: { uri: 'data/pngs/a/r0%201.png', uriBaseId: '%SRCROOT%' },
    });
    // The structural checks can fail.
    const doc = JSON.parse(JSON.stringify(log));
    doc.version = '2.0.0';
    doc.runs[0].results[0].ruleIndex = 7;
    doc.runs[0].results[1].level = 'critical';
    doc.runs[0].results[2].message = {};
    doc.runs[0].results[3].locations = [{}];
    expect(sarifProblems(doc)).toHaveLength(5);
  });
});
