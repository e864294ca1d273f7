import { Command, Help } from 'commander';
import { describe, expect, it } from 'vitest';
import { staticClosure } from '../testing/import-graph.js';
import { buildProgram, COMMAND_MODULES, COMMAND_NAMES, commandOf } from './program.js';

/** Packages that take long to load: no command may pull them in before it runs. */
const HEAVY = [
  '@tensorflow/tfjs-core',
  '@tensorflow/tfjs-layers',
  '@tensorflow/tfjs-backend-cpu',
  '@tensorflow/tfjs-backend-wasm',
  'echarts',
  'better-sqlite3',
  '@sigstore/sign',
  '@sigstore/verify',
  'hono',
  '@hono/node-server',
];

describe('the command table', () => {
  it('lists each module’s top-level commands with the help line the module registers', async () => {
    const help = new Help();
    for (const m of COMMAND_MODULES) {
      const program = new Command('antidote');
      (await m.load())(program);
      const expected = m.commands.map((c) => ({ ...c }));
      const registered = program.commands.map((c) => ({
        name: c.name(),
        term: help.subcommandTerm(c),
        description: c.summary() || c.description(),
      }));
      expect(registered).toEqual(expected);
    }
  });

  it('lists every command once (a group may take subcommands from several modules)', () => {
    const names = COMMAND_MODULES.flatMap((m) => m.commands.map((c) => c.name));
    expect(COMMAND_NAMES.size).toBe(new Set(names).size);
    expect(names.filter((n) => n !== 'attack')).toEqual(
      [...new Set(names)].filter((n) => n !== 'attack'),
    );
  });

  it('prints the same help without loading any command as with all of them', async () => {
    const all = (await buildProgram('all')).helpInformation();
    expect((await buildProgram([])).helpInformation()).toBe(all);
    expect((await buildProgram(['info'])).helpInformation()).toBe(all);
    expect(all).toMatch(/info \[options\] \[data\] +describe a dataset/);
  });

  it('registers the real command for the one that runs, placeholders for the others', async () => {
    const program = await buildProgram(['attack']);
    const attack = program.commands.find((c) => c.name() === 'attack');
    const subcommands = attack?.commands.map((c) => c.name()) ?? [];
    expect(subcommands).toContain('backdoor');
    expect(subcommands).toContain('feature-collision'); // from clean-label.ts
    expect(program.commands.find((c) => c.name() === 'scan')?.options).toEqual([]);
  });
});

describe('commandOf', () => {
  it('finds the command after the global options', () => {
    expect(commandOf(['info', 'mnist:test', '--json'])).toBe('info');
    expect(commandOf(['--backend', 'cpu', 'scan', '--data', 'x'])).toBe('scan');
    expect(commandOf(['--backend=cpu', 'train'])).toBe('train');
    expect(commandOf(['--', 'info'])).toBe('info');
    expect(commandOf(['attack', 'backdoor', '--help'])).toBe('attack');
  });

  it('reads `help CMD` as CMD, and nothing for the program’s own help and version', () => {
    expect(commandOf(['help', 'scan'])).toBe('scan');
    expect(commandOf(['help'])).toBeUndefined();
    expect(commandOf(['--help'])).toBeUndefined();
    expect(commandOf(['--version'])).toBeUndefined();
    expect(commandOf([])).toBeUndefined();
  });
});

describe('fast start', () => {
  it('main.ts imports no command module and no heavy package at load time', () => {
    const { files, packages } = staticClosure('src/cli/main.ts');
    expect([...files].filter((f) => f.includes('/commands/'))).toEqual([]);
    expect([...packages.keys()].sort()).toEqual(['commander']);
  });

  it('`info` and the data layer load none of the heavy packages', () => {
    const { packages } = staticClosure('src/cli/commands/info.ts');
    const heavy = [...packages].filter(([p]) => HEAVY.includes(p));
    expect(heavy.map(([p, by]) => `${p} (imported by ${by})`)).toEqual([]);
  });

  it('`scan` loads no TF.js with its modules (a distributed scan’s coordinator may never run the model)', () => {
    // The engine loads where a model is loaded or trained (worker.services.test.ts checks that
    // the coordinator of a scan reading the data's outline does not load it at all).
    const { packages } = staticClosure('src/cli/commands/scan.ts');
    const tf = [...packages].filter(([p]) => p.startsWith('@tensorflow/'));
    expect(tf.map(([p, by]) => `${p} (imported by ${by})`)).toEqual([]);
  });
});
