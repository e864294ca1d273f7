import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateRawSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AntidoteError, escapeControl, isAntidoteError } from '../errors.js';
import { readBytes } from '../util/fs.js';
import { setDecodeLimits } from '../util/limits.js';
import { loadCsv } from './csv.js';
import { DATA_FILE, DESCRIPTION_FILE, readDatasetDir, writeDatasetDir } from './dataset-dir.js';
import { pngDeclaring, zipDeclaring, zipOverlapping } from './fuzz.js';
import { loadDataset } from './load.js';
import { encodeNpy, ndarray, parsePyLiteral } from './npy.js';
import { decodeNpz } from './npz.js';
import { decodePng } from './png.js';
import { readZip, writeZip } from './zip.js';

/** The error `fn` throws (sync or async), or undefined. */
async function errorOf(fn: () => unknown): Promise<unknown> {
  try {
    await fn();
  } catch (e) {
    return e;
  }
  return undefined;
}

/** Writes a two-record dataset directory at `path`. */
function tinyDatasetDir(path: string): Promise<void> {
  return writeDatasetDir(path, {
    x: new Float32Array(4),
    shape: [2, 2],
    y: Int32Array.of(0, 1),
    classes: ['a', 'b'],
    ids: ['0', '1'],
  });
}

/** Runs `fn`, expecting an `AntidoteError` with `code` within `ms` milliseconds. */
async function refusedFast(fn: () => unknown, code: string, ms = 2000): Promise<AntidoteError> {
  const t0 = performance.now();
  const e = await errorOf(fn);
  expect(performance.now() - t0).toBeLessThan(ms);
  expect(isAntidoteError(e), String((e as Error)?.stack ?? e)).toBe(true);
  expect((e as AntidoteError).code).toBe(code);
  return e as AntidoteError;
}

/**
 * Every hostile input of issue 19 (items 2 and 6), crafted small: each is refused with a typed
 * error before anything large is allocated, in well under a second.
 */
describe('hostile inputs (issue 19)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'antidote-hostile-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('a PNG whose IHDR declares 65535×65535 or a height of 67,108,872', async () => {
    const wide = pngDeclaring(65535, 65535);
    expect(wide.length).toBeLessThan(100);
    const e = await refusedFast(() => decodePng(wide, 'wide.png'), 'LIMIT_EXCEEDED');
    expect(e.message).toMatch(
      /wide.png declares 4,294,836,225 pixels \(65535 × 65535\).*maxPixels/,
    );
    await refusedFast(() => decodePng(pngDeclaring(1, 67_108_872), 'tall.png'), 'LIMIT_EXCEEDED');
    // Through a PNG folder, as the CLI reads it.
    const folder = join(dir, 'pngs', 'cat');
    await mkdir(folder, { recursive: true });
    await writeFile(join(folder, 'a.png'), pngDeclaring(1, 67_108_872));
    await refusedFast(() => loadDataset(join(dir, 'pngs')), 'LIMIT_EXCEEDED');
  });

  it('an npz whose entry declares more inflated bytes than the limits allow (compressed zeros)', async () => {
    // 1.2 GB declared from 1.17 MB compressed: above maxDecompressedBytes (1 GiB).
    await refusedFast(
      () => readZip(zipDeclaring(1_200_000_000, 1_170_000), 'zeros.npz'),
      'LIMIT_EXCEEDED',
    );
    // A forged ratio: 100 MB from 2 KB.
    const e = await refusedFast(
      () => decodeNpz(zipDeclaring(100_000_000, 2048), 'ratio.npz'),
      'LIMIT_EXCEEDED',
    );
    expect(e.message).toMatch(/maxCompressionRatio/);
    // Real compressed zeros, under a lowered cap (the caps are configurable).
    const zeros = encodeNpy(ndarray('float32', [1 << 18], new Float32Array(1 << 18)));
    const npz = writeZip([{ name: 'x.npy', data: zeros }], { compress: true });
    expect(decodeNpz(npz).get('x')?.shape).toEqual([1 << 18]);
    const previous = setDecodeLimits({ maxDecompressedBytes: 512 * 1024 });
    try {
      await refusedFast(() => decodeNpz(npz, 'zeros.npz'), 'LIMIT_EXCEEDED');
    } finally {
      setDecodeLimits(previous);
    }
    expect(deflateRawSync(zeros).length).toBeLessThan(zeros.length / 100);
  });

  it('201 directory records pointing at one entry', async () => {
    const data = encodeNpy(ndarray('float32', [256], new Float32Array(256)));
    const e = await refusedFast(
      () => decodeNpz(zipOverlapping(data, 201), 'many.npz'),
      'INVALID_FORMAT',
    );
    expect(e.message).toMatch(/overlap/);
    // More entries than maxZipEntries are refused before the directory is walked.
    const previous = setDecodeLimits({ maxZipEntries: 100 });
    try {
      await refusedFast(() => readZip(zipOverlapping(data, 201), 'many.npz'), 'LIMIT_EXCEEDED');
    } finally {
      setDecodeLimits(previous);
    }
  });

  it('data.npz or a CSV symlinked to /dev/zero, and a FIFO, are refused at once', async () => {
    const ds = join(dir, 'ds');
    await tinyDatasetDir(ds);
    await rm(join(ds, DATA_FILE));
    await symlink('/dev/zero', join(ds, DATA_FILE));
    const e1 = await refusedFast(() => readDatasetDir(ds), 'IO_ERROR');
    expect(e1.message).toMatch(/character device, not a regular file/);
    await symlink('/dev/zero', join(dir, 'zero.csv'));
    await refusedFast(() => loadCsv(join(dir, 'zero.csv')), 'IO_ERROR');
    await refusedFast(() => loadDataset(join(dir, 'zero.csv')), 'IO_ERROR');
    const fifo = join(dir, 'fifo.csv');
    execFileSync('mkfifo', [fifo]);
    const e2 = await refusedFast(() => readBytes(fifo), 'IO_ERROR');
    expect(e2.message).toMatch(/a FIFO, not a regular file/);
    await refusedFast(() => loadDataset(fifo), 'IO_ERROR');
    // A symbolic link to a regular file is still read.
    await symlink(join(ds, DESCRIPTION_FILE), join(dir, 'link.json'));
    expect((await readBytes(join(dir, 'link.json'))).length).toBeGreaterThan(0);
  });

  it('a dataset.json whose attack nests 5,000 deep: a typed error, no stack overflow (item 6)', async () => {
    const ds = join(dir, 'deep');
    await tinyDatasetDir(ds);
    const desc = JSON.parse(await readFile(join(ds, DESCRIPTION_FILE), 'utf8'));
    const deep = `${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}`;
    await writeFile(
      join(ds, DESCRIPTION_FILE),
      JSON.stringify({ ...desc, attack: '@' }).replace('"@"', deep),
    );
    const e = await refusedFast(() => readDatasetDir(ds), 'LIMIT_EXCEEDED');
    expect(e.message).toMatch(/nests arrays or objects more than 64 deep/);
    await refusedFast(() => loadDataset(ds), 'LIMIT_EXCEEDED');
  });

  it('parsePyLiteral throws typed errors, depth-limited too (item 6)', async () => {
    const e = await refusedFast(() => parsePyLiteral(`{'a': __import__('os')}`), 'INVALID_FORMAT');
    expect(e.message).toMatch(/unexpected '_' at 6/);
    await refusedFast(
      () => parsePyLiteral(`${'['.repeat(5000)}${']'.repeat(5000)}`),
      'INVALID_FORMAT',
    );
    expect(parsePyLiteral(`{'shape': ((1,),)}`)).toEqual({ shape: [[1]] });
  });

  it('escapes control characters and ANSI sequences in error messages (item 6)', async () => {
    // A file name carrying an ANSI sequence and a bell, echoed by the error.
    const evil = join(dir, 'evil\u001b[31mred\u0007.csv');
    await symlink('/dev/zero', evil);
    const e = (await errorOf(() => loadCsv(evil))) as Error;
    expect(isAntidoteError(e)).toBe(true);
    expect(escapeControl(e.message)).toBe(e.message);
    expect(e.message).toMatch(/evil\\x1b\[31mred\\x07\.csv/);
    expect(new AntidoteError('INVALID_FORMAT', 'line\nnext\tcol\u009b').message).toBe(
      'line\nnext\tcol\\x9b',
    );
  });
});
