import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyTriggerBatch } from '../../attacks/triggers.js';
import { readDatasetDir, writeDatasetDir } from '../../data/dataset-dir.js';
import { decodePng } from '../../data/png.js';
import { isAntidoteError } from '../../errors.js';
import {
  sliceRecords,
  syntheticImages,
  testTrigger,
  trainTestModel,
} from '../../testing/images.js';
import { runProgram } from '../../testing/run-program.js';
import { Rng } from '../../util/rng.js';
import { registerCleanLabelAttackCommands } from './clean-label.js';
import { registerInspectCommand } from './inspect.js';

let dir: string;

function run(args: string[]): Promise<string> {
  const program = new Command('antidote').exitOverride();
  registerInspectCommand(program);
  registerCleanLabelAttackCommands(program);
  return runProgram(program, args);
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'antidote-cli-inspect-'));
  const all = syntheticImages({ classes: 10, perClass: 70, seed: 3 });
  const train = sliceRecords(all, 0, 600);
  const clean = sliceRecords(all, 600, 100);
  const model = await trainTestModel(train, {
    rate: 0.1,
    target: 0,
    model: { arch: 'cnn', filters: [4, 8], hidden: [16] },
  });
  await model.save(join(dir, 'model'));
  model.dispose();
  await writeDatasetDir(join(dir, 'train'), train);
  await writeDatasetDir(join(dir, 'clean'), clean);
  const trig = applyTriggerBatch(testTrigger, clean.x, 100, [8, 8, 1], new Rng(1));
  await writeDatasetDir(join(dir, 'triggered'), { ...clean, x: trig });
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('antidote inspect', () => {
  it('neural-cleanse flags the target and writes the reversed triggers as PNG', async () => {
    const out = join(dir, 'nc');
    const text = await run([
      'inspect',
      '--model',
      join(dir, 'model'),
      '--method',
      'neural-cleanse',
      '--data',
      join(dir, 'clean'),
      '--epochs',
      '10',
      '--steps',
      '10',
      '--init-cost',
      '0.01',
      '--out',
      out,
      '--json',
    ]);
    const summary = JSON.parse(text);
    expect(summary.suspectedTarget).toBe('c0');
    const report = JSON.parse(await readFile(join(out, 'report.json'), 'utf8'));
    expect(report.classes).toHaveLength(10);
    expect(report.suspectedTrigger.mask).toHaveLength(64);
    const grid = decodePng(await readFile(join(out, 'reversed-triggers.png')));
    expect(grid.width).toBeGreaterThan(10 * 8 * 4);
    expect(existsSync(join(out, 'suspected-trigger.png'))).toBe(true);
    await expect(
      run(['inspect', '--model', join(dir, 'model'), '--data', join(dir, 'clean'), '--out', out]),
    ).rejects.toSatisfy((e) => isAntidoteError(e, 'ALREADY_EXISTS'));
  });

  it('strip screens inputs against a clean threshold', async () => {
    const out = join(dir, 'strip');
    const text = await run([
      'inspect',
      '--model',
      join(dir, 'model'),
      '--method',
      'strip',
      '--data',
      join(dir, 'clean'),
      '--inputs',
      join(dir, 'triggered'),
      '--frr',
      '0.05',
      '--overlays',
      '8',
      '--out',
      out,
      '--json',
    ]);
    const s = JSON.parse(text);
    expect(s.total).toBe(100);
    const report = JSON.parse(await readFile(join(out, 'report.json'), 'utf8'));
    expect(report.inputs.entropy).toHaveLength(100);
    expect(report.cleanEntropy).toHaveLength(50);
  });

  it('fine-prune reports what it pruned and saves the repaired model', async () => {
    const out = join(dir, 'fp');
    const text = await run([
      'inspect',
      '--model',
      join(dir, 'model'),
      '--method',
      'fine-prune',
      '--data',
      join(dir, 'train'),
      '--save-model',
      join(dir, 'pruned'),
      '--out',
      out,
      '--json',
    ]);
    const s = JSON.parse(text);
    expect(s.pruned.length).toBeGreaterThan(0);
    expect(existsSync(join(dir, 'pruned', 'model.json'))).toBe(true);
  });
});

describe('antidote attack (clean-label)', () => {
  it('clean-label-backdoor keeps labels and records the attack', async () => {
    const out = join(dir, 'clb');
    await run([
      'attack',
      'clean-label-backdoor',
      '--data',
      join(dir, 'train'),
      '--model',
      join(dir, 'model'),
      '--trigger',
      'checkerboard',
      '--size',
      '3',
      '--target',
      'c1',
      '--rate',
      '0.3',
      '--epsilon',
      '0.2',
      '--out',
      out,
    ]);
    const before = await readDatasetDir(join(dir, 'train'));
    const after = await readDatasetDir(out);
    expect(Array.from(after.dataset.y)).toEqual(Array.from(before.dataset.y));
    expect((after.attack as { attack: string }).attack).toBe('clean-label-backdoor');
  });

  it('feature-collision appends base-labelled poisons', async () => {
    const out = join(dir, 'fc');
    const text = await run([
      'attack',
      'feature-collision',
      '--data',
      join(dir, 'train'),
      '--model',
      join(dir, 'model'),
      '--target-data',
      join(dir, 'clean'),
      '--target-index',
      '0',
      '--base-class',
      'c5',
      '--poisons',
      '2',
      '--iterations',
      '50',
      '--out',
      out,
      '--json',
    ]);
    expect(JSON.parse(text).params.targetIndex).toBe(0);
    const after = await readDatasetDir(out);
    expect(after.dataset.shape[0]).toBe(602);
    expect(Array.from(after.dataset.y.subarray(600))).toEqual([5, 5]);
    await expect(
      run([
        'attack',
        'feature-collision',
        '--data',
        join(dir, 'train'),
        '--model',
        join(dir, 'model'),
        '--target-data',
        join(dir, 'clean'),
        '--target-index',
        '100',
        '--base-class',
        'c5',
        '--out',
        join(dir, 'fc2'),
      ]),
    ).rejects.toSatisfy((e) => isAntidoteError(e, 'INVALID_ARGUMENT'));
    expect(existsSync(join(dir, 'fc2'))).toBe(false);
  });
});
