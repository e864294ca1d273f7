import { expect } from 'vitest';
import { isAntidoteError } from '../errors.js';

/** Expects `fn()` to throw an `AntidoteError` of `code` (default `INVALID_ARGUMENT`). */
export function expectThrowsCode(fn: () => unknown, code = 'INVALID_ARGUMENT'): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(isAntidoteError(err, code as never), String(err)).toBe(true);
}
