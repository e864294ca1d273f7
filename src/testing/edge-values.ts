/**
 * Values at the edges of what zod's element schemas accept (numbers, safe integers, the literals
 * 0 and 1, strings) and values of other types: the cases a check written apart from zod must
 * decide as zod does (`util/record-arrays.ts`).
 */
export const EDGE_VALUES: readonly unknown[] = [
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
