import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { QUEUE_ENV, queueUrl } from './queue-flags.js';

describe('the --queue URL', () => {
  const dir = mkdtempSync(join(tmpdir(), 'antidote-queue-flags-'));

  it('warns when a password is on the command line, not otherwise', () => {
    const warnings: string[] = [];
    const warn = (l: string) => warnings.push(l);
    expect(queueUrl('redis://h:6379', warn, {})).toBe('redis://h:6379');
    expect(warnings).toEqual([]);
    expect(queueUrl('redis://:s3cret@h:6379', warn, {})).toBe('redis://:s3cret@h:6379');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/process list/);
    expect(warnings[0]).not.toContain('s3cret');
  });

  it('reads the URL from $ANTIDOTE_QUEUE or a file, without a warning', () => {
    const warnings: string[] = [];
    const warn = (l: string) => warnings.push(l);
    const url = 'redis://user:s3cret@10.0.0.2:6380/1';
    expect(queueUrl(undefined, warn, { [QUEUE_ENV]: url })).toBe(url);
    expect(queueUrl(undefined, warn, {})).toBeUndefined();
    const file = join(dir, 'queue-url');
    writeFileSync(file, `${url}\n`);
    expect(queueUrl(`@${file}`, warn, {})).toBe(url);
    expect(warnings).toEqual([]);
    writeFileSync(file, '\n');
    expect(() => queueUrl(`@${file}`, warn, {})).toThrowError(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
    expect(() => queueUrl(`@${join(dir, 'missing')}`, warn, {})).toThrowError(
      expect.objectContaining({ code: 'NOT_FOUND' }),
    );
  });
});
