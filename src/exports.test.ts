import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from './testing/import-graph.js';

interface PackageJson {
  name: string;
  exports: Record<string, string | { types?: string; default: string }>;
}

const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as PackageJson;
const entries = Object.entries(pkg.exports);

/**
 * Imports `specifiers` in a fresh Node process, by the package's own name (the way a user's code
 * resolves them): for each, the number of exported names, or the error.
 */
function importAll(specifiers: readonly string[]): Record<string, number | string> {
  const script = `
    const out = {};
    for (const s of ${JSON.stringify(specifiers)}) {
      try {
        const m = await import(s, s.endsWith('.json') ? { with: { type: 'json' } } : undefined);
        out[s] = Object.keys(m).length;
      } catch (e) {
        out[s] = String(e?.code ?? '') + ': ' + String(e?.message ?? e);
      }
    }
    process.stdout.write(JSON.stringify(out));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    timeout: 120_000,
  });
  if (r.status !== 0) throw new Error(`node exited with ${r.status}: ${r.stderr}`);
  return JSON.parse(r.stdout) as Record<string, number | string>;
}

describe('the package exports map', () => {
  it('has the root entry and one per area, ./audit included', () => {
    expect(entries.map(([k]) => k)).toEqual(
      expect.arrayContaining(['.', './data', './engine', './defenses', './report', './audit']),
    );
  });

  it('points every entry at a built file and its type declarations', () => {
    expect(existsSync(join(REPO_ROOT, 'dist')), 'dist/ is missing: run npm run build').toBe(true);
    const missing: string[] = [];
    for (const [key, target] of entries) {
      const files = typeof target === 'string' ? [target] : [target.default, target.types ?? ''];
      for (const f of files)
        if (!f || !existsSync(join(REPO_ROOT, f))) missing.push(`${key}: ${f}`);
    }
    expect(missing).toEqual([]);
  });

  it('resolves and imports every entry by the package name', () => {
    const specifiers = entries.map(([key]) =>
      key === '.' ? pkg.name : `${pkg.name}/${key.slice(2)}`,
    );
    const loaded = importAll(specifiers);
    for (const s of specifiers) {
      expect(typeof loaded[s], `${s}: ${loaded[s]}`).toBe('number');
      expect(loaded[s], `${s} exports nothing`).toBeGreaterThan(0);
    }
  });

  it('exports the main entry points from the root', async () => {
    const root = await import('./index.js');
    for (const name of [
      'runAudit',
      'scanDataset',
      'loadModel',
      'loadDataset',
      'detectorByName',
      'detectorEntry',
      'attackEntry',
    ]) {
      expect(typeof (root as Record<string, unknown>)[name], name).toBe('function');
    }
    expect(root.DETECTOR_NAMES).toContain('ac');
    // The registries: every detector and attack, each by its name.
    expect(root.DETECTORS.map((d) => d.name)).toEqual([...root.DETECTOR_NAMES]);
    expect(root.detectorEntry('ss')).toBe(root.DETECTORS.find((d) => d.name === 'ss'));
    expect(root.ATTACKS.map((a) => a.name)).toContain('backdoor');
    expect(root.attackEntry('label-flip').name).toBe('label-flip');
  });
});
