import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseYamlSubset } from './yaml-subset.js';

const ROOT = join(import.meta.dirname, '../..');

/** PyYAML, when this machine has it: an independent parser to compare with. */
const hasPyYaml = spawnSync('python3', ['-c', 'import yaml'], { encoding: 'utf8' }).status === 0;

describe('parseYamlSubset', () => {
  it('reads block mappings, sequences, quoted scalars and literal blocks', () => {
    const doc = [
      '# comment',
      'name: x  # trailing comment',
      "quoted: 'it''s: here'",
      'dq: "a: b # c"',
      'empty:',
      'list:',
      '  - one',
      '  - key: v',
      '    other: w',
      'same-indent:',
      '- a',
      'script:',
      '  run: |',
      '    echo "#1: ok"',
      '',
      '    exit 0',
      'after: y',
    ].join('\n');
    expect(parseYamlSubset(doc)).toEqual({
      name: 'x',
      quoted: "it's: here",
      dq: 'a: b # c',
      empty: '',
      list: ['one', { key: 'v', other: 'w' }],
      'same-indent': ['a'],
      script: { run: 'echo "#1: ok"\n\nexit 0\n' },
      after: 'y',
    });
  });

  it('refuses what it does not read, naming the line', () => {
    expect(() => parseYamlSubset('a: [1, 2]')).toThrow(/line 1: unsupported value/);
    expect(() => parseYamlSubset('a: &x 1')).toThrow(/line 1/);
    expect(() => parseYamlSubset('a: b\nc: d: e')).toThrow(/line 2: .*quote it/);
    expect(() => parseYamlSubset('a: 1\na: 2')).toThrow(/line 2: duplicate key a/);
    expect(() => parseYamlSubset('a:\n\t- b')).toThrow(/line 2: tab/);
    expect(() => parseYamlSubset('a: 1\n  b: 2')).toThrow(/line 2/);
  });

  it.skipIf(!hasPyYaml)('reads action.yml as PyYAML does (scalars as strings)', () => {
    const file = join(ROOT, 'action.yml');
    const py = spawnSync(
      'python3',
      [
        '-c',
        `import json, sys, yaml
def s(x):
    if isinstance(x, dict): return {k: s(v) for k, v in x.items()}
    if isinstance(x, list): return [s(v) for v in x]
    if isinstance(x, bool): return str(x).lower()
    return str(x)
print(json.dumps(s(yaml.safe_load(open(sys.argv[1])))))`,
        file,
      ],
      { encoding: 'utf8' },
    );
    expect(py.stderr).toBe('');
    expect(parseYamlSubset(readFileSync(file, 'utf8'))).toEqual(JSON.parse(py.stdout));
  });
});
