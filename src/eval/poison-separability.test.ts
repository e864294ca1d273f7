import { describe, expect, it } from 'vitest';
import { Rng } from '../util/rng.js';
import { poisonSeparability } from './poison-separability.js';

/**
 * Two classes of 400 records in 8 dimensions; the last dimension is flat (std 0.1) in the clean
 * records, the others have std 1. The first `poisoned` records of class 0 are the poison; with
 * `shift`, they sit `shift` away along the flat dimension (a low-variance trigger direction).
 */
function synthetic(poisoned: number, shift: number) {
  const rng = new Rng(7);
  const n = 800;
  const dim = 8;
  const data = new Float32Array(n * dim);
  const y = new Int32Array(n);
  const truth = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    y[i] = i < 400 ? 0 : 1;
    for (let j = 0; j < dim; j++) {
      data[i * dim + j] = rng.normal(y[i] === 1 && j === 0 ? 4 : 0, j === dim - 1 ? 0.1 : 1);
    }
    if (i < poisoned) {
      truth[i] = 1;
      data[i * dim + dim - 1]! += shift;
    }
  }
  return { reps: { data, dim }, y, truth };
}

describe('poisonSeparability', () => {
  it('finds a poison shifted along a low-variance direction separable on the held-out half', () => {
    const { reps, y, truth } = synthetic(40, 1);
    const s = poisonSeparability(reps, y, truth, { dims: 8 });
    expect(s).toBeDefined();
    expect(s!.auc).toBeGreaterThan(0.99);
    expect(s!.f1).toBeGreaterThan(0.9);
    expect(s!.dims).toBe(8);
    expect(s!.poisoned + s!.clean).toBeLessThan(400); // only the held-out half of class 0
    expect(s!.poisoned).toBeGreaterThanOrEqual(4);
  });

  it('reports chance level when the poisoned records are drawn like the clean ones', () => {
    const { reps, y, truth } = synthetic(40, 0);
    const s = poisonSeparability(reps, y, truth, { dims: 8 });
    expect(s).toBeDefined();
    expect(s!.auc).toBeGreaterThan(0.25);
    expect(s!.auc).toBeLessThan(0.75);
    expect(s!.f1).toBeLessThan(0.5);
  });

  it('gives no figure without enough poison, and checks its input', () => {
    const { reps, y, truth } = synthetic(0, 1);
    expect(poisonSeparability(reps, y, truth)).toBeUndefined();
    expect(poisonSeparability(reps, y, synthetic(3, 1).truth)).toBeUndefined();
    expect(() => poisonSeparability(reps, y, new Uint8Array(5))).toThrow(/ground truth covers 5/);
    expect(() => poisonSeparability(reps, y, truth, { dims: 0 })).toThrow(/dims/);
  });

  it('is deterministic for a seed', () => {
    const { reps, y, truth } = synthetic(40, 0.5);
    expect(poisonSeparability(reps, y, truth, { seed: 3 })).toEqual(
      poisonSeparability(reps, y, truth, { seed: 3 }),
    );
  });
});
