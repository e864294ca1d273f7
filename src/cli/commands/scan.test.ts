import { mkdtempSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { beforeAll, describe, expect, it } from 'vitest';
import { readDatasetDir, writeDatasetDir } from '../../data/dataset-dir.js';
import { initEngine } from '../../engine/backend.js';
import { trainClassifier } from '../../engine/tf-classifier.js';
import { isAntidoteError } from '../../errors.js';
import { runProgram } from '../../testing/run-program.js';
import { syntheticDataset, syntheticReps } from '../../testing/synthetic.js';
import { registerMitigateCommand, registerScanCommand } from './scan.js';

function run(args: string[]): Promise<string> {
  const program = new Command('antidote').exitOverride();
  registerScanCommand(program);
  registerMitigateCommand(program);
  return runProgram(program, args);
}

describe('antidote scan / mitigate', () => {
  const root = mkdtempSync(join(tmpdir(), 'antidote-scan-'));
  const data = join(root, 'poisoned');
  const modelDir = join(root, 'model');
  const s = syntheticReps({ classes: 4, perClass: 100, dim: 16, poison: 12, seed: 2 });
  // Shaped as 4×4 single-channel images: the zoo's models take image-shaped input.
  const ds = { ...syntheticDataset(s), shape: [s.y.length, 4, 4, 1] };
  const poisonedIds = ds.ids.filter((_, i) => s.poisoned[i]);

  beforeAll(async () => {
    await initEngine();
    await writeDatasetDir(data, ds, { attack: { attack: 'synthetic', ids: poisonedIds } });
    const model = await trainClassifier(ds, { model: 'mlp', seed: 1, epochs: 3 });
    await model.save(modelDir);
    model.dispose();
  }, 120_000);

  it('writes a report and a CSV of suspicious ids, and scores against the attack record', async () => {
    const out = join(root, 'scan');
    const printed = JSON.parse(
      await run([
        'scan',
        '--data',
        data,
        '--model',
        modelDir,
        '--method',
        'all',
        '--out',
        out,
        '--json',
      ]),
    );
    expect(printed.methods.map((m: { method: string }) => m.method)).toEqual([
      'ac',
      'ss',
      'spectre',
      'cl',
      'knn',
    ]);
    for (const m of printed.methods) expect(typeof m.f1).toBe('number');
    const report = JSON.parse(await readFile(join(out, 'report.json'), 'utf8'));
    expect(report.methods.ac.ids).toHaveLength(ds.ids.length);
    expect(report.methods.ac.scores).toHaveLength(ds.ids.length);
    const csv = (await readFile(join(out, 'suspicious.csv'), 'utf8')).trim().split('\n');
    expect(csv[0]).toBe('id,label,method,score');
    const flaggedAc = report.methods.ac.flagged.reduce((a: number, b: number) => a + b, 0);
    expect(csv.filter((l) => l.includes(',ac,'))).toHaveLength(flaggedAc);

    const cleaned = join(root, 'cleaned');
    const text = await run([
      'mitigate',
      '--data',
      data,
      '--scan',
      out,
      '--method',
      'ac',
      '--out',
      cleaned,
    ]);
    expect(text).toMatch(/records dropped/);
    const back = await readDatasetDir(cleaned);
    expect(back.dataset.ids.length).toBe(ds.ids.length - flaggedAc);

    // Several methods and no --method: refused.
    await expect(
      run(['mitigate', '--data', data, '--scan', out, '--out', join(root, 'x')]),
    ).rejects.toSatisfy((e) => isAntidoteError(e, 'INVALID_ARGUMENT'));
  });

  it('refuses a model whose input shape does not match the data', async () => {
    const other = join(root, 'other');
    const small = syntheticDataset(syntheticReps({ classes: 4, perClass: 20, dim: 8, seed: 3 }));
    await writeDatasetDir(other, small);
    await expect(
      run(['scan', '--data', other, '--model', modelDir, '--out', join(root, 'scan2')]),
    ).rejects.toSatisfy((e) => isAntidoteError(e, 'SHAPE_MISMATCH'));
  });
});
