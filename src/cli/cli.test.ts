import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../testing/run-cli.js';

describe('antidote CLI', () => {
  it('trains, saves, and predicts with the saved model (JSON output)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'antidote-cli-'));
    const model = join(dir, 'model');
    const train = runCli([
      'train',
      '--data',
      'mnist:train:600',
      '--model',
      'logistic',
      '--epochs',
      '3',
      '--lr',
      '0.01',
      '--out',
      model,
      '--json',
    ]);
    expect(train.stderr).toBe('');
    expect(train.code).toBe(0);
    const t = JSON.parse(train.stdout);
    expect(t.records).toBe(600);
    expect(t.spec).toEqual({ arch: 'logistic' });
    expect(existsSync(join(model, 'model.json'))).toBe(true);

    const preds = join(dir, 'preds.jsonl');
    const predict = runCli([
      'predict',
      '--model',
      model,
      '--data',
      'mnist:test:300',
      '--out',
      preds,
      '--json',
    ]);
    expect(predict.code).toBe(0);
    const p = JSON.parse(predict.stdout);
    expect(p.records).toBe(300);
    expect(p.accuracy).toBeGreaterThan(0.6);
    const lines = readFileSync(preds, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(300);
    expect(JSON.parse(lines[0]!)).toMatchObject({ id: 'mnist-test-00000', label: '7' });
  });

  it('maps errors to exit codes with a one-line message and no stack trace', () => {
    const dir = mkdtempSync(join(tmpdir(), 'antidote-cli-'));
    const cases: Array<[string[], number, RegExp]> = [
      [['train', '--data', join(dir, 'missing'), '--out', join(dir, 'm')], 66, /\[NOT_FOUND\]/],
      [
        ['predict', '--model', join(dir, 'missing'), '--data', 'mnist:test:10'],
        66,
        /\[NOT_FOUND\].*model\.json/,
      ],
      [
        ['train', '--data', 'mnist:train:50', '--epochs', '0', '--out', join(dir, 'm')],
        2,
        /\[INVALID_ARGUMENT\]: epochs/,
      ],
      [
        ['train', '--data', 'mnist:train:50', '--epochs', 'two', '--out', join(dir, 'm')],
        2,
        /expected an integer/,
      ],
      [
        ['train', '--data', 'mnist:train:50', '--model', 'resnet', '--out', join(dir, 'm')],
        2,
        /choices/,
      ],
      [['frobnicate'], 2, /unknown command/],
    ];
    for (const [args, code, message] of cases) {
      const r = runCli(args);
      expect(r.code, args.join(' ')).toBe(code);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
    expect(existsSync(join(dir, 'm'))).toBe(false);
  });

  it('refuses to overwrite a model directory without --force', () => {
    const dir = mkdtempSync(join(tmpdir(), 'antidote-cli-'));
    const args = [
      'train',
      '--data',
      'mnist:train:100',
      '--model',
      'logistic',
      '--epochs',
      '1',
      '--out',
      join(dir, 'm'),
    ];
    expect(runCli(args).code).toBe(0);
    const again = runCli(args);
    expect(again.code).toBe(73);
    expect(again.stderr).toMatch(/\[ALREADY_EXISTS\]/);
    expect(runCli([...args, '--force']).code).toBe(0);
  });
});
