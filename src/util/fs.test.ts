import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeDirAtomic, writeFileAtomic } from './fs.js';

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
