import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command, Option } from 'commander';
import { describe, expect, it } from 'vitest';
import { allCommands, commandPath } from './parse-errors.js';
import { buildProgram, COMMAND_NAMES } from './program.js';

/**
 * The CLI convention (issue 21, item 2), checked on every command and sub-command of the real
 * program: `--json` and `--quiet` everywhere; `--seed` defaults to 1; `--out` is a folder (a file
 * only where the option's name says so: `--*-file`); a command that writes has `--force`; data
 * and specs are options (`--data`, `--spec`), positional operands only where listed below.
 * Each failure names the command and the flag, so a new command can be fixed at merge time.
 */

/** `--out` options that are not folders. Each entry: the command, and why. */
const OUT_NOT_A_FOLDER: Readonly<Record<string, string>> = {
  // single-file transforms, like cp: the output of `encrypt FILE` is one file
  encrypt: 'the encrypted file',
  decrypt: 'the decrypted file',
  // the model written in another format: one .onnx file (its class names beside it)
  export: 'the .onnx file',
  // a path prefix: PREFIX.pem and PREFIX.pub
  'keys generate': 'a key path prefix',
  // the signature file; `--signature` is its documented name, `--out` an alias
  sign: 'alias of --signature',
  // old names kept (hidden) so scripts keep working: --result-file, --predictions-file
  gate: 'hidden alias of --result-file',
  predict: 'hidden alias of --predictions-file',
};

/** Commands that write output but have no `--force`, and why. */
const WRITES_WITHOUT_FORCE: Readonly<Record<string, string>> = {
  // the gate result is a per-run record: CI runs rewrite it every time
  gate: 'gate-result.json is rewritten on every run',
  // a signature is replaced on re-signing (the signed content is what matters)
  sign: 'the signature file is replaced on re-signing',
};

/** Positional operands allowed, per command (the rest take options). Each with why. */
const OPERANDS: Readonly<Record<string, readonly string[]>> = {
  // documented aliases of --data / --spec (optional; the option is the primary form)
  info: ['data'],
  sweep: ['spec'],
  // documented aliases of --data (the URL list)
  'urls snapshot': ['list'],
  'urls fetch': ['list'],
  // the object the command acts on, like cp / gpg / git
  'datasets fetch': ['name'],
  'manifest create': ['dir'],
  'manifest verify': ['dir'],
  'manifest diff': ['a', 'b'],
  'dataset commit': ['dir'],
  'dataset log': ['name'],
  'dataset diff': ['v1', 'v2'],
  'dataset checkout': ['version', 'dir'],
  'keys fingerprint': ['key'],
  'keys kek': ['file'],
  sign: ['path'],
  verify: ['path'],
  encrypt: ['file'],
  decrypt: ['file'],
  rekey: ['files'],
  lineage: ['modelDir'],
  'policy set': ['file'],
  'policy set-signature': ['file'],
  'registry register': ['model'],
  'registry list': ['name'],
  'registry show': ['version'],
  'registry pull': ['version'],
  promote: ['version'],
  rollback: ['model'],
  'tokens revoke': ['id'],
};

/** Options that write files or folders (besides `--out`). */
const OUTPUT_OPTION = /^--(out|model-out|save-model|preview|export-[a-z-]+|[a-z-]+-file)$/;
/** `--*-file` options that are inputs, not outputs. */
const INPUT_FILE = new Set(['--key-file', '--old-key-file', '--new-key-file']);

const leaves = async (): Promise<Command[]> =>
  allCommands(await buildProgram('all')).filter((c) => c.commands.length === 0);

const flag = (o: Option) => o.long ?? o.short ?? o.flags;
const argName = (o: Option) => /[<[]([^>\]]+)[>\]]/.exec(o.flags)?.[1];

/** What is wrong with one command (an empty list when it follows the convention). */
function problems(cmd: Command): string[] {
  const name = commandPath(cmd) ?? '';
  const by = new Map(cmd.options.map((o) => [flag(o), o]));
  const out: string[] = [];
  for (const f of ['--json', '--quiet']) if (!by.has(f)) out.push(`has no ${f}`);
  const seed = by.get('--seed');
  if (seed && seed.defaultValue !== 1) {
    out.push(`--seed defaults to ${JSON.stringify(seed.defaultValue)}, not 1`);
  }
  const o = by.get('--out');
  if (o && argName(o) !== 'dir' && !(name in OUT_NOT_A_FOLDER)) {
    out.push(`--out takes <${argName(o)}>: --out is a folder; name a file option --<what>-file`);
  }
  const writes = cmd.options.filter((x) => OUTPUT_OPTION.test(flag(x)) && !INPUT_FILE.has(flag(x)));
  if (writes.length && !by.has('--force') && !(name in WRITES_WITHOUT_FORCE)) {
    out.push(`writes (${writes.map(flag).join(', ')}) but has no --force`);
  }
  for (const f of ['--dataset', '--input', '--in', '--output', '--model-dir', '--quite']) {
    if (by.has(f)) out.push(`has ${f}: the convention's names are --data, --model, --out`);
  }
  const allowed = OPERANDS[name] ?? [];
  for (const a of cmd.registeredArguments) {
    if (!allowed.includes(a.name())) {
      out.push(
        `takes a positional <${a.name()}>: use an option (--data, --model, --spec, …) or list it, with why, in OPERANDS`,
      );
    }
  }
  for (const alias of ['info', 'sweep', 'urls snapshot', 'urls fetch']) {
    if (name === alias && cmd.registeredArguments.some((a) => a.required)) {
      out.push('its positional alias must be optional (the option is the primary form)');
    }
  }
  return out.map((p) => `antidote ${name}: ${p}`);
}

describe('the CLI convention (every command and sub-command)', () => {
  it('every command follows it', async () => {
    const found = (await leaves()).flatMap(problems);
    expect(found, found.join('\n')).toEqual([]);
  });

  it('the exception lists name only commands that exist and still need the exception', async () => {
    const byName = new Map((await leaves()).map((c) => [commandPath(c) ?? '', c]));
    for (const [name, why] of [
      ...Object.entries(OUT_NOT_A_FOLDER),
      ...Object.entries(WRITES_WITHOUT_FORCE),
    ]) {
      expect(byName.has(name), `${name} (${why}) is not a command`).toBe(true);
    }
    for (const name of Object.keys(OUT_NOT_A_FOLDER)) {
      const o = byName.get(name)?.options.find((x) => x.long === '--out');
      expect(o && argName(o), `${name}: its --out is a folder now; drop the exception`).not.toBe(
        'dir',
      );
    }
    for (const [name, args] of Object.entries(OPERANDS)) {
      const cmd = byName.get(name);
      expect(cmd, `${name} is not a command`).toBeDefined();
      expect(cmd?.registeredArguments.map((a) => a.name())).toEqual(args);
    }
  });

  it('finds a command that breaks it, naming the command and the flag', async () => {
    const { Command } = await import('commander');
    const bad = new Command('antidote');
    bad
      .command('fetch-things')
      .argument('<dataset>')
      .option('--seed <n>', 'seed', Number, 0)
      .option('--out <file>', 'where')
      .option('--json', 'json');
    expect(problems(bad.commands[0]!)).toEqual([
      'antidote fetch-things: has no --quiet',
      'antidote fetch-things: --seed defaults to 0, not 1',
      'antidote fetch-things: --out takes <file>: --out is a folder; name a file option --<what>-file',
      'antidote fetch-things: writes (--out) but has no --force',
      'antidote fetch-things: takes a positional <dataset>: use an option (--data, --model, --spec, …) or list it, with why, in OPERANDS',
    ]);
  });
});

describe('README', () => {
  it('lists every top-level command in its command list (the table under "## CLI")', () => {
    const readme = readFileSync(join(import.meta.dirname, '../../README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('\n## CLI\n')).split(/\n## /)[1] ?? '';
    const rows = section.split('\n').filter((l) => l.startsWith('|'));
    const missing = [...COMMAND_NAMES].filter(
      (name) =>
        !rows.some((r) => r.includes(`\`antidote ${name} `) || r.includes(`\`antidote ${name}\``)),
    );
    expect(rows.length).toBeGreaterThan(COMMAND_NAMES.size / 2);
    expect(missing, `README's command list lacks: ${missing.join(', ')}`).toEqual([]);
  });
});
