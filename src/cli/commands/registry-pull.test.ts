import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCommands } from '../../testing/run-commands.js';
import { registerDatasetVersionCommand } from './dataset-version.js';
import { registerRegistryCommand } from './registry.js';

const cli = (args: string[]) =>
  runCommands([registerRegistryCommand, registerDatasetVersionCommand], args);

describe('antidote registry pull', () => {
  let root: string;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'antidote-cli-pull-'));
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('writes a version from the store by name@N or name@stage, verified; --force to replace', async () => {
    const project = join(root, 'project');
    const model = join(project, 'build', 'model');
    await mkdir(join(model, 'sub'), { recursive: true });
    const weights = randomBytes(300_000);
    await writeFile(join(model, 'weights.bin'), weights);
    await writeFile(join(model, 'sub', 'classes.txt'), 'cat\ndog\n');
    const P = ['--project', project];
    const reg = await cli(['registry', 'register', model, '--name', 'pets', ...P, '--json']);
    expect(reg.error).toBeUndefined();
    // The model's folder leaves this disk: the store still has it, and `dataset gc` keeps it.
    await rename(model, join(root, 'gone'));
    const gc = await cli(['dataset', 'gc', '--grace', '0', ...P, '--json']);
    expect(gc.error).toBeUndefined();
    expect(JSON.parse(gc.out)).toMatchObject({ objects: 0, kept: 3 });
    const out = join(root, 'pulled');
    const r = await cli(['registry', 'pull', 'pets@candidate', '--out', out, ...P, '--json']);
    expect(r.error).toBeUndefined();
    expect(JSON.parse(r.out)).toMatchObject({ version: 'pets@1', path: out, files: 2 });
    expect((await readFile(join(out, 'weights.bin'))).equals(weights)).toBe(true);
    expect(await readFile(join(out, 'sub', 'classes.txt'), 'utf8')).toBe('cat\ndog\n');
    const again = await cli(['registry', 'pull', 'pets@1', '--out', out, ...P]);
    expect(again.error?.code).toBe('ALREADY_EXISTS');
    const forced = await cli(['registry', 'pull', 'pets@1', '--out', out, '--force', ...P]);
    expect(forced.error).toBeUndefined();
    expect(forced.out).toMatch(/pulled pets@1 into .* \(2 files, 300008 bytes, verified\)/);
    const missing = await cli([
      'registry',
      'pull',
      'pets@production',
      '--out',
      join(root, 'x'),
      ...P,
    ]);
    expect(missing.error?.code).toBe('NOT_FOUND');
    expect(existsSync(join(root, 'x'))).toBe(false);
  });
});
