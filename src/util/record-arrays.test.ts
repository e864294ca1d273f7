import { describe, expect, it } from 'vitest';
import { fastRecordArrays, zodRecordArrays } from './record-arrays.js';

/** Values at the edges of what the element schemas accept. */
const EDGES: unknown[] = [
  0,
  1,
  -0,
  2,
  -1,
  0.5,
  -2.5,
  1e300,
  -1e-300,
  Number.NaN,
  Number.POSITIVE_INFINITY,
  Number.NEGATIVE_INFINITY,
  Number.MAX_SAFE_INTEGER,
  Number.MAX_SAFE_INTEGER + 1,
  Number.MIN_SAFE_INTEGER,
  Number.MIN_SAFE_INTEGER - 1,
  '0',
  '',
  'r0',
  null,
  undefined,
  true,
  false,
  [],
  {},
  [0],
  1n,
  Symbol('s'),
  () => 0,
];

describe('per-record arrays in plain loops', () => {
  it('accept and refuse exactly what zod’s arrays do, with zod’s issues', () => {
    const kinds = Object.keys(zodRecordArrays) as (keyof typeof zodRecordArrays)[];
    let refused = 0;
    for (const kind of kinds) {
      const arrays: unknown[] = [
        ...EDGES.flatMap((x) => [[x], [0, x], [x, 'r0', 1]]),
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
