import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { registerDatasetsCommand } from './datasets.js';

function capture() {
  const out: string[] = [];
  vi.spyOn(process.stdout, 'write').mockImplementation((s) => {
    out.push(String(s));
    return true;
  });
  return out;
}

describe('antidote datasets', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('lists the datasets, sentiment bundled, others missing in an empty cache', async () => {
    const out = capture();
    const program = new Command().exitOverride();
    registerDatasetsCommand(program);
    const dir = mkdtempSync(join(tmpdir(), 'antidote-dsl-'));
    await program.parseAsync([
      'node',
      'antidote',
      'datasets',
      'list',
      '--cache-dir',
      dir,
      '--json',
    ]);
    const r = JSON.parse(out.join(''));
    const byName = Object.fromEntries(r.datasets.map((d: { name: string }) => [d.name, d]));
    expect(Object.keys(byName)).toEqual([
      'sentiment',
      'imdb',
      'spam-assassin',
      'spambase',
      'german-credit',
    ]);
    expect(byName.sentiment.available).toBe(true);
    expect(byName.imdb.available).toBe(false);
    expect(byName.spambase.licence).toMatch(/CC BY 4\.0/);
  });

  it('fetch of the bundled set does nothing; an unknown name is NOT_FOUND', async () => {
    const out = capture();
    const program = new Command().exitOverride();
    registerDatasetsCommand(program);
    await program.parseAsync(['node', 'antidote', 'datasets', 'fetch', 'sentiment', '--json']);
    expect(JSON.parse(out.join('')).fetched).toBe(false);
    await expect(
      program.parseAsync(['node', 'antidote', 'datasets', 'fetch', 'nope']),
    ).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });
});
