import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readDatasetDir, writeDatasetDir } from '../data/dataset-dir.js';
import { loadDataset } from '../data/load.js';
import { recordViews } from '../data/record-view.js';
import { generateSigningKeyPair, loadPrivateKey, writeSigningKeyPair } from '../integrity/keys.js';
import { signDirectory } from '../integrity/model-signing.js';
import { commitVersion } from '../integrity/versioning.js';
import { SqliteCatalogueStore } from '../registry/sqlite-store.js';
import { runCli } from '../testing/run-cli.js';
import { runAudit } from './audit.js';

/** A dataset directory written by NumPy (np.savez + dataset.json), with 30 planted backdoor records. */
const FIXTURE = new URL('./fixtures/numpy-bars', import.meta.url).pathname;
const PLANTED = (
  JSON.parse(
    readFileSync(new URL('./fixtures/numpy-bars.planted.json', import.meta.url), 'utf8'),
  ) as number[]
).map(String);

function copyFixture(): string {
  const dir = join(mkdtempSync(join(tmpdir(), 'antidote-audit-')), 'numpy-bars');
  cpSync(FIXTURE, dir, { recursive: true });
  return dir;
}

describe('runAudit on a dataset directory written by NumPy', () => {
  it('finds the planted backdoor records and fails the default policy', async () => {
    const data = await loadDataset(FIXTURE);
    const r = await runAudit({
      data,
      seed: 1,
      vulnerability: { records: 300, backdoorRates: [0.02, 0.1], flipRates: [0.2] },
    });
    const scan = r.report.data.scan as {
      flaggedIds: string[];
      perClass: { className: string; flagged: number }[];
    };
    const found = PLANTED.filter((id) => scan.flaggedIds.some((f) => Number(f) === Number(id)));
    expect(found.length / PLANTED.length).toBeGreaterThanOrEqual(0.9);
    // The poison carries label 0 ("horizontal"): the findings concentrate there.
    expect(scan.perClass[0]?.flagged).toBe(scan.flaggedIds.length);
    expect(scan.flaggedIds.length / PLANTED.length).toBeLessThan(2.5);
    expect(r.passed).toBe(false);
    expect(r.report.verdict).toBe('fail');
    expect(r.failures[0]).toMatch(/flagged \d+ records/);
    expect(r.report.sections.map((s) => s.status)).toEqual([
      'fail',
      'pass',
      'fail',
      'pass',
      undefined,
    ]);
    expect(r.report.sections.map((s) => s.id)).toEqual([
      'summary',
      'integrity',
      'scan',
      'vulnerability',
      'recommendations',
    ]);
    const integrity = r.report.data.integrity as {
      rootDigest: string;
      signature: { present: boolean };
    };
    expect(integrity.rootDigest).toMatch(/^[0-9a-f]{64}$/);
    expect(integrity.signature.present).toBe(false);
  });

  it('verifies a signature, and reports a tampered record and label changes since the committed version', async () => {
    const dir = copyFixture();
    const project = join(dir, '..');
    const keyPrefix = join(project, 'k');
    await writeSigningKeyPair(keyPrefix, generateSigningKeyPair());
    const { dataset } = await readDatasetDir(dir);
    const store = SqliteCatalogueStore.open(project);
    try {
      await commitVersion(dir, store, store.objects, {
        name: 'numpy-bars',
        message: 'v1',
        records: recordViews(dataset),
      });
    } finally {
      store.close();
    }
    await signDirectory(dir, await loadPrivateKey(`${keyPrefix}.key`), {
      records: recordViews(dataset),
    });
    const signedOk = await runAudit({
      data: await loadDataset(dir),
      publicKeyPath: `${keyPrefix}.pub`,
      seed: 1,
      vulnerability: false,
      project,
      policy: { maxFlaggedShare: 1 },
    });
    expect(
      (signedOk.report.data.integrity as { signature: { verified: boolean } }).signature.verified,
    ).toBe(true);
    expect(signedOk.passed).toBe(true);

    // An attacker relabels two records: the signature breaks and the catalogue diff shows the flips.
    const y = dataset.y.slice();
    y[1] = 0;
    y[2] = 0;
    const rewritten = join(project, 'rewritten');
    await writeDatasetDir(rewritten, { ...dataset, y });
    cpSync(join(rewritten, 'data.npz'), join(dir, 'data.npz'));
    const tampered = await runAudit({
      data: await loadDataset(dir),
      publicKeyPath: `${keyPrefix}.pub`,
      seed: 1,
      vulnerability: false,
      project,
      policy: { maxFlaggedShare: 1 },
    });
    const integrity = tampered.report.data.integrity as {
      signature: { verified: boolean };
      previous: { diff: { records: { labelChanged: { id: string }[] } } };
    };
    expect(integrity.signature.verified).toBe(false);
    expect(integrity.previous.diff.records.labelChanged.map((c) => c.id).sort()).toEqual(
      [dataset.ids[1], dataset.ids[2]].sort(),
    );
    expect(tampered.passed).toBe(false);
    expect(tampered.failures).toContain('the dataset signature does not verify');
  });

  it('the CLI writes report.html and report.json and exits by policy', () => {
    const out = join(mkdtempSync(join(tmpdir(), 'antidote-audit-')), 'report');
    const r = runCli(['audit', '--data', FIXTURE, '--out', out, '--no-vulnerability', '--json']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/\[GATE_FAILED\]/);
    const json = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
    expect(json.verdict).toBe('fail');
    expect(readFileSync(join(out, 'report.html'), 'utf8')).toContain(
      '<h1>Poisoning audit of numpy-bars</h1>',
    );
    const lenient = join(out, '..', 'policy.json');
    writeFileSync(lenient, JSON.stringify({ maxFlaggedShare: 0.5 }));
    const ok = runCli([
      'audit',
      '--data',
      FIXTURE,
      '--out',
      `${out}-2`,
      '--no-vulnerability',
      '--policy',
      lenient,
    ]);
    expect(ok.code).toBe(0);
    const bad = runCli([
      'audit',
      '--data',
      FIXTURE,
      '--out',
      `${out}-3`,
      '--policy',
      join(out, 'report.json'),
    ]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/\[INVALID_CONFIG\]/);
  });
});
