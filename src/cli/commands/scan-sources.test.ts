import { mkdtempSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { beforeAll, describe, expect, it } from 'vitest';
import { writeDatasetDir } from '../../data/dataset-dir.js';
import { initEngine } from '../../engine/backend.js';
import { trainClassifier } from '../../engine/tf-classifier.js';
import { isAntidoteError } from '../../errors.js';
import { rejectionOf, runProgram } from '../../testing/run-program.js';
import { syntheticDataset, syntheticReps } from '../../testing/synthetic.js';
import { Rng } from '../../util/rng.js';
import { registerScanCommand } from './scan.js';

function run(args: string[]): Promise<string> {
  const program = new Command('antidote').exitOverride();
  registerScanCommand(program);
  return runProgram(program, args);
}

describe('antidote scan: contamination per source', () => {
  const root = mkdtempSync(join(tmpdir(), 'antidote-scan-sources-'));
  const modelDir = join(root, 'model');
  // 4 classes × 100 records from 5 honest contributors; 30 poison records, all from "mallory".
  const s = syntheticReps({ classes: 4, perClass: 100, dim: 16, poison: 30, seed: 2 });
  const rng = new Rng(7);
  const source = Array.from(s.poisoned, (p) => (p ? 'mallory' : `honest-${rng.int(5)}`));
  const ds = { ...syntheticDataset(s), shape: [s.y.length, 4, 4, 1], source };

  beforeAll(async () => {
    await initEngine();
    await writeDatasetDir(join(root, 'poisoned'), ds);
    const model = await trainClassifier(ds, { model: 'mlp', seed: 1, epochs: 3 });
    await model.save(modelDir);
    model.dispose();
  }, 120_000);

  it('names the poisoning contributor in report.json, the JSON and the text output', async () => {
    const out = join(root, 'scan');
    // Spectral signatures finds this cluster (the default pair's quorum is stricter than needed here).
    const args = [
      'scan',
      '--data',
      join(root, 'poisoned'),
      '--model',
      modelDir,
      '--method',
      'ss',
      '--out',
      out,
    ];
    const printed = JSON.parse(await run([...args, '--json']));
    const report = JSON.parse(await readFile(join(out, 'report.json'), 'utf8'));
    const flaggedPoison = report.decision.flaggedIds.filter(
      (id: string) => s.poisoned[ds.ids.indexOf(id)],
    ).length;
    expect(flaggedPoison).toBeGreaterThan(10); // the scan finds the poison …
    expect(report.sources.toReview).toEqual(['mallory']); // … and where it came from
    expect(printed.sources.toReview).toEqual(['mallory']);
    const text = await run([...args, '--force']);
    expect(text).toMatch(/REVIEW mallory: \d+ of 30 flagged/);
  });

  it('reads a CSV source column with --source, and refuses --source for other data', async () => {
    const features = Array.from({ length: 16 }, (_, j) => `f${j}`);
    const row = (i: number) => ds.x.subarray(i * 16, (i + 1) * 16).join(',');
    const label = (i: number) => ds.classes[ds.y[i]!];
    // The model is trained on the features alone; the scanned CSV adds the contributor column.
    const plain = join(root, 'plain.csv');
    await writeFile(
      plain,
      [['label', ...features].join(','), ...ds.ids.map((_, i) => `${label(i)},${row(i)}`)].join(
        '\n',
      ),
    );
    const csv = join(root, 'data.csv');
    await writeFile(
      csv,
      [
        ['label', 'contributor', ...features].join(','),
        ...ds.ids.map((_, i) => `${label(i)},${source[i]},${row(i)}`),
      ].join('\n'),
    );
    const csvModel = join(root, 'csv-model');
    const program = new Command('antidote').exitOverride();
    const { registerTrainCommand } = await import('./train.js');
    registerTrainCommand(program);
    await runProgram(program, [
      'train',
      '--data',
      plain,
      '--out',
      csvModel,
      '--epochs',
      '3',
      '--quiet',
    ]);
    const out = join(root, 'scan-csv');
    const printed = JSON.parse(
      await run([
        'scan',
        '--data',
        csv,
        '--source',
        'contributor',
        '--model',
        csvModel,
        '--out',
        out,
        '--json',
      ]),
    );
    expect(printed.sources.sourceCount).toBe(6);
    expect(printed.sources.toReview).toEqual(['mallory']); // the default pair (ac, ss) on the table
    const bad = await rejectionOf(
      run([
        'scan',
        '--data',
        join(root, 'poisoned'),
        '--source',
        'x',
        '--model',
        modelDir,
        '--out',
        join(root, 'x'),
      ]),
    );
    expect(isAntidoteError(bad, 'INVALID_ARGUMENT')).toBe(true);
  });
});
