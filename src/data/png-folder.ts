import { join } from 'node:path';
import { AntidoteError } from '../errors.js';
import { readBytes, readDirEntries } from '../util/fs.js';
import { type Dataset, validateDataset } from './dataset.js';
import { decodePng as decodeRgba } from './png.js';

/** Progress of a long load: `done` of `total` items. */
export type ProgressCallback = (done: number, total: number) => void;

/** Options for {@link loadPngFolder}. */
export interface PngFolderOptions {
  /**
   * Channels: `auto` (default) gives 1 when every pixel of every image is gray (R = G = B), else 3;
   * `gray` averages R, G, B into 1 channel; `rgb` always gives 3.
   */
  readonly color?: 'auto' | 'gray' | 'rgb';
  /** Called after each decoded image. */
  readonly onProgress?: ProgressCallback;
}

/** A decoded PNG: its pixels as 8-bit RGB, and whether they are all gray. */
export interface DecodedPng {
  readonly width: number;
  readonly height: number;
  /** `width * height * 3` bytes, row-major RGB (alpha dropped). */
  readonly rgb: Uint8Array;
  readonly gray: boolean;
}

/**
 * Decodes PNG bytes (any bit depth and colour type pngjs reads; 16-bit is scaled to 8-bit) to
 * RGB. Alpha is dropped, not composited. `INVALID_FORMAT` naming `where` when the PNG is
 * unreadable.
 */
export function decodePng(bytes: Uint8Array, where = '<png>'): DecodedPng {
  const { width, height, data } = decodeRgba(
    bytes,
    where,
    (reason) => `${where}: unreadable PNG: ${reason}`,
  );
  const rgb = new Uint8Array(width * height * 3);
  let gray = true;
  for (let p = 0, q = 0; p < width * height; p++, q += 4) {
    const r = data[q]!;
    const g = data[q + 1]!;
    const b = data[q + 2]!;
    rgb[3 * p] = r;
    rgb[3 * p + 1] = g;
    rgb[3 * p + 2] = b;
    if (r !== g || g !== b) gray = false;
  }
  return { width, height, rgb, gray };
}

const byCodeUnit = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Loads a folder of PNG images with one subfolder per class (`root/cat/001.png`). Classes are
 * the subfolder names, sorted by code unit; images are read in file-name order. Values are scaled
 * to [0, 1], shape `[N, H, W, C]`. Record ids are `class/filename`; each record's source is its
 * path relative to `root` (the same string, kept as provenance). Hidden entries (`.name`) and
 * non-PNG files are skipped.
 *
 * Errors: `NOT_FOUND` when `root` does not exist; `INVALID_FORMAT` for an unreadable PNG (naming
 * the file) or a folder without class subfolders or images; `SHAPE_MISMATCH` naming the first
 * image whose size differs from the first image's.
 */
export async function loadPngFolder(
  root: string,
  options: PngFolderOptions = {},
): Promise<Dataset> {
  const classes = (await readDirEntries(root))
    .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
    .map((e) => e.name)
    .sort(byCodeUnit);
  if (classes.length === 0) {
    throw new AntidoteError(
      'INVALID_FORMAT',
      `${root}: no class subfolders (expected one folder of PNG files per class)`,
      { path: root },
    );
  }
  const files: { cls: number; rel: string }[] = [];
  for (let k = 0; k < classes.length; k++) {
    const names = (await readDirEntries(join(root, classes[k]!)))
      .filter((e) => e.isFile() && !e.name.startsWith('.') && /\.png$/i.test(e.name))
      .map((e) => e.name)
      .sort(byCodeUnit);
    for (const name of names) files.push({ cls: k, rel: `${classes[k]}/${name}` });
  }
  if (files.length === 0) {
    throw new AntidoteError('INVALID_FORMAT', `${root}: no PNG files in the class subfolders`, {
      path: root,
    });
  }
  const images: DecodedPng[] = [];
  for (const f of files) {
    const path = join(root, f.rel);
    const img = decodePng(await readBytes(path), path);
    const first = images[0] ?? img;
    if (img.width !== first.width || img.height !== first.height) {
      throw new AntidoteError(
        'SHAPE_MISMATCH',
        `${path} is ${img.width}x${img.height} but ${join(root, files[0]!.rel)} is ${first.width}x${first.height}: all images must have the same size`,
        { path },
      );
    }
    images.push(img);
    options.onProgress?.(images.length, files.length);
  }
  const mode = options.color ?? 'auto';
  const channels = mode === 'rgb' ? 3 : mode === 'gray' ? 1 : images.every((i) => i.gray) ? 1 : 3;
  const { width, height } = images[0]!; // files.length > 0 checked above
  const pixels = width * height;
  const n = images.length;
  const x = new Float32Array(n * pixels * channels);
  for (let i = 0; i < n; i++) {
    const rgb = images[i]!.rgb;
    const base = i * pixels * channels;
    if (channels === 3) {
      for (let j = 0; j < pixels * 3; j++) x[base + j] = rgb[j]! / 255;
    } else {
      for (let p = 0; p < pixels; p++) {
        x[base + p] = (rgb[3 * p]! + rgb[3 * p + 1]! + rgb[3 * p + 2]!) / (3 * 255);
      }
    }
  }
  const ids = files.map((f) => f.rel);
  return validateDataset(
    {
      x,
      shape: [n, height, width, channels],
      y: Int32Array.from(files, (f) => f.cls),
      classes,
      ids,
      source: [...ids],
    },
    { where: root },
  );
}
