import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeDatasetDir } from '../../data/dataset-dir.js';
import { decodePng } from '../../data/png.js';
import { trainClassifier } from '../../engine/tf-classifier.js';
import { rowImages } from '../../testing/knn.js';
import { runProgram } from '../../testing/run-program.js';
import { registerEvaluateCommand } from './evaluate.js';
import { registerSweepCommand } from './sweep.js';

// End to end with the real engine on tiny data (logistic regression, 8×8 images).
let dir: string;
const train = rowImages(240, 3, 1);
const test = rowImages(60, 3, 2);

function run(args: string[]): Promise<string> {
  const program = new Command('antidote').exitOverride();
  registerEvaluateCommand(program);
  registerSweepCommand(program);
  return runProgram(program, args);
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'antidote-cli-sweep-'));
  await writeDatasetDir(join(dir, 'train'), train);
  await writeDatasetDir(join(dir, 'test'), test);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('antidote sweep (engine)', () => {
  it('writes sweep.json, sweep.csv, sweep.svg and triggers.png', async () => {
    const spec = join(dir, 'spec.json');
    await writeFile(
      spec,
      JSON.stringify({
        name: 'tiny',
        data: { train: join(dir, 'train'), test: join(dir, 'test') },
        attack: { attack: 'backdoor', trigger: { kind: 'pattern' }, mode: 'all-to-one', target: 0 },
        victim: { model: 'logistic', epochs: 5, batchSize: 16, learningRate: 0.05 },
        rates: [0, 0.1],
        triggers: [{ kind: 'pattern' }, { kind: 'checkerboard', size: 3 }],
        seeds: [1],
      }),
    );
    const out = join(dir, 'sweep');
    const res = JSON.parse(await run(['sweep', spec, '--out', out, '--json']));
    expect(res.rows.length).toBe(4);
    for (const r of res.rows) {
      expect(r.cleanAccuracy).toBeGreaterThan(0.9);
      expect(r.attackSuccessRate).toBeGreaterThanOrEqual(0);
    }
    expect(JSON.parse(await readFile(join(out, 'sweep.json'), 'utf8')).results.length).toBe(4);
    expect((await readFile(join(out, 'sweep.csv'), 'utf8')).split('\r\n').length).toBe(6);
    expect(await readFile(join(out, 'sweep.svg'), 'utf8')).toContain('ASR (pattern)');
    const png = decodePng(await readFile(join(out, 'triggers.png')));
    expect(png.height).toBe(3 * 8 * 4 + 4 * 2); // clean row + one row per trigger
  });

  it('evaluate reports accuracy, and ASR with a trigger', async () => {
    const model = await trainClassifier(train, {
      model: 'logistic',
      seed: 1,
      epochs: 5,
      batchSize: 16,
      learningRate: 0.05,
    });
    const mdir = join(dir, 'model');
    await model.save(mdir);
    model.dispose();
    const r = JSON.parse(
      await run([
        'evaluate',
        '--model',
        mdir,
        '--data',
        join(dir, 'test'),
        '--trigger',
        'pixel',
        '--target',
        '0',
        '--json',
      ]),
    );
    expect(r.n).toBe(60);
    expect(r.accuracy).toBeGreaterThan(0.9);
    expect(r.backdoor.attacked).toBe(40);
    expect(r.trigger).toEqual({ kind: 'pixel' });
    expect(existsSync(mdir)).toBe(true);
  });
});
