import { describe, expect, it } from 'vitest';
import { rowArgmax } from './argmax.js';

describe('rowArgmax', () => {
  it('takes the first largest value of each row', () => {
    const m = Float32Array.from([0.1, 0.7, 0.2, 3, 3, 1, -1, -2, -0.5, 2, 5, 5]);
    expect([...rowArgmax(m, 4, 3)]).toEqual([1, 0, 2, 1]);
    expect([...rowArgmax([], 0, 3)]).toEqual([]);
  });
});
