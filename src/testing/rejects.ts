import { expect } from 'vitest';
import { isAntidoteError } from '../errors.js';

/** Expects `p` to reject with an `AntidoteError` of `code` whose message matches `message`. */
export async function rejects(p: Promise<unknown>, code: string, message: RegExp): Promise<void> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(isAntidoteError(e, code as never), String(e)).toBe(true);
  expect((e as Error).message).toMatch(message);
}
