import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import { loadPngFolder } from './png-folder.js';

/** A PNG of `w`x`h` whose pixel p has colour `px(p)` = [r, g, b]. */
function png(
  w: number,
  h: number,
  px: (p: number) => [number, number, number],
  colorType: 0 | 2 | 6 = 6,
): Buffer {
  const img = new PNG({ width: w, height: h });
  for (let p = 0; p < w * h; p++) {
    const [r, g, b] = px(p);
    img.data.set([r, g, b, 255], 4 * p);
  }
  return PNG.sync.write(img, { colorType });
}

function folder(files: Record<string, Buffer | string>): string {
  const root = mkdtempSync(join(tmpdir(), 'antidote-png-'));
  for (const [rel, data] of Object.entries(files)) {
    mkdirSync(join(root, rel, '..'), { recursive: true });
    writeFileSync(join(root, rel), data);
  }
  return root;
}

describe('loadPngFolder', () => {
  it('reads gray images into [N, H, W, 1] with sorted classes and class/file ids', async () => {
    const root = folder({
      'zebra/b.png': png(3, 2, (p) => [p * 51, p * 51, p * 51], 0),
      'zebra/a.png': png(3, 2, () => [255, 255, 255]),
      'ant/x.png': png(3, 2, () => [0, 0, 0], 2),
      'ant/notes.txt': 'not an image',
      '.hidden/z.png': png(3, 2, () => [1, 2, 3]),
      'empty/.keep': '',
    });
    const progress: number[] = [];
    const ds = await loadPngFolder(root, { onProgress: (d) => progress.push(d) });
    expect(ds.classes).toEqual(['ant', 'empty', 'zebra']);
    expect(ds.shape).toEqual([3, 2, 3, 1]);
    expect(ds.ids).toEqual(['ant/x.png', 'zebra/a.png', 'zebra/b.png']);
    expect(ds.source).toEqual(ds.ids);
    expect(Array.from(ds.y)).toEqual([0, 2, 2]);
    expect(Array.from(ds.x.subarray(12, 18))).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1].map(Math.fround));
    expect(progress).toEqual([1, 2, 3]);
  });

  it('keeps 3 channels when any image has colour, and honours color: gray', async () => {
    const root = folder({
      'a/1.png': png(2, 1, () => [10, 10, 10]),
      'b/1.png': png(2, 1, (p) => (p === 0 ? [255, 0, 0] : [0, 0, 255])),
    });
    const ds = await loadPngFolder(root);
    expect(ds.shape).toEqual([2, 1, 2, 3]);
    expect(Array.from(ds.x.subarray(6))).toEqual([1, 0, 0, 0, 0, 1]);
    const g = await loadPngFolder(root, { color: 'gray' });
    expect(g.shape).toEqual([2, 1, 2, 1]);
    expect(g.x[2]).toBeCloseTo(1 / 3, 6);
  });

  it('a PNG of the wrong size → SHAPE_MISMATCH naming the file', async () => {
    const root = folder({
      'a/1.png': png(4, 4, () => [0, 0, 0]),
      'b/2.png': png(4, 5, () => [0, 0, 0]),
    });
    await expect(loadPngFolder(root)).rejects.toMatchObject({
      code: 'SHAPE_MISMATCH',
      message: expect.stringMatching(/b\/2\.png is 4x5 but .*a\/1\.png is 4x4/),
      details: { path: join(root, 'b/2.png') },
    });
  });

  it('an unreadable PNG → INVALID_FORMAT naming the file', async () => {
    const good = png(2, 2, () => [0, 0, 0]);
    const root = folder({ 'a/1.png': good, 'a/2.png': good.subarray(0, 40) });
    await expect(loadPngFolder(root)).rejects.toMatchObject({
      code: 'INVALID_FORMAT',
      message: expect.stringContaining(`${join(root, 'a/2.png')}: unreadable PNG`),
    });
  });

  it('a folder without classes or images, or missing → precise errors', async () => {
    await expect(loadPngFolder(folder({ 'x.png': 'x' }))).rejects.toMatchObject({
      code: 'INVALID_FORMAT',
      message: expect.stringContaining('no class subfolders'),
    });
    await expect(loadPngFolder(folder({ 'a/readme': 'x' }))).rejects.toMatchObject({
      code: 'INVALID_FORMAT',
      message: expect.stringContaining('no PNG files'),
    });
    await expect(loadPngFolder('/nonexistent/antidote')).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
  });
});
