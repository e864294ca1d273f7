import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readDatasetDir, writeDatasetDir } from '../../data/dataset-dir.js';
import { decodePng } from '../../data/png.js';
import { FeatureModel } from '../../engine/feature-model-io.js';
import { isAntidoteError } from '../../errors.js';
import { filmTexts } from '../../testing/feature-data.js';
import { rejectionOf, runProgram } from '../../testing/run-program.js';
import { syntheticImages } from '../../testing/synthetic-images.js';
import { registerAttackCommand } from './attack.js';
import { registerEvaluateCommand } from './evaluate.js';
import { registerSweepCommand } from './sweep.js';

let dir: string;
let data: string;

function run(args: string[]): Promise<string> {
  const program = new Command('antidote').exitOverride();
  registerAttackCommand(program);
  registerEvaluateCommand(program);
  registerSweepCommand(program);
  return runProgram(program, args);
}

const failure = (args: string[]) => rejectionOf(run(args));

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'antidote-cli-attack-'));
  data = join(dir, 'clean');
  await writeDatasetDir(data, syntheticImages(120, [8, 8, 1], 3, 1, true));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('antidote attack backdoor', () => {
  it('writes a dataset directory with the attack record, and a preview grid', async () => {
    const out = join(dir, 'bd');
    const preview = join(dir, 'bd.png');
    const text = await run([
      'attack',
      'backdoor',
      '--data',
      data,
      '--trigger',
      'pattern',
      '--mode',
      'all-to-one',
      '--target',
      '0',
      '--rate',
      '0.1',
      '--seed',
      '3',
      '--out',
      out,
      '--preview',
      preview,
      '--json',
    ]);
    const record = JSON.parse(text);
    expect(record.attack).toBe('backdoor');
    expect(record.indices.length).toBe(12);
    const back = await readDatasetDir(out);
    expect(back.attack).toEqual(record);
    for (const i of record.indices) expect(back.dataset.y[i]).toBe(0);
    expect(back.dataset.source).toEqual((await readDatasetDir(data)).dataset.source);
    const png = decodePng(await readFile(preview));
    expect(png.width).toBeGreaterThan(8 * 4);
    // Same seed → byte-identical data file.
    const again = join(dir, 'bd2');
    await run([
      'attack',
      'backdoor',
      '--data',
      data,
      '--trigger',
      'pattern',
      '--target',
      '0',
      '--rate',
      '0.1',
      '--seed',
      '3',
      '--out',
      again,
    ]);
    expect(
      (await readFile(join(again, 'data.npz'))).equals(await readFile(join(out, 'data.npz'))),
    ).toBe(true);
    expect(await readFile(join(again, 'dataset.json'), 'utf8')).toBe(
      await readFile(join(out, 'dataset.json'), 'utf8'),
    );
  });

  it('add-copies and of-target-class', async () => {
    const out = join(dir, 'bd-add');
    const record = JSON.parse(
      await run([
        'attack',
        'backdoor',
        '--data',
        data,
        '--trigger',
        'image',
        '--size',
        '3',
        '--target',
        'c1',
        '--rate',
        '0.2',
        '--rate-of',
        'of-target-class',
        '--add-copies',
        '--out',
        out,
        '--json',
      ]),
    );
    expect(record.trigger).toEqual({ kind: 'image', image: 'bright-square', size: 3 });
    expect(record.params.target).toBe(1);
    expect(record.indices.length).toBe(10); // 40 of class 1: p / (40 + p) = 0.2
    expect((await readDatasetDir(out)).dataset.shape[0]).toBe(130);
  });

  it('bad parameters fail with INVALID_ARGUMENT / INVALID_FORMAT before anything is written', async () => {
    const badPng = join(dir, 'bad.png');
    await writeFile(badPng, 'not a png');
    const cases: [string[], string][] = [
      [['--trigger', 'pattern', '--target', '0', '--rate', '1'], 'INVALID_ARGUMENT'],
      [['--trigger', 'pattern', '--target', '0', '--rate', '-0.1'], 'INVALID_ARGUMENT'],
      [['--trigger', 'pattern', '--target', '3', '--rate', '0.1'], 'INVALID_ARGUMENT'],
      [['--trigger', 'pattern', '--target', 'nope', '--rate', '0.1'], 'INVALID_ARGUMENT'],
      [
        ['--trigger', 'checkerboard', '--size', '9', '--target', '0', '--rate', '0.1'],
        'INVALID_ARGUMENT',
      ],
      [
        ['--trigger', 'image', '--image', badPng, '--target', '0', '--rate', '0.1'],
        'INVALID_FORMAT',
      ],
    ];
    for (const [i, [args, code]] of cases.entries()) {
      const out = join(dir, `bad-${i}`);
      const preview = join(dir, `bad-${i}.png`);
      const e = await failure([
        'attack',
        'backdoor',
        '--data',
        data,
        ...args,
        '--out',
        out,
        '--preview',
        preview,
      ]);
      expect(isAntidoteError(e, code as 'INVALID_ARGUMENT')).toBe(true);
      expect(existsSync(out)).toBe(false);
      expect(existsSync(preview)).toBe(false);
    }
  });
});

describe('antidote attack label-flip', () => {
  it('random and targeted flips', async () => {
    const out = join(dir, 'lf');
    const record = JSON.parse(
      await run(['attack', 'label-flip', '--data', data, '--rate', '0.25', '--out', out, '--json']),
    );
    expect(record.attack).toBe('label-flip');
    expect(record.indices.length).toBe(30);
    const t = JSON.parse(
      await run([
        'attack',
        'label-flip',
        '--data',
        data,
        '--mode',
        'targeted',
        '--source',
        'c2',
        '--target',
        'c0',
        '--count',
        '5',
        '--out',
        join(dir, 'lf2'),
        '--json',
      ]),
    );
    expect(t.poisonedLabels).toEqual([0, 0, 0, 0, 0]);
    expect(t.originalLabels).toEqual([2, 2, 2, 2, 2]);
  });
  it('rejects bad budgets and a missing model for the adversarial mode', async () => {
    for (const args of [
      ['--rate', '1.5'],
      [],
      ['--mode', 'adversarial', '--rate', '0.1'],
      ['--mode', 'targeted', '--source', '0', '--target', '7', '--rate', '0.1'],
    ]) {
      const out = join(dir, 'lf-bad');
      const e = await failure(['attack', 'label-flip', '--data', data, ...args, '--out', out]);
      expect(isAntidoteError(e, 'INVALID_ARGUMENT')).toBe(true);
      expect(existsSync(out)).toBe(false);
    }
  });
});

describe('the attacks that craft pixels against a model', () => {
  it('refuse a text model, saying it needs an image model, before anything is written', async () => {
    const trained = await FeatureModel.train(
      { dataset: filmTexts(20) },
      { seed: 1, epochs: 1, vectorizer: { minDocFreq: 1 } },
    );
    const model = join(dir, 'text-model');
    await trained.save(model);
    trained.dispose();
    for (const [attack, name, args] of [
      [
        'feature-collision',
        'feature collision',
        ['--target-data', data, '--target-index', '0', '--base-class', '1'],
      ],
      [
        'clean-label-backdoor',
        'the clean-label backdoor',
        ['--trigger', 'pattern', '--target', '0', '--rate', '0.5', '--epsilon', '0.1'],
      ],
    ] as const) {
      const out = join(dir, `${attack}-text`);
      const e = await failure([
        'attack',
        attack,
        '--data',
        data,
        '--model',
        model,
        ...args,
        '--out',
        out,
      ]);
      expect(isAntidoteError(e, 'INVALID_ARGUMENT')).toBe(true);
      expect((e as Error).message).toMatch(
        new RegExp(
          `^${name} needs an image model; .*text-model is a text model \\(tfidf-logistic\\)`,
        ),
      );
      expect(existsSync(out)).toBe(false);
    }
  });
});

describe('antidote sweep', () => {
  it('rejects an invalid spec file with INVALID_CONFIG', async () => {
    const spec = join(dir, 'sweep.json');
    await writeFile(
      spec,
      JSON.stringify({
        data: { train: data, test: data },
        attack: { attack: 'backdoor' },
        victim: { model: 'cnn' },
        rates: [1.2],
        seeds: [1],
      }),
    );
    const e = await failure(['sweep', spec, '--out', join(dir, 'sw')]);
    expect(isAntidoteError(e, 'INVALID_CONFIG')).toBe(true);
    expect((e as Error).message).toMatch(/rates/);
    expect(existsSync(join(dir, 'sw'))).toBe(false);
  });
});
