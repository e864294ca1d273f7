import { expect } from 'vitest';
import type { PoisonResult } from '../attacks/attack.js';
import { type Dataset, recordSize, validateDataset } from '../data/dataset.js';

/**
 * Checks a poisoning result against its clean dataset record by record: a valid dataset, the
 * clean one left as it was (`before`: a copy of its pixels taken before the attack), every record
 * outside `result.record.indices` byte-identical with its label; calls `check` on each listed
 * record with its poisoned and clean pixels (for the attack's own expectations).
 */
export function expectOnlyListedModified(
  clean: Dataset,
  before: Float32Array,
  result: PoisonResult,
  check: (i: number, row: Float32Array, orig: Float32Array) => void,
): void {
  validateDataset(result.dataset);
  expect(clean.x).toEqual(before);
  const size = recordSize(clean);
  const modified = new Set(result.record.indices);
  for (let i = 0; i < clean.y.length; i++) {
    const row = result.dataset.x.subarray(i * size, (i + 1) * size);
    const orig = clean.x.subarray(i * size, (i + 1) * size);
    if (modified.has(i)) {
      check(i, row, orig);
    } else {
      expect(row).toEqual(orig);
      expect(result.dataset.y[i]).toBe(clean.y[i]);
    }
  }
}
