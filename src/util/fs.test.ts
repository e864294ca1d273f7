import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  openFile,
  readBytes,
  readDirEntries,
  readJson,
  readText,
  writeDirAtomic,
  writeFileAtomic,
} from './fs.js';

describe('atomic writes', () => {
  it('writes a file with the requested mode and leaves no temp file', async () => {
    const d = mkdtempSync(join(tmpdir(), 'antidote-fs-'));
    await writeFileAtomic(join(d, 'a.txt'), 'hello', { mode: 0o600 });
    expect(readFileSync(join(d, 'a.txt'), 'utf8')).toBe('hello');
    expect(statSync(join(d, 'a.txt')).mode & 0o777).toBe(0o600);
    expect(readdirSync(d)).toEqual(['a.txt']);
  });

  it('leaves nothing behind when filling a directory fails', async () => {
    const d = mkdtempSync(join(tmpdir(), 'antidote-fs-'));
    await expect(
      writeDirAtomic(join(d, 'out'), async (tmp) => {
        await writeFileAtomic(join(tmp, 'x'), '1');
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(readdirSync(d)).toEqual([]);
  });

  it('refuses to replace an existing directory unless asked', async () => {
    const d = mkdtempSync(join(tmpdir(), 'antidote-fs-'));
    await writeDirAtomic(join(d, 'out'), async (tmp) => writeFileAtomic(join(tmp, 'x'), '1'));
    await expect(writeDirAtomic(join(d, 'out'), async () => {})).rejects.toMatchObject({
      code: 'ALREADY_EXISTS',
    });
    await writeDirAtomic(join(d, 'out'), async (tmp) => writeFileAtomic(join(tmp, 'y'), '2'), {
      overwrite: true,
    });
    expect(existsSync(join(d, 'out', 'x'))).toBe(false);
    expect(readFileSync(join(d, 'out', 'y'), 'utf8')).toBe('2');
  });
});

describe('reads with NOT_FOUND / IO_ERROR', () => {
  it('a missing file is NOT_FOUND naming the path; a directory read as a file is IO_ERROR', async () => {
    const d = mkdtempSync(join(tmpdir(), 'antidote-fs-'));
    const missing = join(d, 'nope.bin');
    await expect(readBytes(missing)).rejects.toMatchObject({
      code: 'NOT_FOUND',
      message: `${missing} does not exist`,
      details: { path: missing },
    });
    await expect(readText(d)).rejects.toMatchObject({
      code: 'IO_ERROR',
      message: expect.stringContaining(`cannot read ${d}: `),
    });
    await expect(
      readText(missing, { message: () => `cannot read policy ${missing}` }),
    ).rejects.toMatchObject({ code: 'NOT_FOUND', message: `cannot read policy ${missing}` });
  });

  it('readJson: malformed JSON is the given code (INVALID_FORMAT by default); size cap', async () => {
    const d = mkdtempSync(join(tmpdir(), 'antidote-fs-'));
    await writeFileAtomic(join(d, 'ok.json'), '{"a":[1,2]}');
    await writeFileAtomic(join(d, 'bad.json'), '{"a":');
    expect(await readJson(join(d, 'ok.json'))).toEqual({ a: [1, 2] });
    await expect(readJson(join(d, 'bad.json'))).rejects.toMatchObject({ code: 'INVALID_FORMAT' });
    await expect(readJson(join(d, 'bad.json'), { code: 'INVALID_CONFIG' })).rejects.toMatchObject({
      code: 'INVALID_CONFIG',
    });
    await expect(readJson(join(d, 'x.json'), { code: 'INVALID_CONFIG' })).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
    await expect(readJson(join(d, 'ok.json'), { maxBytes: 4 })).rejects.toMatchObject({
      code: 'INVALID_FORMAT',
      message: `${join(d, 'ok.json')} is larger than 4 bytes`,
    });
  });

  it('readDirEntries and openFile map a missing path to NOT_FOUND', async () => {
    const d = mkdtempSync(join(tmpdir(), 'antidote-fs-'));
    await writeFileAtomic(join(d, 'a.txt'), 'x');
    expect((await readDirEntries(d)).map((e) => e.name)).toEqual(['a.txt']);
    await expect(readDirEntries(join(d, 'no'))).rejects.toMatchObject({
      code: 'NOT_FOUND',
      message: `${join(d, 'no')} does not exist`,
    });
    await expect(readDirEntries(join(d, 'a.txt'))).rejects.toMatchObject({ code: 'IO_ERROR' });
    await expect(openFile(join(d, 'no'), 'r')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    const fh = await openFile(join(d, 'a.txt'), 'r');
    await fh.close();
  });
});
