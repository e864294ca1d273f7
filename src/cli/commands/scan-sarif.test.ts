import { mkdtempSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { beforeAll, describe, expect, it } from 'vitest';
import { writeDatasetDir } from '../../data/dataset-dir.js';
import { initEngine } from '../../engine/backend.js';
import { trainClassifier } from '../../engine/tf-classifier.js';
import { isAntidoteError } from '../../errors.js';
import { runProgram } from '../../testing/run-program.js';
import { sarifProblems } from '../../testing/sarif.js';
import { syntheticDataset, syntheticReps } from '../../testing/synthetic.js';
import { registerScanCommand } from './scan.js';

function run(args: string[]): Promise<string> {
  const program = new Command('antidote').exitOverride();
  registerScanCommand(program);
  return runProgram(program, args);
}

/** `antidote scan --sarif FILE`: the scan's findings as SARIF 2.1.0 beside report.json. */
describe('antidote scan --sarif', () => {
  const root = mkdtempSync(join(tmpdir(), 'antidote-scan-sarif-'));
  const data = join(root, 'poisoned');
  const modelDir = join(root, 'model');
  const s = syntheticReps({ classes: 3, perClass: 80, dim: 16, poison: 12, seed: 4 });
  const ds = { ...syntheticDataset(s), shape: [s.y.length, 4, 4, 1] };

  beforeAll(async () => {
    await initEngine();
    await writeDatasetDir(data, ds);
    const model = await trainClassifier(ds, { model: 'mlp', seed: 1, epochs: 3 });
    await model.save(modelDir);
    model.dispose();
  }, 120_000);

  it('writes one result per flagged record group, valid SARIF 2.1.0, and refuses to overwrite', async () => {
    const sarifFile = join(root, 'scan.sarif');
    const out = join(root, 'scan');
    await run([
      'scan',
      '--data',
      data,
      '--model',
      modelDir,
      '--out',
      out,
      '--sarif',
      sarifFile,
      '--quiet',
    ]);
    const report = JSON.parse(await readFile(join(out, 'report.json'), 'utf8'));
    const sarif = JSON.parse(await readFile(sarifFile, 'utf8'));
    expect(sarifProblems(sarif)).toEqual([]);
    const run0 = sarif.runs[0];
    expect(run0.tool.driver.rules.map((r: { id: string }) => r.id)).toEqual(
      report.decision.detectors.map((d: string) => `antidote/${d}`),
    );
    expect(run0.properties.verdict).toBe(report.verdict.verdict);
    expect(run0.results.length).toBeGreaterThan(0);
    const ids = new Set(
      run0.results.flatMap((r: { properties: { recordIds: string[] } }) => r.properties.recordIds),
    );
    expect([...ids].sort()).toEqual([...report.decision.flaggedIds].sort());
    for (const r of run0.results) {
      expect(r.level).toBe(report.verdict.verdict === 'review' ? 'warning' : r.level);
      // The dataset folder, relative to the working directory: no absolute path.
      expect(r.locations[0].physicalLocation.artifactLocation.uri).not.toMatch(/^\//);
    }
    writeFileSync(join(root, 'taken.sarif'), '{}');
    const refused = await run([
      'scan',
      '--data',
      data,
      '--model',
      modelDir,
      '--out',
      join(root, 'scan-2'),
      '--sarif',
      join(root, 'taken.sarif'),
    ]).catch((e: unknown) => e);
    expect(isAntidoteError(refused) && refused.code).toBe('ALREADY_EXISTS');
  }, 120_000);

  it('refuses an existing report directory before it reads anything', async () => {
    // The data does not exist: had the scan run first, the error would be about the data.
    const refused = await run([
      'scan',
      '--data',
      join(root, 'no-such-data'),
      '--model',
      modelDir,
      '--out',
      root,
    ]).catch((e: unknown) => e);
    expect(isAntidoteError(refused) && refused.code).toBe('ALREADY_EXISTS');
  });
});
