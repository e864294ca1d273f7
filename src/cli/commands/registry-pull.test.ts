import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rename, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ModelRegistry } from '../../registry/model-registry.js';
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

  it('registry cache lists the fetched copies; --prune removes unused ones, --max-size bounds the rest', async () => {
    const project = join(root, 'project');
    const P = ['--project', project];
    for (const n of [1, 2]) {
      const model = join(root, `m${n}`);
      await mkdir(model, { recursive: true });
      await writeFile(join(model, 'weights.bin'), randomBytes(10_000 * n));
      const r = await cli(['registry', 'register', model, '--name', 'pets', ...P]);
      expect(r.error).toBeUndefined();
      await rm(model, { recursive: true });
    }
    // What gate and serve do on a machine without the files: fetch each version into the cache.
    const reg = ModelRegistry.open(project);
    try {
      for (const id of ['pets@1', 'pets@2']) {
        const v = await reg.local(reg.get(id));
        // pets@2 was last used an hour before pets@1
        const t = new Date(Date.now() - (id === 'pets@2' ? 3_600_000 : 0));
        await utimes(v.dir, t, t);
      }
    } finally {
      reg.close();
    }
    const stray = join(project, '.antidote', 'models', 'f'.repeat(64));
    await mkdir(stray);
    await writeFile(join(stray, 'x'), 'x');
    const list = await cli(['registry', 'cache', ...P, '--json']);
    expect(list.error).toBeUndefined();
    const entries = JSON.parse(list.out).entries as { versions: { id: string }[] }[];
    expect(entries.map((e) => e.versions.map((v) => v.id).join()).sort()).toEqual([
      '',
      'pets@1',
      'pets@2',
    ]);
    const misuse = await cli(['registry', 'cache', '--max-size', '1G', ...P]);
    expect(misuse.error?.code).toBe('INVALID_ARGUMENT');
    const prune = await cli(['registry', 'cache', '--prune', ...P]);
    expect(prune.error).toBeUndefined();
    expect(prune.out).toMatch(/removed 1 copy \(1 B\); kept 2 \(29\.\d KiB\)/);
    expect(existsSync(stray)).toBe(false);
    const dry = await cli(['registry', 'cache', '--prune', '--max-size', '25K', '--dry-run', ...P]);
    expect(dry.out).toMatch(/would remove 1 copy/);
    const bounded = await cli([
      'registry',
      'cache',
      '--prune',
      '--max-size',
      '25K',
      ...P,
      '--json',
    ]);
    const r = JSON.parse(bounded.out) as { removed: { reason: string; bytes: number }[] };
    // pets@2 (20 KB), the least recently used, goes
    expect(r.removed.map((e) => [e.reason, e.bytes])).toEqual([['over-size', 20_000]]);
    // a removed copy comes back, verified, when it is needed again
    const again = ModelRegistry.open(project);
    try {
      const v = await again.local(again.get('pets@2'));
      expect(existsSync(join(v.dir, 'weights.bin'))).toBe(true);
    } finally {
      again.close();
    }
  });
});
