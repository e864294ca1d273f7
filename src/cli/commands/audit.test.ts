import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadDataset } from '../../data/load.js';
import { Rng } from '../../data/rng.js';
import { DEFAULT_SCAN_METHODS, scanDataset } from '../../defenses/scan.js';
import { loadAnyModel } from '../../engine/model.js';
import { buildProgram } from '../program.js';
import { runProgram } from '../test-utils/run-program.js';

const root = mkdtempSync(join(tmpdir(), 'antidote-audit-models-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const at = (name: string) => join(root, name);
const run = (args: string[]) => runProgram(buildProgram(), args);

/** A credit-like CSV: `bad` when the amount is high. */
function creditCsv(path: string, n: number, seed: number): void {
  const rng = new Rng(seed);
  const lines = ['amount,age,score,label'];
  for (let i = 0; i < n; i++) {
    const amount = rng.normal(5, 2);
    const age = rng.normal(40, 10);
    const score = rng.normal(0, 1);
    const bad = amount + rng.normal(0, 0.7) > 5.5;
    lines.push(
      [amount.toFixed(3), age.toFixed(1), score.toFixed(3), bad ? 'bad' : 'good'].join(','),
    );
  }
  writeFileSync(path, `${lines.join('\n')}\n`);
}

interface Section {
  id: string;
  status?: string;
  paragraphs?: string[];
}

interface AuditJson {
  verdict: string;
  sections: Section[];
  data: { scan: { flagged: number; flaggedIds: string[] }; skipped?: { stage: string }[] };
}

/**
 * Audits `data` with the model in `modelDir` from the command line (a policy that never fails,
 * so that the command completes), and checks the report against the scan decision run directly
 * on the model's features: same flagged records, and a verdict and scan status that follow.
 */
async function auditAgainstScan(data: string, modelDir: string, out: string) {
  const policy = join(out, '..', `${out.split('/').pop()}-policy.json`);
  writeFileSync(policy, JSON.stringify({ failOn: 'never' }));
  const printed = JSON.parse(
    await run(
      ['audit', '--data', data, '--model', modelDir, '--out', out, '--policy', policy].concat([
        '--json',
      ]),
    ),
  );
  const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as AuditJson;
  expect(readFileSync(join(out, 'report.html'), 'utf8')).toContain('<h1>Poisoning audit of');
  expect(printed.verdict).toBe(report.verdict);

  const model = await loadAnyModel(modelDir);
  if (model.domain === 'image') throw new Error('expected a text or tabular model');
  try {
    const features = model.model.featurize((await loadDataset(data)).dataset);
    const scan = await scanDataset(features, model.model.classifier, {
      methods: DEFAULT_SCAN_METHODS,
      seed: 1,
    });
    const flaggedIds = features.ids.filter((_, i) => scan.flagged[i]);
    expect(report.data.scan.flaggedIds).toEqual(flaggedIds);
    const share = flaggedIds.length / features.ids.length;
    const expected = share > 0.005 ? 'fail' : flaggedIds.length > 0 ? 'warn' : 'pass';
    expect(report.verdict).toBe(expected);
    const section = (id: string) => report.sections.find((s) => s.id === id);
    expect(section('scan')?.status).toBe(expected);
    expect(section('summary')?.status).toBe(report.verdict);
  } finally {
    model.model.dispose();
  }
  // The simulated attacks train image models: skipped, and said so.
  expect(report.data.skipped?.map((s) => s.stage)).toEqual(['vulnerability']);
  const vulnerability = report.sections.find((s) => s.id === 'vulnerability');
  expect(vulnerability?.status).toBeUndefined();
  expect(vulnerability?.paragraphs?.[0]).toMatch(/^Skipped: the simulated attacks train image/);
  return report;
}

describe('antidote audit with text and tabular models', () => {
  it('audits backdoored sentiment sentences with a text model', async () => {
    await run([
      'attack',
      'text-backdoor',
      '--data',
      'sentiment:train:300',
      '--trigger-words',
      'cf',
      '--rate',
      '0.1',
      '--target',
      'positive',
      '--seed',
      '2',
      '--out',
      at('text'),
    ]);
    await run(['train', '--data', at('text'), '--out', at('text-model'), '--quiet']);
    const report = await auditAgainstScan(at('text'), at('text-model'), at('text-audit'));
    expect(report.sections.map((s) => s.id)).toEqual([
      'summary',
      'integrity',
      'scan',
      'vulnerability',
      'recommendations',
    ]);
  });

  it('audits a backdoored credit table with a small tabular model, and finds the poison', async () => {
    creditCsv(at('credit.csv'), 400, 1);
    await run([
      'attack',
      'tabular-backdoor',
      '--data',
      at('credit.csv'),
      '--trigger',
      'age=99,score=4',
      '--mode',
      'source-to-target',
      '--source',
      'bad',
      '--target',
      'good',
      '--rate',
      '0.08',
      '--out',
      at('tab'),
    ]);
    await run([
      'train',
      '--data',
      at('tab'),
      '--model',
      'mlp',
      '--epochs',
      '40',
      '--out',
      at('tab-model'),
      '--quiet',
    ]);
    const report = await auditAgainstScan(at('tab'), at('tab-model'), at('tab-audit'));
    expect(report.data.scan.flagged).toBeGreaterThan(0);
    expect(report.verdict).toBe('fail');
  });

  it('refuses a text model given tabular records', async () => {
    await expect(
      run(['audit', '--data', at('tab'), '--model', at('text-model'), '--out', at('bad')]),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });
});
