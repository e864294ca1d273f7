import { mkdtempSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { runAudit } from '../../audit/audit.js';
import { readDatasetDir, writeDatasetDir } from '../../data/dataset-dir.js';
import { loadDataset } from '../../data/load.js';
import { DEFAULT_SCAN_METHODS } from '../../defenses/scan.js';
import { initEngine } from '../../engine/backend.js';
import { TfClassifier, trainClassifier } from '../../engine/tf-classifier.js';
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

/** Runs a command with `--json` and parses what it prints. */
async function runJson(...args: string[]) {
  return JSON.parse(await run([...args, '--json']));
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
      'sca',
      'abl',
      'ln',
      'ct',
      'tt',
      'nc',
    ]);
    for (const m of printed.methods) expect(typeof m.f1).toBe('number');
    const report = JSON.parse(await readFile(join(out, 'report.json'), 'utf8'));
    expect(report.methods.ac.ids).toHaveLength(ds.ids.length);
    expect(report.methods.ac.scores).toHaveLength(ds.ids.length);
    const csv = (await readFile(join(out, 'suspicious.csv'), 'utf8')).trim().split('\n');
    // One row per record (no duplicate ids), one score column per detector.
    expect(csv[0]).toBe(
      'id,label,decision,flagged_by,suspicion,ac,ss,spectre,cl,knn,sca,abl,ln,ct,tt,nc',
    );
    const rows = csv.slice(1).map((l) => l.split(','));
    const ids = rows.map((r) => r[0]);
    expect(new Set(ids).size).toBe(ids.length);
    const methods = ['ac', 'ss', 'spectre', 'cl', 'knn', 'sca', 'abl', 'ln', 'ct', 'tt', 'nc'];
    const flaggedByAny = ds.ids.filter((_, i) =>
      methods.some((m) => report.methods[m].flagged[i] === 1),
    );
    expect([...ids].sort()).toEqual([...flaggedByAny].sort());
    const flaggedAc = report.methods.ac.flagged.reduce((a: number, b: number) => a + b, 0);
    expect(rows.filter((r) => r[3]?.split(';').includes('ac'))).toHaveLength(flaggedAc);
    // The decision column is the merged decision written in report.json.
    expect(rows.filter((r) => r[2] === '1').map((r) => r[0])).toEqual(
      expect.arrayContaining(report.decision.flaggedIds),
    );
    expect(rows.filter((r) => r[2] === '1')).toHaveLength(report.decision.flaggedIds.length);
    expect(report.decision.detectors).toEqual(methods);
    expect(printed.decision.flagged).toBe(report.decision.flaggedIds.length);

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

  it('flags the same records as the audit on the same data and model (one scan decision)', async () => {
    const out = join(root, 'scan-default');
    // No --method: the audit's default detectors, merged the audit's way.
    const printed = await runJson(
      'scan',
      '--data',
      data,
      '--model',
      modelDir,
      '--seed',
      '1',
      '--out',
      out,
    );
    expect(printed.methods.map((m: { method: string }) => m.method)).toEqual([
      ...DEFAULT_SCAN_METHODS,
    ]);
    const report = JSON.parse(await readFile(join(out, 'report.json'), 'utf8'));
    const model = await TfClassifier.load(modelDir);
    try {
      const audit = await runAudit({
        data: await loadDataset(data),
        model,
        seed: 1,
        vulnerability: false,
      });
      const auditFlagged = (audit.report.data as { scan: { flaggedIds: string[] } }).scan
        .flaggedIds;
      expect(auditFlagged.length).toBeGreaterThan(0);
      expect(report.decision.flaggedIds).toEqual(auditFlagged);
      expect(printed.decision.flagged).toBe(auditFlagged.length);
    } finally {
      model.dispose();
    }
    // The flagged set is the poison, mostly: the decision is not vacuous.
    const hits = report.decision.flaggedIds.filter((id: string) => poisonedIds.includes(id));
    expect(hits.length).toBeGreaterThan(report.decision.flaggedIds.length / 2);
    // mitigate applies the merged decision on request.
    const cleaned = join(root, 'cleaned-decision');
    const m = await runJson(
      'mitigate',
      '--data',
      data,
      '--scan',
      out,
      '--method',
      'decision',
      '--out',
      cleaned,
    );
    expect(m.dropped).toBe(report.decision.flaggedIds.length);
  }, 120_000);

  it('refuses a model whose input shape does not match the data', async () => {
    const other = join(root, 'other');
    const small = syntheticDataset(syntheticReps({ classes: 4, perClass: 20, dim: 8, seed: 3 }));
    await writeDatasetDir(other, small);
    await expect(
      run(['scan', '--data', other, '--model', modelDir, '--out', join(root, 'scan2')]),
    ).rejects.toSatisfy((e) => isAntidoteError(e, 'SHAPE_MISMATCH'));
  });
});

describe('antidote scan of 0–255 image records', () => {
  it('reads them on the [0, 1] scale with a notice: the same flagged set as [0, 1] data', async () => {
    await initEngine();
    const fixture = new URL('../../audit/fixtures/numpy-bars', import.meta.url).pathname;
    const { dataset } = await readDatasetDir(fixture);
    const bytes = dataset.x.map((v) => Math.round(v * 255));
    const unit = bytes.map((v) => v / 255);
    const root = mkdtempSync(join(tmpdir(), 'antidote-scan-range-'));
    await writeDatasetDir(join(root, 'bytes'), { ...dataset, x: bytes });
    await writeDatasetDir(join(root, 'unit'), { ...dataset, x: unit });
    const model = await trainClassifier(
      { ...dataset, x: unit },
      { model: 'mlp', seed: 1, epochs: 2 },
    );
    await model.save(join(root, 'model'));
    model.dispose();
    const scan = async (name: string) => {
      const out = join(root, `scan-${name}`);
      // Spectral signatures alone: on these 8×8 bars with a 2-epoch mlp its 5-SD rule flags
      // records, so the two flagged sets compared below are not empty (the default decision,
      // calibrated since issue 16, finds nothing strong with this weak model).
      await run([
        'scan',
        '--data',
        join(root, name),
        '--model',
        join(root, 'model'),
        '--method',
        'ss',
        '--out',
        out,
      ]);
      return JSON.parse(await readFile(join(out, 'report.json'), 'utf8')).decision.flaggedIds;
    };
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      const fromBytes = await scan('bytes');
      expect(stderr.mock.calls.map((c) => String(c[0]))).toEqual([
        expect.stringMatching(/^notice: .*bytes: pixel values span 0–255, not \[0, 1\]/),
      ]);
      stderr.mockClear();
      expect(await scan('unit')).toEqual(fromBytes);
      expect(fromBytes.length).toBeGreaterThan(0);
      expect(stderr).not.toHaveBeenCalled();
    } finally {
      stderr.mockRestore();
    }
  }, 120_000);
});
