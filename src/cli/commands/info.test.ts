import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { writeDatasetDir } from '../../data/dataset-dir.js';
import { registerInfoCommand } from './info.js';

async function run(args: string[]): Promise<string> {
  const program = new Command('antidote').exitOverride();
  registerInfoCommand(program);
  let out = '';
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += String(chunk);
    return true;
  });
  try {
    await program.parseAsync(['node', 'antidote', 'info', ...args]);
  } finally {
    spy.mockRestore();
  }
  return out;
}

describe('antidote info', () => {
  afterEach(() => vi.restoreAllMocks());
  const dir = join(mkdtempSync(join(tmpdir(), 'antidote-info-')), 'poisoned');
  const ready = writeDatasetDir(
    dir,
    {
      x: Float32Array.from([0, 1, 0.5, 0.25, 1, 1]),
      shape: [3, 2],
      y: Int32Array.from([0, 1, 1]),
      classes: ['ham', 'spam'],
      ids: ['a', 'b', 'c'],
      source: ['feed-1', 'feed-2', 'feed-2'],
    },
    { attack: { attack: 'label-flip', seed: 4, indices: [1, 2], params: { rate: 0.5 } } },
  );

  it('prints shape, classes with counts, sources and the attack record', async () => {
    await ready;
    const out = await run([dir]);
    expect(out).toContain('records: 3');
    expect(out).toContain('shape:   [3, 2]');
    expect(out).toMatch(/ham\s+1\s+33\.3%/);
    expect(out).toMatch(/spam\s+2\s+66\.7%/);
    expect(out).toContain('sources: 2');
    expect(out).toContain('attack: label-flip');
    expect(out).toContain('indices: [2 items]');
  });

  it('prints JSON with --json', async () => {
    await ready;
    const json = JSON.parse(await run([dir, '--json']));
    expect(json.kind).toBe('dataset-dir');
    expect(json.records).toBe(3);
    expect(json.classes).toEqual([
      { name: 'ham', count: 1 },
      { name: 'spam', count: 2 },
    ]);
    expect(json.sources.distinct).toBe(2);
    expect(json.attack).toMatchObject({ attack: 'label-flip', seed: 4, indices: '[2 items]' });
  });

  it('describes a built-in with a limit, and lets errors propagate', async () => {
    const json = JSON.parse(await run(['mnist:test', '--limit', '20', '--json']));
    expect(json.shape).toEqual([20, 28, 28, 1]);
    expect(json.classes).toHaveLength(10);
    await expect(run(['no-such-dataset'])).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });
});
