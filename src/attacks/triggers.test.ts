import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAntidoteError } from '../errors.js';
import { Rng } from '../util/rng.js';
import { decodePngImage } from './trigger-image.js';
import {
  addPatternTrigger,
  addPixelTrigger,
  applyTriggerBatch,
  createTrigger,
  loadTrigger,
  type TriggerSpec,
} from './triggers.js';

/**
 * The reference toolkit's expected trigger pixels: ../shared/reference/triggers.json beside the
 * repository when present (CI has it), else the in-repo copy, which must then match it.
 */
const SHARED_REFERENCE = fileURLToPath(
  new URL('../../../shared/reference/triggers.json', import.meta.url),
);
const IN_REPO_REFERENCE = fileURLToPath(new URL('./fixtures/triggers.json', import.meta.url));
const referenceText = readFileSync(
  existsSync(SHARED_REFERENCE) ? SHARED_REFERENCE : IN_REPO_REFERENCE,
  'utf8',
);
const reference = JSON.parse(referenceText) as {
  cases: {
    layout: 'HW' | 'HWC';
    height: number;
    width: number;
    channels?: number;
    distance: number;
    value: number;
    single: number[][];
    pattern: number[][];
  }[];
};

/** Positions (flat indices) whose value differs between a and b. */
function changed(a: Float32Array, b: Float32Array): number[] {
  const out: number[] = [];
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) out.push(i);
  return out;
}

function randomImage(n: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = rng.next() * 0.5; // never 1, so a set pixel always differs
  return x;
}

describe('ART conformance (shared/reference/triggers.json)', () => {
  it('has cases to check', () => {
    expect(reference.cases.length).toBeGreaterThanOrEqual(13);
  });
  for (const [i, cs] of reference.cases.entries()) {
    const c = cs.channels ?? 1;
    const shape = cs.layout === 'HW' ? [cs.height, cs.width] : [cs.height, cs.width, c];
    const flat = (p: number[]) => (p[0]! * cs.width + p[1]!) * c + (p[2] ?? 0);
    for (const which of ['single', 'pattern'] as const) {
      it(`case ${i}: ${which} ${cs.layout} ${cs.height}×${cs.width} d=${cs.distance} v=${cs.value}`, () => {
        const zero = new Float32Array(cs.height * cs.width * c);
        const out =
          which === 'single'
            ? addPixelTrigger(zero, shape, cs.distance, cs.value)
            : addPatternTrigger(zero, shape, cs.distance, cs.value);
        const expected = cs[which].map(flat).sort((a, b) => a - b);
        expect(changed(zero, out)).toEqual(expected);
        for (const j of expected) expect(out[j]).toBeCloseTo(cs.value, 6);
        expect(zero.every((v) => v === 0)).toBe(true); // input untouched
        // Same result through the spec-driven trigger.
        const t = createTrigger({
          kind: which === 'single' ? 'pixel' : 'pattern',
          distance: cs.distance,
          value: cs.value,
        });
        expect(t.apply(zero, shape, new Rng(1))).toEqual(out);
      });
    }
  }
});

describe('default placement (DESIGN.md §3)', () => {
  it('pixel and pattern with defaults d=2, v=1 on 28×28×1', () => {
    const img = randomImage(28 * 28, 3);
    const px = addPixelTrigger(img, [28, 28, 1]);
    expect(changed(img, px)).toEqual([26 * 28 + 26]);
    expect(px[26 * 28 + 26]).toBe(1);
    const pt = addPatternTrigger(img, [28, 28, 1]);
    expect(changed(img, pt)).toEqual([24 * 28 + 26, 25 * 28 + 25, 26 * 28 + 24, 26 * 28 + 26]);
  });
});

const specs: TriggerSpec[] = [
  { kind: 'pixel' },
  { kind: 'pattern', distance: 3, value: 0.9 },
  { kind: 'checkerboard', size: 3 },
  { kind: 'checkerboard', size: 4, position: 'top-left', margin: 0, values: [0.8, 0.6] },
  { kind: 'checkerboard', size: 2, position: 'random' },
  { kind: 'image', image: 'bright-square', size: 3 },
  { kind: 'image', image: 'cyan-square', size: 4, position: 'top-right', alpha: 0.5 },
  { kind: 'image', image: 'bright-square', size: 3, position: 'random' },
];

describe('footprint: pixels outside the trigger never change', () => {
  for (const shape of [
    [10, 12],
    [10, 12, 1],
    [10, 12, 3],
  ]) {
    for (const spec of specs) {
      it(`${JSON.stringify(spec)} on [${shape.join(',')}]`, () => {
        const [h, w] = shape as [number, number];
        const c = shape[2] ?? 1;
        const img = randomImage(h * w * c, 7);
        const before = img.slice();
        const t = createTrigger(spec);
        const out = t.apply(img, shape, new Rng(11));
        expect(img).toEqual(before); // never mutates
        const diff = changed(img, out);
        expect(diff.length).toBeGreaterThan(0);
        // Every changed value lies in a bounding box of the expected size.
        const rows = diff.map((i) => Math.floor(i / (w * c)));
        const cols = diff.map((i) => Math.floor(i / c) % w);
        const side =
          spec.kind === 'pixel' ? 1 : spec.kind === 'pattern' ? 3 : (spec as { size: number }).size;
        expect(Math.max(...rows) - Math.min(...rows)).toBeLessThan(side);
        expect(Math.max(...cols) - Math.min(...cols)).toBeLessThan(side);
        // Changes hit every channel of a touched pixel (local triggers are channel-complete).
        const pixels = new Set(diff.map((i) => Math.floor(i / c)));
        if (spec.kind !== 'image') expect(diff.length).toBe(pixels.size * c);
      });
    }
  }
});

describe('checkerboard', () => {
  it('alternates values with the top-left cell first, at bottom-right with margin 1', () => {
    const img = new Float32Array(8 * 8).fill(0.5);
    const out = createTrigger({ kind: 'checkerboard', size: 3 }).apply(img, [8, 8], new Rng(0));
    // origin = [8-3-1, 8-3-1] = [4, 4]
    for (let i = 0; i < 3; i++) {
      for (let j = 0; j < 3; j++) expect(out[(4 + i) * 8 + 4 + j]).toBe((i + j) % 2 === 0 ? 1 : 0);
    }
    expect(changed(img, out).length).toBe(9);
  });
  it('random position is seeded: same seed same place, different seeds move it', () => {
    const img = new Float32Array(20 * 20).fill(0.5);
    const t = createTrigger({ kind: 'checkerboard', size: 2, position: 'random' });
    const a = t.apply(img, [20, 20], new Rng(5));
    expect(t.apply(img, [20, 20], new Rng(5))).toEqual(a);
    const places = new Set<string>();
    for (let s = 0; s < 10; s++)
      places.add(changed(img, t.apply(img, [20, 20], new Rng(s))).join());
    expect(places.size).toBeGreaterThan(1);
  });
});

describe('image insert', () => {
  it('cyan square on RGB sets (0,1,1) opaque, and blends with alpha', () => {
    const img = new Float32Array(6 * 6 * 3).fill(0.4);
    const out = createTrigger({ kind: 'image', image: 'cyan-square', size: 2, margin: 0 }).apply(
      img,
      [6, 6, 3],
      new Rng(0),
    );
    const at = (r: number, c: number) =>
      Array.from(out.subarray((r * 6 + c) * 3, (r * 6 + c) * 3 + 3));
    expect(at(5, 5)).toEqual([0, 1, 1]);
    expect(at(4, 4)).toEqual([0, 1, 1]);
    expect(at(3, 3)).toEqual([0.4, 0.4, 0.4].map(Math.fround));
    const half = createTrigger({
      kind: 'image',
      image: 'cyan-square',
      size: 2,
      margin: 0,
      alpha: 0.5,
    }).apply(img, [6, 6, 3], new Rng(0));
    expect(half[(5 * 6 + 5) * 3]).toBeCloseTo(0.2, 6);
    expect(half[(5 * 6 + 5) * 3 + 1]).toBeCloseTo(0.7, 6);
  });
  it('bright square on grayscale sets 1', () => {
    const img = new Float32Array(28 * 28);
    const out = createTrigger({ kind: 'image', image: 'bright-square', size: 4 }).apply(
      img,
      [28, 28, 1],
      new Rng(0),
    );
    const diff = changed(img, out);
    expect(diff.length).toBe(16);
    for (const i of diff) expect(out[i]).toBe(1);
    expect(diff[0]).toBe(23 * 28 + 23);
  });
  describe('PNG files', () => {
    let dir: string;
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'antidote-trig-'));
    });
    afterAll(async () => {
      await rm(dir, { recursive: true, force: true });
    });
    it('reads a PNG, scales it (nearest) and honours its transparency', async () => {
      const png = new PNG({ width: 2, height: 2 });
      // red opaque, green opaque / blue opaque, transparent
      png.data.set([255, 0, 0, 255, 0, 255, 0, 255, 0, 0, 255, 255, 0, 0, 0, 0]);
      const path = join(dir, 'trig.png');
      await writeFile(path, PNG.sync.write(png));
      const t = await loadTrigger({
        kind: 'image',
        image: path,
        size: 4,
        position: 'top-left',
        margin: 0,
      });
      const img = new Float32Array(5 * 5 * 3).fill(0.25);
      const out = t.apply(img, [5, 5, 3], new Rng(0));
      const at = (r: number, c: number) =>
        Array.from(out.subarray((r * 5 + c) * 3, (r * 5 + c) * 3 + 3));
      expect(at(0, 0)).toEqual([1, 0, 0]);
      expect(at(1, 3)).toEqual([0, 1, 0]);
      expect(at(3, 0)).toEqual([0, 0, 1]);
      expect(at(3, 3)).toEqual([0.25, 0.25, 0.25]); // transparent quadrant untouched
      expect(at(4, 4)).toEqual([0.25, 0.25, 0.25]); // outside the patch
    });
    it('an unreadable PNG is INVALID_FORMAT; a missing one NOT_FOUND', async () => {
      const path = join(dir, 'bad.png');
      await writeFile(path, 'not a png');
      await expect(loadTrigger({ kind: 'image', image: path, size: 3 })).rejects.toSatisfy((e) =>
        isAntidoteError(e, 'INVALID_FORMAT'),
      );
      await expect(
        loadTrigger({ kind: 'image', image: join(dir, 'none.png'), size: 3 }),
      ).rejects.toSatisfy((e) => isAntidoteError(e, 'NOT_FOUND'));
      expect(() => decodePngImage(new Uint8Array([137, 80, 78, 71]), 'x')).toThrow(
        /not a readable PNG/,
      );
    });
    it('a PNG trigger must be loaded first', () => {
      expect(() => createTrigger({ kind: 'image', image: '/some/file.png', size: 3 })).toThrow(
        /loadTrigger/,
      );
    });
  });
});

describe('blend (Chen et al. 2017)', () => {
  it('mixes a seeded noise key with weight alpha, identical across calls', () => {
    const img = randomImage(8 * 8, 1);
    const t = createTrigger({ kind: 'blend', alpha: 0.2, seed: 42 });
    const a = t.apply(img, [8, 8, 1], new Rng(1));
    const b = createTrigger({ kind: 'blend', alpha: 0.2, seed: 42 }).apply(
      img,
      [8, 8, 1],
      new Rng(99),
    );
    expect(a).toEqual(b); // the key depends on the spec seed only
    const c = createTrigger({ kind: 'blend', alpha: 0.2, seed: 43 }).apply(
      img,
      [8, 8, 1],
      new Rng(1),
    );
    expect(c).not.toEqual(a);
    // out = 0.2 k + 0.8 x with k in [0, 1)  ⇒  out - 0.8 x in [0, 0.2)
    for (let i = 0; i < img.length; i++) {
      const k = (a[i]! - 0.8 * img[i]!) / 0.2;
      expect(k).toBeGreaterThanOrEqual(-1e-5);
      expect(k).toBeLessThan(1 + 1e-5);
    }
    expect(
      createTrigger({ kind: 'blend', alpha: 0, seed: 1 }).apply(img, [8, 8, 1], new Rng(0)),
    ).toEqual(img);
  });
  it('uses a picture as key when given', () => {
    const img = new Float32Array(4 * 4 * 3);
    const out = createTrigger({ kind: 'blend', alpha: 0.5, image: 'cyan-square' }).apply(
      img,
      [4, 4, 3],
      new Rng(0),
    );
    expect(Array.from(out.subarray(0, 3))).toEqual([0, 0.5, 0.5]);
  });
});

describe('validation', () => {
  const rng = new Rng(0);
  const img = new Float32Array(8 * 8);
  const bad: TriggerSpec[] = [
    { kind: 'pixel', distance: 0 },
    { kind: 'pixel', distance: 9 },
    { kind: 'pattern', distance: 7 },
    { kind: 'pixel', value: Number.NaN },
    { kind: 'checkerboard', size: 8 }, // 8 + margin 1 > 8
    { kind: 'checkerboard', size: 0 },
    { kind: 'image', image: 'bright-square', size: 9, position: 'random' },
    { kind: 'image', image: 'bright-square', size: 2, alpha: 1.5 },
    { kind: 'blend', alpha: -0.1 },
    { kind: 'nope' } as unknown as TriggerSpec,
  ];
  for (const spec of bad) {
    it(`rejects ${JSON.stringify(spec)}`, () => {
      let err: unknown;
      try {
        createTrigger(spec).apply(img, [8, 8], rng);
      } catch (e) {
        err = e;
      }
      expect(isAntidoteError(err, 'INVALID_ARGUMENT')).toBe(true);
    });
  }
  it('rejects a wrong image length', () => {
    expect(() => addPixelTrigger(new Float32Array(10), [3, 3])).toThrow(/needs 9/);
  });
});

describe('batch', () => {
  it('applies to every image and leaves the input alone', () => {
    const x = randomImage(3 * 6 * 6, 2);
    const before = x.slice();
    const out = applyTriggerBatch(createTrigger({ kind: 'pattern' }), x, 3, [6, 6, 1], new Rng(0));
    expect(x).toEqual(before);
    expect(changed(x, out).length).toBe(12);
  });
});

describe('reference fixture', () => {
  it.skipIf(!existsSync(SHARED_REFERENCE))('the in-repo copy matches ../shared/reference', () => {
    expect(JSON.parse(readFileSync(IN_REPO_REFERENCE, 'utf8'))).toEqual(
      JSON.parse(readFileSync(SHARED_REFERENCE, 'utf8')),
    );
  });
});
