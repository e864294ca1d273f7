import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readDatasetDir, writeDatasetDir } from '../data/dataset-dir.js';
import { loadDataset } from '../data/load.js';
import { recordViews } from '../data/record-view.js';
import { generateSigningKeyPair, loadPrivateKey, writeSigningKeyPair } from '../integrity/keys.js';
import { signDirectory } from '../integrity/model-signing.js';
import { commitVersion } from '../integrity/versioning.js';
import { SqliteCatalogueStore } from '../registry/sqlite-store.js';
import { REPO_ROOT } from '../testing/import-graph.js';
import { validateJsonSchema } from '../testing/json-schema.js';
import { runCli } from '../testing/run-cli.js';
import { sarifProblems } from '../testing/sarif.js';
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
      methods: string[];
      flaggedIds: string[];
      perClass: { className: string; flagged: number }[];
    };
    // An audit of images runs the scan's defaults and trigger reversal (nc).
    expect(scan.methods).toContain('trigger-reversal');
    const found = PLANTED.filter((id) => scan.flaggedIds.some((f) => Number(f) === Number(id)));
    expect(found.length / PLANTED.length).toBeGreaterThanOrEqual(0.9);
    // The poison carries label 0 ("horizontal"): the findings concentrate there.
    expect(scan.perClass[0]?.flagged).toBe(scan.flaggedIds.length);
    expect(scan.flaggedIds.length / PLANTED.length).toBeLessThan(2.5);
    expect(r.passed).toBe(false);
    expect(r.report.verdict).toBe('fail');
    expect(r.failures[0]).toMatch(/flagged \d+ records/);
    // The vulnerability section has no status: on these 8×8 bars the pattern trigger already
    // reaches 82% ASR on the clean victim (and the poisoned victims lose 30+ points of
    // accuracy), so the assessment states a limitation instead of a rate (issue 16).
    expect(r.report.sections.map((s) => s.status)).toEqual([
      'fail',
      'pass',
      'fail',
      undefined,
      undefined,
    ]);
    const v = r.report.data.vulnerability as {
      limitations: string[];
      curves: { attack: string; asr50Rate: number | null; asr90Rate: number | null }[];
    };
    expect(v.limitations).toEqual([
      expect.stringMatching(/trigger already reaches [\d.]+% ASR on the clean victim/),
    ]);
    expect(v.curves.map((c) => [c.asr50Rate, c.asr90Rate])).toEqual([
      [null, null],
      [null, null],
    ]);
    expect(r.report.sections[3]?.paragraphs?.[1]).toMatch(/^Limitation — no poison rate is stated/);
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
      // Activation clustering alone: its REVIEW (it finds the planted bars, nothing confirms
      // them) is accepted, as this test is about the signature (issue 16: a REVIEW fails the
      // policy unless allowed). The default detectors confirm the bars (trigger transfer): FAIL.
      methods: ['ac'],
      policy: { maxFlaggedShare: 1, allowReview: true },
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

  it('reads 0–255 image records as [0, 1] with a notice: the same flagged set as the [0, 1] data', async () => {
    const { dataset } = await readDatasetDir(FIXTURE);
    // The same pixels twice: quantised to bytes, stored as 0–255 and as byte/255.
    const bytes = dataset.x.map((v) => Math.round(v * 255));
    const unit = bytes.map((v) => v / 255);
    const root = mkdtempSync(join(tmpdir(), 'antidote-audit-range-'));
    await writeDatasetDir(join(root, 'bytes'), { ...dataset, x: bytes });
    await writeDatasetDir(join(root, 'unit'), { ...dataset, x: unit });
    const audit = async (dir: string) =>
      runAudit({ data: await loadDataset(join(root, dir)), seed: 1, vulnerability: false });
    const [b, u] = [await audit('bytes'), await audit('unit')];
    const flagged = (r: typeof b) => (r.report.data.scan as { flaggedIds: string[] }).flaggedIds;
    expect(flagged(b).length).toBeGreaterThan(0);
    expect(flagged(b)).toEqual(flagged(u));
    expect(b.suspiciousCsv).toBe(u.suspiciousCsv);
    expect(u.notices).toEqual([]);
    expect(b.notices).toHaveLength(1);
    expect(b.notices[0]).toMatch(/pixel values span 0–255, not \[0, 1\]: .*divided by 255/);
    expect(b.report.data.notices).toEqual(b.notices);
    expect(b.report.sections[0]?.paragraphs?.[0]).toBe(`Notice: ${b.notices[0]}.`);
  });

  it('gives the same report for the same data and seed, apart from the date of its clock', async () => {
    const data = await loadDataset(FIXTURE);
    const audit = (day: number) =>
      runAudit({
        data,
        seed: 1,
        vulnerability: false,
        operator: 'auditor',
        clock: () => new Date(Date.UTC(2026, 0, day)),
      });
    const [a, b, c] = [await audit(1), await audit(1), await audit(2)];
    expect(JSON.stringify(b.report)).toBe(JSON.stringify(a.report));
    expect(c.report.run.date).toBe('2026-01-02T00:00:00.000Z');
    expect(JSON.stringify({ ...c.report, run: { ...c.report.run, date: a.report.run.date } })).toBe(
      JSON.stringify(a.report),
    );
    expect(JSON.stringify(b.sarif)).toBe(JSON.stringify(a.sarif));
  });

  it('the CLI writes report.html, report.json and suspicious.csv and exits by policy', () => {
    const out = join(mkdtempSync(join(tmpdir(), 'antidote-audit-')), 'report');
    const sarifFile = `${out}.sarif`;
    // `--method ac`: activation clustering alone finds the bars and nothing confirms them, the
    // REVIEW path this test follows (the default detectors confirm them: FAIL, tested above).
    const r = runCli([
      'audit',
      '--data',
      FIXTURE,
      '--method',
      'ac',
      '--out',
      out,
      '--no-vulnerability',
      '--json',
      '--sarif',
      sarifFile,
      '--operator',
      'ci-bot',
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/\[GATE_FAILED\]/);
    const text = readFileSync(join(out, 'report.json'), 'utf8');
    const json = JSON.parse(text);
    expect(json.verdict).toBe('fail');
    // report.json conforms to the published JSON Schema; verdict and reason come first.
    const schema = JSON.parse(
      readFileSync(join(REPO_ROOT, 'schemas', 'audit-report.schema.json'), 'utf8'),
    );
    expect(validateJsonSchema(schema, json)).toEqual([]);
    expect(Object.keys(json).slice(0, 3)).toEqual(['schema', 'verdict', 'reason']);
    expect(json.reason).toMatch(/^the scan flagged \d+ records/);
    // Run record: operator, version, the dataset by relative path and digest; no absolute path.
    expect(json.run.operator).toBe('ci-bot');
    expect(json.run.inputs).toEqual([
      {
        role: 'dataset',
        path: relative(REPO_ROOT, FIXTURE),
        digest: expect.stringMatching(/^sha256:[0-9a-f]{64}$/),
      },
    ]);
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    for (const doc of [text, html]) {
      expect(doc).not.toContain(REPO_ROOT);
      expect(doc).not.toContain(join(tmpdir(), 'antidote-audit-'));
    }
    // An 8×8 dataset directory, no signature: the recommendation names this directory.
    expect(json.sections.at(-1).bullets).toContainEqual(
      `Sign this dataset (\`antidote sign ${relative(REPO_ROOT, FIXTURE)} --key KEY\`) and pass its public key to every audit (\`--key\`), so tampering fails the audit.`,
    );
    // SARIF: valid 2.1.0, one result per flagged record group, levels from the scan verdict.
    const sarif = JSON.parse(readFileSync(sarifFile, 'utf8'));
    expect(sarifProblems(sarif)).toEqual([]);
    const results = sarif.runs[0].results as {
      level: string;
      properties: { recordIds: string[] };
    }[];
    expect(results.length).toBeGreaterThan(0);
    // The scan says REVIEW here (see below): warnings, no errors.
    expect(new Set(results.map((x) => x.level))).toEqual(new Set(['warning']));
    const grouped = new Set(results.flatMap((x) => x.properties.recordIds));
    expect([...grouped].sort()).toEqual([...json.data.scan.flaggedIds].sort());
    // An existing SARIF file is not replaced without --force.
    const again = runCli(['audit', '--data', FIXTURE, '--out', `${out}-x`, '--sarif', sarifFile]);
    expect(again.code).toBe(73);
    expect(again.stderr).toMatch(/\[ALREADY_EXISTS\].*--force/);
    // One CSV row per flagged record, in the report's set.
    const csv = readFileSync(join(out, 'suspicious.csv'), 'utf8').trimEnd().split('\n');
    expect(csv[0]).toBe('id,label,flagged_by,suspicion');
    const ids = csv.slice(1).map((row) => row.split(',')[0]);
    expect(ids.length).toBe(json.data.scan.flaggedIds.length);
    expect([...ids].sort()).toEqual([...json.data.scan.flaggedIds].sort());
    expect(JSON.parse(r.stdout).suspicious).toBe(join(out, 'suspicious.csv'));
    expect(readFileSync(join(out, 'report.html'), 'utf8')).toContain(
      '<h1>Poisoning audit of numpy-bars</h1>',
    );
    const lenient = join(out, '..', 'policy.json');
    writeFileSync(lenient, JSON.stringify({ maxFlaggedShare: 0.5 }));
    // Issue 16: the scan's REVIEW (one detector's strong finding) never exits 0 silently: the
    // default run above fails on it too; a policy may accept it (`allowReview`, --allow-review).
    expect(JSON.parse(r.stdout).reason).toMatch(
      /^The scan says REVIEW: class "horizontal" \(ac, strength/,
    );
    expect(JSON.parse(r.stdout).failures).toContainEqual(
      expect.stringMatching(/^the scan needs review \(--allow-review to accept\)/),
    );
    const ok = runCli([
      'audit',
      '--data',
      FIXTURE,
      '--method',
      'ac',
      '--out',
      `${out}-2`,
      '--no-vulnerability',
      '--policy',
      lenient,
      '--allow-review',
    ]);
    expect(ok.stdout.split('\n')[0]).toMatch(/^REVIEW: class "horizontal" \(ac, strength/);
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
