import { describe, expect, it } from 'vitest';
import { isAntidoteError } from '../errors.js';
import { Rng } from '../util/rng.js';
import { choleskySolve } from './cholesky.js';

describe('choleskySolve', () => {
  it('solves a random symmetric positive-definite system', () => {
    const d = 12;
    const rng = new Rng(4);
    const m = Float64Array.from({ length: d * d }, () => rng.normal());
    const a = new Float64Array(d * d);
    for (let i = 0; i < d; i++)
      for (let j = 0; j < d; j++) {
        let s = i === j ? 0.5 : 0;
        for (let k = 0; k < d; k++) s += m[i * d + k]! * m[j * d + k]!;
        a[i * d + j] = s;
      }
    const x = Float64Array.from({ length: d }, () => rng.normal());
    const b = new Float64Array(d);
    for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) b[i]! += a[i * d + j]! * x[j]!;
    const got = choleskySolve(a, d, b);
    for (let i = 0; i < d; i++) expect(got[i]).toBeCloseTo(x[i]!, 8);
  });

  it('rejects a matrix that is not positive definite, and bad shapes', () => {
    const cases: Array<[Float64Array, number, number[], string]> = [
      [Float64Array.from([1, 2, 2, 1]), 2, [1, 1], 'INVALID_ARGUMENT'],
      [Float64Array.from([1, 0, 0]), 2, [1, 1], 'SHAPE_MISMATCH'],
    ];
    for (const [a, d, b, code] of cases) {
      let err: unknown;
      try {
        choleskySolve(a, d, b);
      } catch (e) {
        err = e;
      }
      expect(isAntidoteError(err, code as 'INVALID_ARGUMENT')).toBe(true);
    }
  });
});
