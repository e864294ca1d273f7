import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeDatasetDir } from '../../data/dataset-dir.js';
import { initEngine } from '../../engine/backend.js';
import { TfClassifier } from '../../engine/tf-classifier.js';
import { isAntidoteError } from '../../errors.js';
import { rejectionOf, runProgram } from '../../testing/run-program.js';
import { syntheticImages } from '../../testing/synthetic-images.js';
import { registerTrainCommand } from './train.js';

// `antidote train --adversarial`: PGD adversarial training (the robust surrogate of Turner et
// al.'s clean-label backdoor) from the command line.
let dir: string;
let data: string;
const train = syntheticImages(96, [8, 8, 1], 3, 1);

function run(args: string[]): Promise<string> {
  const program = new Command('antidote').exitOverride();
  registerTrainCommand(program);
  return runProgram(program, args);
}

beforeAll(async () => {
  await initEngine();
  dir = await mkdtemp(join(tmpdir(), 'antidote-cli-advtrain-'));
  data = join(dir, 'train');
  await writeDatasetDir(data, train);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const adv = ['--adversarial', '--epsilon', '0.1', '--pgd-steps', '2', '--epochs', '2'];

describe('antidote train --adversarial', () => {
  it('trains and saves a model with PGD examples; same seed, same weights', async () => {
    const outs = [join(dir, 'a'), join(dir, 'b')];
    const results = [];
    for (const out of outs) {
      results.push(
        JSON.parse(await run(['train', '--data', data, ...adv, '--out', out, '--json', '--quiet'])),
      );
    }
    const r = results[0];
    expect(r.adversarial).toEqual({
      epsilon: 0.1,
      pgdSteps: 2,
      stepSize: null,
      adversarialShare: 1,
    });
    expect(r.records).toBe(96);
    expect(r.epochs).toHaveLength(2);
    for (const e of r.epochs) expect(Number.isFinite(e.loss)).toBe(true);
    const [m1, m2] = await Promise.all(outs.map((o) => TfClassifier.load(o)));
    try {
      expect(m1!.numClasses).toBe(3);
      const p1 = await m1!.predictProba(train.x, 96);
      const p2 = await m2!.predictProba(train.x, 96);
      expect(p1).toEqual(p2);
    } finally {
      m1!.dispose();
      m2!.dispose();
    }
  });

  it('refuses bad or misplaced PGD flags before anything is written', async () => {
    const cases: string[][] = [
      ['--epsilon', '0.1'], // without --adversarial
      ['--adversarial'], // no --epsilon
      ['--adversarial', '--epsilon', '0'],
      ['--adversarial', '--epsilon', '2'],
      ['--adversarial', '--epsilon', '0.1', '--pgd-steps', '0'],
      ['--adversarial', '--epsilon', '0.1', '--adversarial-share', '1.5'],
      ['--adversarial', '--epsilon', '0.1', '--step-size', '-1'],
      ['--adversarial', '--epsilon', '0.1', '--validation-split', '0.2'],
      ['--adversarial', '--epsilon', '0.1', '--threads', '2'],
    ];
    for (const [i, args] of cases.entries()) {
      const out = join(dir, `bad-${i}`);
      const e = await rejectionOf(run(['train', '--data', data, ...args, '--out', out, '--quiet']));
      expect([i, isAntidoteError(e, 'INVALID_ARGUMENT')]).toEqual([i, true]);
      expect(existsSync(out)).toBe(false);
    }
  });
});
