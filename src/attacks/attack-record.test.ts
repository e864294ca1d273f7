import { describe, expect, it } from 'vitest';
import { attackGroundTruth, parseAttackRecord } from './attack-record.js';

describe('attack record read-back', () => {
  it('keeps the well-typed fields only', () => {
    expect(parseAttackRecord(undefined)).toBeUndefined();
    expect(parseAttackRecord([1])).toBeUndefined();
    expect(
      parseAttackRecord({ attack: 'backdoor', params: { mode: 'all-to-one' }, ids: ['a', 3] }),
    ).toEqual({
      attack: 'backdoor',
      params: { mode: 'all-to-one' },
      ids: ['a'],
    });
    expect(parseAttackRecord({ attack: 5, params: 'x', ids: 'a' })).toEqual({});
  });

  it('the ground truth matches record ids, not positions', () => {
    const record = { attack: 'backdoor', indices: [0, 1], ids: ['r2', 'r0', 7] };
    expect(Array.from(attackGroundTruth(record, ['r0', 'r1', 'r2', 'r3']) ?? [])).toEqual([
      1, 0, 1, 0,
    ]);
    // A record without ids gives no ground truth (its positions may not match this dataset).
    expect(attackGroundTruth({ indices: [0] }, ['r0'])).toBeUndefined();
    expect(attackGroundTruth(undefined, ['r0'])).toBeUndefined();
  });
});
