import { describe, expect, it } from 'vitest';
import { EDGE_VALUES } from '../testing/edge-values.js';
import { fastRecordArrays, zodRecordArrays } from './record-arrays.js';

describe('per-record arrays in plain loops', () => {
  it('accept and refuse exactly what zod’s arrays do, with zod’s issues', () => {
    const kinds = Object.keys(zodRecordArrays) as (keyof typeof zodRecordArrays)[];
    let refused = 0;
    for (const kind of kinds) {
      const arrays: unknown[] = [
        ...EDGE_VALUES.flatMap((x) => [[x], [0, x], [x, 'r0', 1]]),
        // biome-ignore lint/suspicious/noSparseArray: a hole is one of the cases
        [0, , 1],
        [],
        'not an array',
        undefined,
        null,
        { length: 1, 0: 0 },
      ];
      for (const [i, v] of arrays.entries()) {
        const zod = zodRecordArrays[kind].safeParse(v);
        const fast = fastRecordArrays[kind].safeParse(v);
        expect(fast.success, `${kind}, case ${i}`).toBe(zod.success);
        if (!zod.success) {
          refused++;
          expect(fast.error?.issues[0], `${kind}, case ${i}`).toEqual(zod.error.issues[0]);
        } else expect(fast.data).toEqual(zod.data);
      }
    }
    expect(refused).toBeGreaterThan(300);
  });
});
