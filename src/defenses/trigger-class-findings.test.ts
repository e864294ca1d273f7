import { describe, expect, it } from 'vitest';
import { triggerClassFindings } from './trigger-class-findings.js';

describe('triggerClassFindings', () => {
  const ds = { y: Int32Array.from([0, 1, 1, 2, 1, 0]), classes: ['a', 'b', 'c'] };
  const flagged = Uint8Array.from([0, 1, 0, 1, 1, 0]);
  const wording = {
    strength: (c: number) => c * 2,
    found: (own: readonly { label: number; name: string }[]) => `found ${own.map((t) => t.name)}`,
    none: 'nothing',
    stats: (own: readonly { label: number; name: string }[]) => ({ n: own.length }),
  };

  it('marks exactly the classes a trigger pushes to, and counts their flagged records', () => {
    const triggers = [
      { label: 1, name: 'x' },
      { label: 1, name: 'y' },
    ];
    const f = triggerClassFindings(ds, flagged, triggers, wording);
    expect(f.map((c) => c.suspicious)).toEqual([false, true, false]);
    expect(f.map((c) => c.count)).toEqual([2, 3, 1]);
    // Class 2's flagged record counts for class 2, though no trigger names it.
    expect(f.map((c) => c.flagged)).toEqual([0, 2, 1]);
    expect(f[1]!.reason).toBe('found x,y');
    expect(f[0]!.reason).toBe('nothing');
    expect(f.map((c) => c.strength)).toEqual([0, 2, 4]);
    expect(f[1]!.stats).toEqual({ n: 2 });
    expect(f[2]!.className).toBe('c');
  });
});
