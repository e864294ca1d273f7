import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ATTACKS } from '../attacks/registry.js';
import { DETECTORS } from '../defenses/registry.js';
import { registerScanCommand } from './commands/scan.js';
import { addSchemaFlags, kebabCase, optionFromField } from './schema-flags.js';

const schema = z.object({
  rate: z.number().meta({ placeholder: '<share>', description: 'a rate' }),
  count: z.int().default(3).describe('a count'),
  kwOutput: z.enum(['a', 'b']).default('a').describe('an enum'),
  name: z.string().optional().describe('a name'),
  addCopies: z.boolean().optional().describe('a switch'),
  words: z.array(z.string()).optional().describe('words'),
  values: z.tuple([z.number(), z.number()]).optional().describe('a pair'),
  hidden: z.number().optional(),
});

function parse(args: string[]) {
  const cmd = new Command('t').exitOverride().configureOutput({ writeErr: () => {} });
  addSchemaFlags(cmd, schema);
  cmd.parse(args, { from: 'user' });
  return cmd.opts();
}

describe('flags derived from a zod schema', () => {
  it('maps numbers, integers, enums, strings, booleans, lists and pairs, with defaults', () => {
    expect(
      parse([
        '--rate',
        '0.5',
        '--kw-output',
        'b',
        '--add-copies',
        '--words',
        'cf,mn',
        '--values',
        '1,0',
      ]),
    ).toEqual({
      rate: 0.5,
      count: 3,
      kwOutput: 'b',
      addCopies: true,
      words: ['cf', 'mn'],
      values: [1, 0],
    });
    expect(parse(['--rate', '1', '--count', '7', '--name', 'x'])).toMatchObject({
      count: 7,
      name: 'x',
    });
  });

  it('refuses bad values and a missing mandatory flag, and skips undescribed fields', () => {
    expect(() => parse(['--rate', 'x'])).toThrow(/expected a number/);
    expect(() => parse(['--rate', '1', '--count', '1.5'])).toThrow(/expected an integer/);
    expect(() => parse(['--rate', '1', '--kw-output', 'c'])).toThrow(/Allowed choices/);
    expect(() => parse(['--rate', '1', '--values', '1'])).toThrow(/two numbers/);
    expect(() => parse([])).toThrow(/--rate <share>/);
    expect(() => parse(['--rate', '1', '--hidden', '2'])).toThrow(/unknown option/);
    expect(optionFromField('hidden', schema.shape.hidden)).toBeUndefined();
    expect(kebabCase('sentencePosition')).toBe('sentence-position');
  });

  it('every registry entry has a paper, and every option of a detector is a flag', () => {
    for (const d of [...DETECTORS, ...ATTACKS]) {
      expect(d.paper.length, d.name).toBeGreaterThan(10);
      expect(d.domains.length, d.name).toBeGreaterThan(0);
    }
    // antidote scan's detector flags come from the detectors' schemas.
    const program = new Command('antidote');
    registerScanCommand(program);
    const flags = program.commands[0]!.options.map((o) => o.long);
    expect(flags).toEqual(
      expect.arrayContaining(['--reduce', '--folds', '--epochs', '--kw-output']),
    );
    expect(new Set(DETECTORS.map((d) => d.name)).size).toBe(DETECTORS.length);
    expect(new Set(ATTACKS.map((a) => a.name)).size).toBe(ATTACKS.length);
  });
});
