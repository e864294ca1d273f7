import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadDataset } from '../../data/load.js';
import { tabularScanContext } from '../../defenses/feature-trigger-discovery.js';
import { auditScanMethods, scanDataset } from '../../defenses/scan.js';
import { textScanContext } from '../../defenses/text-scan-context.js';
import { loadModel } from '../../engine/model.js';
import { runProgram } from '../../testing/run-program.js';
import { Rng } from '../../util/rng.js';
import { buildProgram } from '../program.js';

const root = mkdtempSync(join(tmpdir(), 'antidote-audit-models-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const at = (name: string) => join(root, name);
const run = async (args: string[]) => runProgram(await buildProgram(), args);

/** Loan applications: approved ones earn more and owe less; `noise` carries no signal. */
function loansCsv(path: string, n: number, seed: number): void {
  const rng = new Rng(seed);
  const rows = ['income,debt,noise,label'];
  for (let i = 0; i < n; i++) {
    const approved = rng.next() < 0.5;
    const fields = [rng.normal(approved ? 6 : 4, 1), rng.normal(approved ? 1 : 2, 0.5), rng.next()];
    rows.push([...fields.map((v) => v.toFixed(3)), approved ? 'approved' : 'refused'].join(','));
  }
  writeFileSync(path, `${rows.join('\n')}\n`);
}

/** Runs the command line `words` (split at spaces: paths here have none). */
const cli = (words: string) => run(words.split(' '));

interface Section {
  id: string;
  status?: string;
  paragraphs?: string[];
}

interface AuditJson {
  verdict: string;
  sections: Section[];
  data: {
    scan: { methods: string[]; flagged: number; flaggedIds: string[] };
    skipped?: { stage: string }[];
  };
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

  const model = await loadModel(modelDir);
  if (model.capabilities.pixels) throw new Error('expected a text or tabular model');
  try {
    const records = (await loadDataset(data)).dataset;
    const features = model.featurize(records);
    // The audit's default detectors are the scan's: keyword discovery joins for a text model,
    // feature trigger discovery for a tabular one (and trigger transfer, for images, leaves).
    const context = { ...textScanContext(model, records), ...tabularScanContext(model) };
    const scan = await scanDataset(features, model.classifier, {
      methods: auditScanMethods(context),
      seed: 1,
      context,
    });
    expect(report.data.scan.methods).toEqual(scan.methods);
    const flaggedIds = features.ids.filter((_, i) => scan.flagged[i]);
    expect(report.data.scan.flaggedIds).toEqual(flaggedIds);
    const share = flaggedIds.length / features.ids.length;
    // The audit policy fails above 0.5% flagged; below it the scan's verdict stands (a REVIEW
    // also when a detector flags records on its own that the merged decision does not keep).
    const expected =
      share > 0.005 || scan.verdict.verdict === 'fail'
        ? 'fail'
        : flaggedIds.length > 0 || scan.verdict.verdict === 'review'
          ? 'review'
          : 'pass';
    expect(report.verdict).toBe(expected);
    const section = (id: string) => report.sections.find((s) => s.id === id);
    expect(section('scan')?.status).toBe(expected);
    expect(section('summary')?.status).toBe(report.verdict);
  } finally {
    model.dispose();
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
    const text = at('text');
    await cli(
      `attack text-backdoor --data sentiment:train:300 --trigger-words cf --rate 0.1 --target positive --seed 2 --out ${text}`,
    );
    await cli(`train --data ${text} --out ${at('text-model')} --quiet`);
    const report = await auditAgainstScan(text, at('text-model'), at('text-audit'));
    // Keyword discovery runs in the audit of a text model, as in its scan, and the backdoor is
    // not passed.
    expect(report.data.scan.methods).toEqual([
      'activation-clustering',
      'spectral-signatures',
      'arbitrary-labels',
      'keyword-discovery',
    ]);
    expect(report.verdict).not.toBe('pass');
    // The sentiment records carry their sources (amazon, imdb, yelp): the Sources section follows.
    expect(report.sections.map((s) => s.id)).toEqual([
      'summary',
      'integrity',
      'scan',
      'sources',
      'vulnerability',
      'recommendations',
    ]);
  });

  it('audits a backdoored loans table with a small tabular model, and finds the poison', async () => {
    loansCsv(at('loans.csv'), 400, 1);
    const tab = at('tab');
    await cli(
      `attack tabular-backdoor --data ${at('loans.csv')} --trigger noise=5 --target approved --rate 0.08 --out ${tab}`,
    );
    await cli(`train --data ${tab} --model mlp --epochs 40 --out ${at('tab-model')} --quiet`);
    const report = await auditAgainstScan(tab, at('tab-model'), at('tab-audit'));
    expect(report.data.scan.flagged).toBeGreaterThan(0);
    expect(report.verdict).toBe('fail');
  });

  it('refuses a text model given tabular records', async () => {
    await expect(
      run(['audit', '--data', at('tab'), '--model', at('text-model'), '--out', at('bad')]),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });
});

describe('antidote audit with an ONNX model', () => {
  it('scans in the model’s NCHW layout and shows the records as loaded (HWC images)', async () => {
    const onnx = join(import.meta.dirname, '..', '..', 'engine', 'onnx', 'fixtures', 'cnn.onnx');
    const out = at('onnx-audit');
    const policy = at('onnx-policy.json');
    writeFileSync(policy, JSON.stringify({ failOn: 'never' }));
    // The scan's defaults without trigger reversal (nc), which the layout does not concern and
    // which costs most of the audit on this model (run twice here: the CLI, then in process).
    const methods = auditScanMethods().filter((m) => m !== 'nc');
    expect(methods.length).toBeGreaterThan(2);
    await cli(
      `audit --data mnist:test:300 --model ${onnx} --method ${methods.join(',')} --out ${out} --policy ${policy} --quiet`,
    );
    const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as AuditJson;
    const model = await loadModel(onnx);
    try {
      const features = model.featurize((await loadDataset('mnist:test:300')).dataset);
      expect(features.shape).toEqual([300, 1, 28, 28]);
      const scan = await scanDataset(features, model.classifier, {
        methods,
        seed: 1,
      });
      expect(report.data.scan.flaggedIds).toEqual(features.ids.filter((_, i) => scan.flagged[i]));
    } finally {
      model.dispose();
    }
    // The simulated attacks ran on the HWC records (an image model), not on the NCHW features.
    expect(report.data.skipped ?? []).toEqual([]);
    const v = (report.data as { vulnerability?: { trainRecords: number; limitations: string[] } })
      .vulnerability;
    expect(v?.trainRecords).toBe(225);
    // 225 training records of 10 digits: too few per class for a poison rate (issue 16), so the
    // section states the limitation and has no status (not assessed).
    expect(v?.limitations).toEqual([
      expect.stringMatching(/^the smallest class has only \d+ training records \(fewer than 50\)/),
    ]);
    const section = report.sections.find((s) => s.id === 'vulnerability');
    expect(section).toBeDefined();
    expect(section?.status).toBeUndefined();
    // A hang guard, not a speed check (the audit and a scan, both on the ONNX model).
  }, 120_000);
});
