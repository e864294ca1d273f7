import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readDatasetDir, writeDatasetDir } from '../../data/dataset-dir.js';
import { initEngine } from '../../engine/backend.js';
import { isAntidoteError } from '../../errors.js';
import { trainTestModel } from '../../testing/images.js';
import { rejectionOf, runProgram } from '../../testing/run-program.js';
import { syntheticImages } from '../../testing/synthetic-images.js';
import { registerAttackCommand } from './attack.js';
import { registerEvaluateCommand } from './evaluate.js';

// The round-two attacks (SIG, WaNet, Adaptive-Blend, the corner trigger of the clean-label
// backdoor) on the command line, `attack ... --export-triggered-test` and `evaluate --triggered`.
let dir: string;
let data: string;
let test: string;
let model: string;

function run(args: string[]): Promise<string> {
  const program = new Command('antidote').exitOverride();
  registerAttackCommand(program);
  registerEvaluateCommand(program);
  return runProgram(program, args);
}
const failure = (args: string[]) => rejectionOf(run(args));

beforeAll(async () => {
  await initEngine();
  dir = await mkdtemp(join(tmpdir(), 'antidote-cli-attack2-'));
  data = join(dir, 'train');
  test = join(dir, 'test');
  const train = syntheticImages(150, [8, 8, 1], 3, 1);
  await writeDatasetDir(data, train);
  await writeDatasetDir(test, syntheticImages(60, [8, 8, 1], 3, 2));
  model = join(dir, 'model');
  const m = await trainTestModel(train, { rate: 0.2, target: 0, epochs: 8 });
  await m.save(model);
  m.dispose();
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('antidote attack sig / wanet / adaptive-blend', () => {
  it('write their datasets and records, labels untouched for SIG', async () => {
    const sig = JSON.parse(
      await run([
        'attack',
        'sig',
        '--data',
        data,
        '--target',
        'c1',
        '--rate',
        '0.2',
        '--delta',
        '0.1',
        '--out',
        join(dir, 'sig'),
        '--json',
      ]),
    );
    expect(sig.attack).toBe('sig');
    expect(sig.params).toMatchObject({
      target: 1,
      signal: 'sin',
      delta: 0.1,
      frequency: 6,
      testDelta: 0.1,
    });
    expect(sig.originalLabels).toEqual(sig.poisonedLabels);
    expect(sig.originalLabels.every((c: number) => c === 1)).toBe(true);
    const back = await readDatasetDir(join(dir, 'sig'));
    expect(back.dataset.y).toEqual((await readDatasetDir(data)).dataset.y);

    const wanet = JSON.parse(
      await run([
        'attack',
        'wanet',
        '--data',
        data,
        '--target',
        '0',
        '--rate',
        '0.1',
        '--out',
        join(dir, 'wanet'),
        '--json',
      ]),
    );
    expect(wanet.params).toMatchObject({
      gridSize: 4,
      strength: 0.5,
      gridRescale: 1,
      crossRatio: 2,
      poisons: 15,
      regularization: 30,
    });
    expect(wanet.params.controlGrid).toHaveLength(32);

    const ab = JSON.parse(
      await run([
        'attack',
        'adaptive-blend',
        '--data',
        data,
        '--target',
        '0',
        '--rate',
        '0.04',
        '--pieces',
        '4',
        '--out',
        join(dir, 'ab'),
        '--json',
      ]),
    );
    expect(ab.params).toMatchObject({
      pieces: 4,
      maskedPieces: 2,
      alpha: 0.15,
      testAlpha: 0.2,
      coverRate: 0.04,
      poisons: 6,
      regularization: 6,
      key: { blendSeed: 0 },
    });
  });

  it('bad parameters fail with INVALID_ARGUMENT before anything is written', async () => {
    const cases: string[][] = [
      ['sig', '--target', '0', '--rate', '0.2', '--delta', '2'],
      ['sig', '--target', '0', '--rate', '0'],
      ['wanet', '--target', '0', '--rate', '0.1', '--grid-size', '1'],
      ['wanet', '--target', '0', '--rate', '0.1', '--strength', '0'],
      ['adaptive-blend', '--target', '0', '--rate', '0.05', '--pieces', '5'],
      ['adaptive-blend', '--target', '0', '--rate', '0.05', '--alpha', '0'],
      ['sig', '--target', '0', '--rate', '0.2', '--export-triggered-test', join(dir, 'x')],
      ['sig', '--target', '0', '--rate', '0.2', '--test-data', test],
    ];
    for (const [i, [name, ...args]] of cases.entries()) {
      const out = join(dir, `bad-${i}`);
      const e = await failure(['attack', name!, '--data', data, ...args, '--out', out]);
      expect([i, isAntidoteError(e, 'INVALID_ARGUMENT')]).toEqual([i, true]);
      expect(existsSync(out)).toBe(false);
      expect(existsSync(join(dir, 'x'))).toBe(false);
    }
  });
});

describe('attack --export-triggered-test and evaluate --triggered', () => {
  it('export the targeted test records with the test trigger; ASR from them equals evaluate --trigger', async () => {
    const exported = join(dir, 'bd-test');
    await run([
      'attack',
      'backdoor',
      '--data',
      data,
      '--trigger',
      'checkerboard',
      '--size',
      '3',
      '--margin',
      '0',
      '--target',
      '0',
      '--rate',
      '0.1',
      '--out',
      join(dir, 'bd'),
      '--export-triggered-test',
      exported,
      '--test-data',
      test,
    ]);
    const t = await readDatasetDir(exported);
    const clean = await readDatasetDir(test);
    const nonTarget = clean.dataset.y.filter((c) => c !== 0).length;
    expect(t.dataset.shape).toEqual([nonTarget, 8, 8, 1]);
    expect(Array.from(t.dataset.y).every((c) => c !== 0)).toBe(true);
    expect(t.meta?.targets).toEqual(new Array(nonTarget).fill(0));
    expect(t.meta?.targeting).toEqual({ mode: 'all-to-one', target: 0 });

    const direct = JSON.parse(
      await run([
        'evaluate',
        '--model',
        model,
        '--data',
        test,
        '--trigger',
        'checkerboard',
        '--size',
        '3',
        '--margin',
        '0',
        '--target',
        '0',
        '--json',
      ]),
    );
    const fromField = JSON.parse(
      await run([
        'evaluate',
        '--model',
        model,
        '--triggered',
        exported,
        '--targets-from',
        'targets',
        '--json',
      ]),
    );
    const fromTarget = JSON.parse(
      await run(['evaluate', '--model', model, '--triggered', exported, '--target', '0', '--json']),
    );
    expect(fromField.backdoor).toEqual(direct.backdoor);
    expect(fromTarget.backdoor).toEqual(direct.backdoor);
    expect(fromField.skipped).toBe(0);
    expect(direct.backdoor.attackSuccessRate).toBeGreaterThan(0.5); // the model is backdoored
    // Targeting class 1 instead: the records of class 1 are left out.
    const other = JSON.parse(
      await run([
        'evaluate',
        '--model',
        model,
        '--triggered',
        exported,
        '--target',
        'c1',
        '--json',
      ]),
    );
    expect(other.skipped).toBe(t.dataset.y.filter((c) => c === 1).length);
    expect(other.backdoor.attacked).toBe(nonTarget - other.skipped);
    // With --data as well: clean accuracy plus the triggered metrics.
    const both = JSON.parse(
      await run([
        'evaluate',
        '--model',
        model,
        '--data',
        test,
        '--triggered',
        exported,
        '--target',
        '0',
        '--json',
      ]),
    );
    expect(both.accuracy).toBe(direct.accuracy);
    expect(both.backdoor).toEqual(direct.backdoor);
  });

  it('every round-two attack exports its test-time trigger', async () => {
    for (const [name, args] of [
      ['sig', ['--rate', '0.2', '--test-delta', '0.3']],
      ['wanet', ['--rate', '0.1']],
      ['adaptive-blend', ['--rate', '0.04', '--pieces', '4']],
    ] as const) {
      const exported = join(dir, `${name}-test`);
      await run([
        'attack',
        name,
        '--data',
        data,
        '--target',
        '2',
        ...args,
        '--out',
        join(dir, `${name}-2`),
        '--export-triggered-test',
        exported,
        '--test-data',
        test,
      ]);
      const t = await readDatasetDir(exported);
      expect(t.meta?.attack).toBe(name);
      expect(t.dataset.shape[0]).toBe(
        Array.from((await readDatasetDir(test)).dataset.y).filter((c) => c !== 2).length,
      );
      expect(t.meta?.targets).toEqual(new Array(t.dataset.shape[0]).fill(2));
    }
  });

  it('rejects bad flag combinations and bad target fields', async () => {
    const exported = join(dir, 'bd-test');
    const cases: string[][] = [
      ['--triggered', exported], // no target
      ['--triggered', exported, '--target', '0', '--targets-from', 'targets'],
      ['--triggered', exported, '--target', '0', '--trigger', 'pattern'],
      ['--triggered', exported, '--targets-from', 'nope'],
      ['--triggered', exported, '--targets-from', 'targeting'],
      ['--data', test, '--targets-from', 'targets'],
      [],
    ];
    for (const args of cases) {
      const e = await failure(['evaluate', '--model', model, ...args]);
      expect(isAntidoteError(e, 'INVALID_ARGUMENT')).toBe(true);
    }
  });
});
