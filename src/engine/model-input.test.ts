import { describe, expect, it } from 'vitest';
import { isAntidoteError } from '../errors.js';
import { type ModelInput, parseModelRecords } from './model-input.js';

const CLASSES = ['a', 'b'];

function fails(input: ModelInput, records: unknown[], code: string, message: RegExp): void {
  let e: unknown;
  try {
    parseModelRecords(input, records, CLASSES);
  } catch (err) {
    e = err;
  }
  expect(isAntidoteError(e, code as never), String(e)).toBe(true);
  expect((e as Error).message).toMatch(message);
}

describe('parseModelRecords', () => {
  it('reads flattened tensors and names the record that does not fit', () => {
    const input: ModelInput = { kind: 'tensor', shape: [2, 2, 1] };
    const ds = parseModelRecords(
      input,
      [
        [0, 0.5, 1, 0.25],
        [1, 1, 1, 1],
      ],
      CLASSES,
    );
    expect(ds.shape).toEqual([2, 2, 2, 1]);
    expect(Array.from(ds.x.subarray(0, 4))).toEqual([0, 0.5, 1, 0.25]);
    expect(ds.classes).toEqual(CLASSES);
    expect(Array.from(ds.y)).toEqual([0, 0]);
    fails(
      input,
      [[1, 2, 3]],
      'SHAPE_MISMATCH',
      /inputs\[0\] has 3 values; the model takes 4 \(2×2×1/,
    );
    fails(
      input,
      [
        [1, 2, 3, 4],
        [1, 'x', 3, 4],
      ],
      'INVALID_ARGUMENT',
      /inputs\[1\]\[1\] is not a number/,
    );
    fails(input, [[1, 2, 3, Number.POSITIVE_INFINITY]], 'NON_FINITE_VALUE', /inputs\[0\]\[3\]/);
    fails(input, [{ text: 'x' }], 'INVALID_ARGUMENT', /inputs\[0\] must be an array of numbers/);
  });

  it('reads {"text": …} records', () => {
    const ds = parseModelRecords({ kind: 'text' }, [{ text: 'good' }, { text: '' }], CLASSES);
    expect(ds.shape).toEqual([2, 0]);
    expect(ds.text).toEqual(['good', '']);
    expect(ds.ids).toEqual(['0', '1']);
    fails({ kind: 'text' }, ['plain'], 'INVALID_ARGUMENT', /inputs\[0\] must be \{"text"/);
    fails({ kind: 'text' }, [{ text: 'a', label: 1 }], 'INVALID_ARGUMENT', /inputs\[0\]/);
    fails({ kind: 'text' }, [{ text: 3 }], 'INVALID_ARGUMENT', /inputs\[0\]/);
  });

  it('reads tabular rows as column objects or arrays, levels by name or index', () => {
    const input: ModelInput = {
      kind: 'tabular',
      columns: [
        { name: 'age', kind: 'numeric' },
        { name: 'housing', kind: 'categorical', levels: ['own', 'rent'] },
      ],
    };
    const ds = parseModelRecords(
      input,
      [{ housing: 'rent', age: 40 }, [30, 'own'], [25, 1]],
      CLASSES,
    );
    expect(ds.shape).toEqual([3, 2]);
    expect(Array.from(ds.x)).toEqual([40, 1, 30, 0, 25, 1]);
    fails(input, [{ age: 1 }], 'INVALID_ARGUMENT', /missing column\(s\) housing/);
    fails(input, [{ age: 1, housing: 'own', x: 2 }], 'INVALID_ARGUMENT', /unknown column\(s\) x/);
    fails(input, [[1]], 'SHAPE_MISMATCH', /has 1 values; the model reads 2 columns/);
    fails(input, [[1, 'castle']], 'INVALID_ARGUMENT', /inputs\[0\]: column "housing" has no level/);
    fails(input, [['old', 'own']], 'INVALID_ARGUMENT', /column "age" is numeric/);
    fails(input, [[null, 'own']], 'INVALID_ARGUMENT', /column "age" must be a number or a level/);
    fails(input, ['x'], 'INVALID_ARGUMENT', /an object keyed by column name/);
  });
});
