import { InvalidArgumentError } from 'commander';
import { AntidoteError } from '../errors.js';

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

/**
 * The value of a required option that a command also takes as a positional operand, a documented
 * alias (`antidote info DATA` = `antidote info --data DATA`, issue 21 item 2): exactly one of the
 * two, or both equal. `INVALID_ARGUMENT` naming `flag` (`--data <data>`) otherwise.
 */
export function optionOrOperand(
  flag: string,
  option: string | undefined,
  operand: string | undefined,
): string {
  const name = flag.split(' ')[0]!;
  if (option !== undefined && operand !== undefined && option !== operand) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `"${operand}" and ${name} "${option}" both given: give one, with ${name}`,
      { field: name.slice(2) },
    );
  }
  const value = option ?? operand;
  if (value === undefined) {
    throw new AntidoteError('INVALID_ARGUMENT', `required option '${flag}' not specified`, {
      field: name.slice(2),
    });
  }
  return value;
}
