import { InvalidArgumentError } from 'commander';

/** commander parser for an integer option. */
export function parseInteger(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n))
    throw new InvalidArgumentError(`expected an integer, got "${value}"`);
  return n;
}

/** commander parser for a number option. */
export function parseNumber(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n))
    throw new InvalidArgumentError(`expected a number, got "${value}"`);
  return n;
}

/** commander parser for a comma-separated list of positive integers ("256,128"). */
export function parseIntegerList(value: string): number[] {
  return value.split(',').map((s) => {
    const n = Number(s.trim());
    if (!Number.isInteger(n) || n < 1)
      throw new InvalidArgumentError(`expected positive integers, got "${value}"`);
    return n;
  });
}

/** commander parser for a comma-separated list of numbers ("0.485,0.456,0.406"). */
export function parseNumberList(value: string): number[] {
  return value.split(',').map((s) => parseNumber(s.trim()));
}
