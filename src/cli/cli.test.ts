import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
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
    expect(again.stderr).toMatch(/--force/);
    expect(runCli([...args, '--force']).code).toBe(0);
  });
});

describe('antidote CLI: parse errors, pipes, data on-ramps (issue 21)', () => {
  it('prints every parse error as one INVALID_ARGUMENT line with where to read more, exit 2', () => {
    const cases: Array<[string[], RegExp]> = [
      [
        ['train', '--data', 'mnist:train:10', '--out', 'x', '--frobnicate'],
        /unknown option '--frobnicate'/,
      ],
      [['train', '--data', 'mnist:train:10'], /required option '--out <dir>' not specified/],
      [['train', '--data', 'mnist:train:10', '--out', 'x', '--seed', 'one'], /expected an integer/],
      [['scan', '--data'], /option '--data <data>' argument missing/],
    ];
    for (const [args, message] of cases) {
      const r = runCli(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(message);
      const cmd = args[0]!;
      expect(r.stderr).toMatch(
        new RegExp(
          `^antidote: error \\[INVALID_ARGUMENT\\]: .* \\(see \`antidote help ${cmd}\`\\)\\n$`,
        ),
      );
    }
    const sub = runCli([
      'attack',
      'backdoor',
      '--data',
      'mnist:test:10',
      '--trigger',
      'checkerboard',
      '--rate',
      '0.1',
      '--out',
      'x',
      '--nope',
    ]);
    expect(sub.code).toBe(2);
    expect(sub.stderr).toBe(
      "antidote: error [INVALID_ARGUMENT]: unknown option '--nope' (see `antidote attack backdoor --help`)\n",
    );
    const unknown = runCli(['frobnicate']);
    expect(unknown.stderr).toMatch(
      /^antidote: error \[INVALID_ARGUMENT\]: unknown command 'frobnicate' \(see `antidote help`\)\n$/,
    );
    expect(runCli(['info', 'a', '--data', 'b']).stderr).toMatch(
      /^antidote: error \[INVALID_ARGUMENT\]: "a" and --data "b" both given/,
    );
  });

  it('ends quietly, with its own status, when the reader of its output goes away (EPIPE)', async () => {
    const { spawnSync } = await import('node:child_process');
    const { CLI } = await import('../testing/run-cli.js');
    // 6,000 classes: ~350 kB of JSON, far more than a pipe holds, so `head -c 1` leaves mid-way
    const csv = join(mkdtempSync(join(tmpdir(), 'antidote-cli-')), 'many.csv');
    const rows = Array.from({ length: 6000 }, (_, i) => `${i},c${String(i).padStart(5, '0')}`);
    writeFileSync(csv, `a,label\n${rows.join('\n')}\n`);
    const r = spawnSync(
      'bash',
      [
        '-c',
        `"$0" "$1" info --data "$2" --json | head -c 1 >/dev/null; echo "status \${PIPESTATUS[0]}"`,
        process.execPath,
        CLI,
        csv,
      ],
      { encoding: 'utf8' },
    );
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('status 0\n');
  });

  it('reads a bare .npz, CSV flags, and prints layout notices unless --quiet', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'antidote-cli-'));
    const { ndarray } = await import('../data/npy.js');
    const { writeNpz } = await import('../data/npz.js');
    await writeNpz(join(dir, 'digits.npz'), {
      x_train: ndarray('uint8', [6, 8, 8], new Uint8Array(384)),
      y_train: ndarray('int64', [6], BigInt64Array.from([0n, 1n, 2n, 0n, 1n, 2n])),
    });
    const npz = join(dir, 'digits.npz');
    const missing = runCli(['info', '--data', npz]);
    expect(missing.code).toBe(65);
    expect(missing.stderr).toMatch(/--x-key x_train --y-key y_train/);
    const args = ['info', '--data', npz, '--x-key', 'x_train', '--y-key', 'y_train', '--json'];
    const r = runCli(args);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(
      /^notice: .*digits\.npz:x_train: records \[8, 8\] read as HW grayscale/,
    );
    const info = JSON.parse(r.stdout);
    expect(info.kind).toBe('arrays');
    expect(info.shape).toEqual([6, 8, 8, 1]);
    expect(runCli([...args, '--quiet']).stderr).toBe('');
    // positional alias
    expect(JSON.parse(runCli(['info', npz, ...args.slice(3)]).stdout).shape).toEqual([6, 8, 8, 1]);

    const csv = join(dir, 'fraud.csv');
    writeFileSync(
      csv,
      'tx,amount,country,fraud\nT000000,3.5,FR,0\nT000001,9,DE,1\nT000002,1,FR,0\n',
    );
    const bad = runCli(['info', '--data', csv]);
    expect(bad.code).toBe(65);
    expect(bad.stderr).toMatch(/"T000000" is not a number \(.*--id/);
    const ok = runCli([
      'info',
      '--data',
      csv,
      '--id',
      'tx',
      '--label',
      'fraud',
      '--categorical',
      'country',
      '--json',
    ]);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ kind: 'csv', records: 3, shape: [3, 2] });
  });
});
