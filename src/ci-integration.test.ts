import { execFileSync } from 'node:child_process';
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from './testing/run-cli.js';
import { parseYamlSubset, type YamlValue } from './testing/yaml-subset.js';

/**
 * CI integration as far as it can be checked offline (issue 21, item 6): the GitHub Action
 * (`action.yml`) is well-formed and calls only flags the CLI has; the Dockerfile is Debian-based
 * Node 20, installs with `npm ci` the way `.ci/run` does and keeps chromium out of the default
 * image; the package `npm pack` makes holds what `npx antidote` needs, and CI installs that
 * tarball and runs the demo (`scripts/pack-smoke.sh`, called by `.ci/run`).
 */
const ROOT = join(import.meta.dirname, '..');
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');

type Mapping = { [key: string]: YamlValue };
const asMap = (v: YamlValue | undefined, what: string): Mapping => {
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw new Error(`${what}: not a mapping`);
  return v;
};

/**
 * Flags the action uses that another branch of issue 21 adds (`audit --sarif FILE`, item 3).
 * Each must be ABSENT from the CLI while listed here: once the flag lands, this test fails until
 * the entry is removed, so the list can only shrink.
 */
const PENDING_FLAGS: Readonly<Record<string, readonly string[]>> = {};

describe('action.yml (composite GitHub Action)', () => {
  const action = asMap(parseYamlSubset(read('action.yml')), 'action.yml');
  const inputs = asMap(action.inputs, 'inputs');
  const runs = asMap(action.runs, 'runs');
  const steps = (runs.steps as YamlValue[]).map((s, i) => asMap(s, `step ${i}`));
  const text = read('action.yml');

  it('is a composite action whose steps, inputs and outputs fit together', () => {
    expect(action.name).toBeTruthy();
    expect(action.description).toBeTruthy();
    expect(runs.using).toBe('composite');
    for (const s of steps) {
      expect(s.name, JSON.stringify(s)).toBeTruthy();
      // Either an action (pinned to a major version) or a bash script, never both.
      if (s.uses !== undefined) {
        expect(s.run).toBeUndefined();
        expect(s.uses).toMatch(/^[\w-]+\/[\w/-]+@v\d+$/);
      } else {
        expect(typeof s.run).toBe('string');
        expect(s.shell).toBe('bash');
      }
    }
    for (const [, name] of text.matchAll(/\binputs\.([\w-]+)/g)) {
      expect(Object.keys(inputs), `inputs.${name}`).toContain(name);
    }
    const ids = steps.map((s) => s.id).filter((id) => id !== undefined);
    for (const [, id] of text.matchAll(/\bsteps\.([\w-]+)\.outputs/g)) {
      expect(ids, `steps.${id}`).toContain(id);
    }
    for (const [name, input] of Object.entries(inputs)) {
      expect(asMap(input, name).description, name).toBeTruthy();
    }
    // Inputs reach scripts through env, never pasted into the script (no injection).
    for (const s of steps.filter((x) => typeof x.run === 'string')) {
      expect(s.run, String(s.name)).not.toMatch(/\$\{\{/);
    }
  });

  it('uploads the report and the SARIF file the audit writes', () => {
    const uses = steps.map((s) => s.uses);
    expect(uses).toContain('actions/upload-artifact@v4');
    expect(uses).toContain('github/codeql-action/upload-sarif@v3');
    const sarif = steps.find((s) => s.uses === 'github/codeql-action/upload-sarif@v3');
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a GitHub expression, not JS
    expect(asMap(sarif?.with, 'with').sarif_file).toBe('${{ inputs.out }}/antidote.sarif');
    expect(text).toContain('--sarif "$IN_OUT/antidote.sarif"');
  });

  it('calls only commands and flags the CLI has (pending ones listed above)', () => {
    const script = steps.map((s) => (typeof s.run === 'string' ? s.run : '')).join('\n');
    const used = new Map<string, Set<string>>();
    let current = '';
    for (const [, words] of script.matchAll(/args\+?=\(([^)]*)\)/g)) {
      const first = words!.trim().split(/\s+/)[0]!;
      if (!first.startsWith('-')) current = first;
      const flags = used.get(current) ?? new Set<string>();
      for (const [f] of words!.matchAll(/--[a-z][\w-]*/g)) flags.add(f);
      used.set(current, flags);
    }
    expect([...used.keys()].sort()).toEqual(['audit', 'gate']);
    for (const [command, flags] of used) {
      const help = runCli([command, '--help']);
      expect(help.code, command).toBe(0);
      const pending = PENDING_FLAGS[command] ?? [];
      for (const flag of flags) {
        const has = new RegExp(`${flag}\\b(?!-)`).test(help.stdout);
        if (pending.includes(flag)) {
          expect(has, `${command} ${flag} exists now: remove it from PENDING_FLAGS`).toBe(false);
        } else {
          expect(has, `antidote ${command} has no ${flag}`).toBe(true);
        }
      }
    }
  });
});

describe('Dockerfile', () => {
  const docker = read('Dockerfile');
  const stages = docker
    .split(/^(?=FROM )/m)
    .filter((s) => s.startsWith('FROM '))
    .map((s) => ({ header: s.split('\n')[0]!, body: s }));

  it('builds on Debian with Node 20, with npm ci and the ONNX postinstall skipped as in CI', () => {
    expect(docker).toMatch(/^ARG NODE_IMAGE=node:20-bookworm(-slim)?$/m);
    expect(docker).toMatch(/RUN npm ci\b/);
    const env = docker.indexOf('ENV ONNXRUNTIME_NODE_INSTALL=skip');
    expect(env).toBeGreaterThan(-1);
    expect(env).toBeLessThan(docker.indexOf('RUN npm ci'));
    expect(read('.ci/run')).toContain('export ONNXRUNTIME_NODE_INSTALL=skip');
  });

  it('keeps chromium in the ci stage only; the default (last) stage is the bare CLI', () => {
    const withChromium = stages.filter((s) => /apt-get install[^\n]*chromium/.test(s.body));
    expect(withChromium.map((s) => s.header)).toEqual(['FROM build AS ci']);
    const last = stages.at(-1)!;
    expect(last.header).toMatch(/^FROM \$\{NODE_IMAGE\} AS runtime$/);
    expect(last.body).not.toMatch(/--from=ci\b/);
    expect(last.body).toMatch(/ENTRYPOINT \["antidote"\]/);
    expect(last.body).toMatch(/^USER node$/m);
  });

  it('copies only paths that exist, and .dockerignore leaves out build outputs', () => {
    for (const [, args] of docker.matchAll(/^COPY (?!--from)(.+)$/gm)) {
      const parts = args!.trim().split(/\s+/).slice(0, -1);
      for (const p of parts) {
        if (p !== '.') expect(existsSync(join(ROOT, p)), p).toBe(true);
      }
    }
    const ignored = read('.dockerignore').split('\n');
    for (const p of ['node_modules', 'dist', '.git']) expect(ignored).toContain(p);
  });
});

describe('npm package', () => {
  it('packs the built CLI and library, without tests or test support', () => {
    const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env, npm_config_loglevel: 'error' },
    });
    const files = (JSON.parse(out) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path);
    expect(files).toContain('dist/cli/main.js');
    expect(files).toContain('dist/index.js');
    expect(files).toContain('package.json');
    expect(files).toContain('README.md');
    expect(files.filter((f) => /\.test\.|^dist\/testing\/|^src\//.test(f))).toEqual([]);
    const pkg = JSON.parse(read('package.json')) as { bin: Record<string, string> };
    expect(pkg.bin.antidote).toBe('dist/cli/main.js');
    expect(read('src/cli/main.ts').startsWith('#!/usr/bin/env node\n')).toBe(true);
  });

  it('is installed from its tarball and runs the demo in CI (scripts/pack-smoke.sh)', () => {
    const script = read('scripts/pack-smoke.sh');
    accessSync(join(ROOT, 'scripts/pack-smoke.sh'), constants.X_OK);
    expect(script).toMatch(/npm pack\b/);
    expect(script).toMatch(/npm install\b.*"\$work\/\$tarball"/);
    expect(script).toMatch(/npx --no-install antidote demo --quick/);
    const ci = read('.ci/run').split('\n');
    const test = ci.findIndex((l) => /^npm test\b/.test(l));
    const smoke = ci.findIndex((l) => /^scripts\/pack-smoke\.sh\b/.test(l));
    expect(test).toBeGreaterThan(-1);
    expect(smoke).toBeGreaterThan(test);
  });
});
