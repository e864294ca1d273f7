import { describe, expect, it } from 'vitest';
import { suspiciousRecordsCsv } from './suspicious-csv.js';

const scan = {
  flagged: Uint8Array.from([0, 1, 1, 0]),
  suspicion: Float32Array.from([0.9, 0.5, 0.8, 0.1]),
  detectors: ['ac', 'ss'],
  reports: [{ flagged: Uint8Array.from([1, 1, 1, 0]) }, { flagged: Uint8Array.from([0, 0, 1, 0]) }],
} as unknown as Parameters<typeof suspiciousRecordsCsv>[1];

describe('suspiciousRecordsCsv', () => {
  it('lists the flagged records, most suspicious first, with their detectors', () => {
    const ds = {
      ids: ['r0', 'r1', 'r,2', 'r3'],
      y: Int32Array.from([0, 1, 1, 0]),
      classes: ['a', 'b'],
    };
    expect(suspiciousRecordsCsv(ds, scan)).toBe(
      'id,label,flagged_by,suspicion\n"r,2",b,ac;ss,0.8000\nr1,b,ac,0.5000\n',
    );
  });

  it('adds the source column when the dataset records sources; a header alone when none flagged', () => {
    const ds = {
      ids: ['r0', 'r1', 'r2', 'r3'],
      y: Int32Array.from([0, 1, 1, 0]),
      classes: ['a', 'b'],
      source: ['s0', 's1', 'vendor "x"', 's3'],
    };
    expect(suspiciousRecordsCsv(ds, scan)).toBe(
      'id,label,source,flagged_by,suspicion\nr2,b,"vendor ""x""",ac;ss,0.8000\nr1,b,s1,ac,0.5000\n',
    );
    const none = { ...scan, flagged: new Uint8Array(4) };
    expect(suspiciousRecordsCsv(ds, none)).toBe('id,label,source,flagged_by,suspicion\n');
  });
});
