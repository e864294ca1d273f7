import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adaptivePatchTestTrigger, adaptivePatchTriggers } from '../../attacks/adaptive-patch.js';
import { readDatasetDir, writeDatasetDir } from '../../data/dataset-dir.js';
import { isAntidoteError } from '../../errors.js';
import { rejectionOf, runProgram } from '../../testing/run-program.js';
import { syntheticImages } from '../../testing/synthetic-images.js';
import { Rng } from '../../util/rng.js';
import { registerAttackCommand } from './attack.js';

// `antidote attack adaptive-patch`: the data and record it writes, the triggered test set, and
// bad parameters refused before anything is written.
let dir: string;
let data: string;
let test: string;
const shape = [10, 10, 1];

function run(args: string[]): Promise<string> {
  const program = new Command('antidote').exitOverride();
  registerAttackCommand(program);
  return runProgram(program, args);
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'antidote-cli-apatch-'));
  data = join(dir, 'train');
  test = join(dir, 'test');
  await writeDatasetDir(data, syntheticImages(200, shape, 3, 1));
  await writeDatasetDir(test, syntheticImages(30, shape, 3, 2));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('antidote attack adaptive-patch', () => {
  it('writes the poisoned set, its record and the combined-trigger test set', async () => {
    const exported = join(dir, 'ap-test');
    const record = JSON.parse(
      await run([
        'attack',
        'adaptive-patch',
        '--data',
        data,
        '--target',
        'c1',
        '--rate',
        '0.04',
        '--size',
        '2',
        '--alphas',
        '0.5,0.2,0.5',
        '--patch-seed',
        '3',
        '--out',
        join(dir, 'ap'),
        '--export-triggered-test',
        exported,
        '--test-data',
        test,
        '--json',
      ]),
    );
    expect(record.attack).toBe('adaptive-patch');
    expect(record.params).toMatchObject({
      target: 1,
      rate: 0.04,
      coverRate: 0.08,
      alphas: [0.5, 0.2, 0.5],
      testAlpha: 1,
      poisons: 8,
      regularization: 16,
      patches: { size: 2, patchSeed: 3 },
    });
    const clean = (await readDatasetDir(data)).dataset;
    const out = (await readDatasetDir(join(dir, 'ap'))).dataset;
    const changed = Array.from(out.y.keys()).filter((i) => out.y[i] !== clean.y[i]);
    expect(changed).toHaveLength(8);
    expect(changed.every((i) => out.y[i] === 1)).toBe(true);

    const t = await readDatasetDir(exported);
    const cleanTest = (await readDatasetDir(test)).dataset;
    const keep = Array.from(cleanTest.y.keys()).filter((i) => cleanTest.y[i] !== 1);
    expect(t.dataset.shape).toEqual([keep.length, ...shape]);
    expect(t.meta?.attack).toBe('adaptive-patch');
    expect(t.meta?.targets).toEqual(new Array(keep.length).fill(1));
    const trigger = adaptivePatchTestTrigger(adaptivePatchTriggers(shape, [0.5, 0.2, 0.5], 2, 3));
    keep.forEach((i, j) => {
      const want = trigger.apply(cleanTest.x.slice(i * 100, (i + 1) * 100), shape, new Rng(1));
      expect(t.dataset.x.subarray(j * 100, (j + 1) * 100)).toEqual(want);
    });
  });

  it('bad parameters fail with INVALID_ARGUMENT before anything is written', async () => {
    const cases: string[][] = [
      ['--rate', '0'],
      ['--rate', '0.05', '--alphas', '0.5'],
      ['--rate', '0.05', '--alphas', '0.5,x'],
      ['--rate', '0.05', '--alphas', '0.5,1.5'],
      ['--rate', '0.05', '--test-alpha', '0'],
      ['--rate', '0.05', '--cover-rate', '1'],
      ['--rate', '0.05', '--size', '5'], // four 5×5 corners do not fit 10×10
      ['--rate', '0.05', '--target', '7'],
    ];
    for (const [i, args] of cases.entries()) {
      const out = join(dir, `bad-${i}`);
      const target = args.includes('--target') ? [] : ['--target', '0'];
      const e = await rejectionOf(
        run(['attack', 'adaptive-patch', '--data', data, ...target, ...args, '--out', out]),
      );
      expect([i, isAntidoteError(e, 'INVALID_ARGUMENT')]).toEqual([i, true]);
      expect(existsSync(out)).toBe(false);
    }
  });
});
