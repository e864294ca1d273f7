import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from './import-graph.js';
import { loadedModulesProbe, probedModules } from './loaded-modules.js';

const root = mkdtempSync(join(tmpdir(), 'antidote-probe-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** The TF.js module files a Node process running `code` (ESM) loaded, as the probe saw them. */
async function tfLoadedBy(code: string, out: string): Promise<string[]> {
  const run = spawnSync(
    process.execPath,
    [...loadedModulesProbe(out, '@tensorflow'), '--input-type=module', '-e', code],
    { cwd: REPO_ROOT, encoding: 'utf8' },
  );
  expect(run.status, run.stderr).toBe(0);
  return probedModules(out);
}

describe('the loaded-modules probe', () => {
  it('lists TF.js in a process that imports it, and nothing in one that does not', async () => {
    const loaded = await tfLoadedBy(
      "await import('@tensorflow/tfjs-core');",
      join(root, 'with.json'),
    );
    expect(loaded.some((f) => f.includes('tfjs-core'))).toBe(true);
    expect(await tfLoadedBy("await import('zod');", join(root, 'without.json'))).toEqual([]);
  }, 30_000);
});
