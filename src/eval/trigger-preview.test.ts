import { describe, expect, it } from 'vitest';
import { createTrigger } from '../attacks/triggers.js';
import { encodedImages } from '../testing/fake-model.js';
import { Rng } from '../util/rng.js';
import { triggerPreview } from './trigger-preview.js';

describe('triggerPreview', () => {
  it('takes one record per class in turn and triggers a copy', () => {
    const ds = encodedImages(10, 3, 1, [4, 4, 1]);
    const p = triggerPreview(ds, createTrigger({ kind: 'pixel' }), 4, new Rng(0));
    expect(p.clean.map((c) => c.id)).toEqual(['r0', 'r1', 'r2', 'r3']);
    expect(p.clean[0]!.data).toEqual(ds.x.slice(0, 16));
    expect(p.triggered[0]!.data[2 * 4 + 2]).toBe(1);
    expect(p.clean[0]!.data[2 * 4 + 2]).not.toBe(1);
    expect(triggerPreview(ds, createTrigger({ kind: 'pixel' }), 50, new Rng(0)).clean.length).toBe(
      10,
    );
    expect(() => triggerPreview(ds, createTrigger({ kind: 'pixel' }), 0, new Rng(0))).toThrow(
      /positive/,
    );
  });
});
