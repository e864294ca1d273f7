import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeDatasetDir } from '../data/dataset-dir.js';
import { loadDataset, tabularMeta } from '../data/load.js';
import { scanDataset } from '../defenses/scan.js';
import { initEngine } from '../engine/backend.js';
import { FeatureModel } from '../engine/feature-model-io.js';
import { loadModel } from '../engine/model.js';
import { CREDIT_COLUMNS, creditTable } from '../testing/feature-data.js';
import { gatePolicyFile } from '../testing/gate-policy-file.js';
import { type GateCheck, runGate } from './gate.js';
import { ModelRegistry } from './model-registry.js';

/**
 * The deployment gate on text and tabular models: the scan and accuracy checks run in the
 * model's own representation, and the image-space probes (STRIP, Neural Cleanse) are not run,
 * failed and said so, never passed unnoticed.
 */

const COLUMNS = CREDIT_COLUMNS;

/** Accuracy of the model saved in `dir` on the raw records of `spec`, through the library. */
async function libraryAccuracy(dir: string, spec: string): Promise<number> {
  const test = (await loadDataset(spec)).dataset;
  const model = await loadModel(dir);
  try {
    const pred = await model.predict(test);
    return pred.reduce((a, p, i) => a + (p === test.y[i] ? 1 : 0), 0) / test.y.length;
  } finally {
    model.dispose();
  }
}

/** Records flagged by the scan decision run directly on the model's features. */
async function libraryFlagged(dir: string, spec: string, methods: string[]): Promise<number> {
  const model = await loadModel(dir);
  try {
    const features = model.featurize((await loadDataset(spec)).dataset);
    const scan = await scanDataset(features, model.classifier, { methods, seed: 0 });
    return scan.flagged.reduce((a, b) => a + b, 0);
  } finally {
    model.dispose();
  }
}

const byName = (checks: readonly GateCheck[], name: string) => {
  const c = checks.find((x) => x.name === name);
  if (!c) throw new Error(`no ${name} check in ${checks.map((x) => x.name).join(', ')}`);
  return c;
};

describe('deployment gate on text and tabular models', () => {
  let root: string;
  let reg: ModelRegistry;
  beforeAll(async () => {
    await initEngine();
    root = await mkdtemp(join(tmpdir(), 'antidote-gate-models-'));
    reg = ModelRegistry.open(join(root, 'project'));
  });
  afterAll(async () => {
    reg?.close();
    await rm(root, { recursive: true, force: true });
  });

  /** Runs the gate on `ref` with the policy `body` (not recorded). */
  const gate = async (ref: string, body: unknown) =>
    runGate(reg, ref, await gatePolicyFile(root, body), { record: false });

  it('gates a text model: scan and accuracy in its feature space, image probes not run', async () => {
    const train = 'sentiment:train:300';
    const test = 'sentiment:test:60';
    for (const [name, epochs] of [
      ['good', 6],
      ['weak', 1],
    ] as const) {
      const m = await FeatureModel.train(
        { dataset: (await loadDataset(train)).dataset },
        { seed: 1, epochs, vectorizer: { minDocFreq: 1 } },
      );
      await m.save(join(root, name));
      m.dispose();
    }
    const good = await reg.register(join(root, 'good'), { name: 'reviews' });
    reg.recordGateResult(good.version.id, { passed: true, policyDigest: 'test', result: {} });
    await reg.promote(good.version.id, { actor: 'test' });
    const weak = await reg.register(join(root, 'weak'), { name: 'reviews' });

    // Thresholds that pass: what is checked is that each check runs, and on what.
    const scan = {
      data: train,
      methods: ['ac', 'ss'],
      seed: 0,
      maxFlaggedShare: 1,
      maxSuspiciousClasses: 2,
    };
    const expected = await libraryAccuracy(join(root, 'weak'), test);
    const productionAccuracy = await libraryAccuracy(join(root, 'good'), test);
    const r = await gate(weak.version.id, {
      version: 1,
      scan,
      accuracy: { testSet: test, min: 0.01, maxDrop: 1 },
      backdoorProbe: {
        strip: { clean: test, probe: test },
        neuralCleanse: { clean: test },
      },
    });
    expect(r.checks.map((c) => c.name)).toEqual([
      'scan',
      'accuracy',
      'accuracy-drop',
      'backdoor-probe',
      'neural-cleanse',
    ]);

    // The scan ran on the 300 records in the model's feature space, as the library scans them.
    const scanned = byName(r.checks, 'scan');
    const details = scanned.details as {
      methods: Record<string, { records: number }>;
      decision: { flagged: number };
    };
    expect(details.methods.ac?.records).toBe(300);
    expect(details.methods.ss?.records).toBe(300);
    expect(details.decision.flagged).toBe(
      await libraryFlagged(join(root, 'weak'), train, ['ac', 'ss']),
    );
    expect(scanned.reason).not.toMatch(/could not run/);

    // Accuracy of the raw texts, as the library predicts them; and against production.
    const acc = byName(r.checks, 'accuracy');
    expect(acc.passed).toBe(true);
    expect(acc.details.accuracy).toBeCloseTo(expected, 10);
    const drop = byName(r.checks, 'accuracy-drop');
    expect(drop.passed).toBe(true);
    expect(drop.details.production).toBe(good.version.id);
    expect(drop.details.productionAccuracy).toBeCloseTo(productionAccuracy, 10);

    // The image-space probes: not run, failed (default deny) and said so.
    for (const [name, method] of [
      ['backdoor-probe', 'STRIP'],
      ['neural-cleanse', 'Neural Cleanse'],
    ] as const) {
      const c = byName(r.checks, name);
      expect(c.passed).toBe(false);
      expect(c.reason).toMatch(
        new RegExp(`^not run: ${method} works on image pixels, and the model is a text model`),
      );
      expect(c.details).toMatchObject({ skipped: true, domain: 'text', kind: 'tfidf-logistic' });
    }
    expect(r.passed).toBe(false);

    // Without the probes, the same model passes the gate.
    // (allowReview: SS alone flags a few records on weak evidence, a REVIEW with no strong finding.)
    const passing = await gate(weak.version.id, {
      version: 1,
      scan: { ...scan, allowReview: true },
      accuracy: { testSet: test, min: 0.01 },
    });
    expect(passing.checks.map((c) => [c.name, c.passed])).toEqual([
      ['scan', true],
      ['accuracy', true],
    ]);
    expect(passing.passed).toBe(true);
  }, 180_000);

  it('gates a tabular model on a table with its columns', async () => {
    const meta = tabularMeta(COLUMNS);
    await writeDatasetDir(join(root, 'credit-train'), creditTable(240, 1), { meta });
    await writeDatasetDir(join(root, 'credit-test'), creditTable(60, 2), { meta });
    const trainData = await loadDataset(join(root, 'credit-train'));
    expect(trainData.columns).toHaveLength(3);
    const m = await FeatureModel.train(
      { dataset: trainData.dataset, columns: COLUMNS },
      { kind: 'mlp', seed: 1, epochs: 20 },
    );
    await m.save(join(root, 'credit-model'));
    m.dispose();
    const { version } = await reg.register(join(root, 'credit-model'), { name: 'credit' });
    expect(version.info).toMatchObject({ domain: 'tabular', arch: 'mlp' });

    const expected = await libraryAccuracy(join(root, 'credit-model'), join(root, 'credit-test'));
    // Better than the majority class: a gate reading the columns wrongly would not get here.
    expect(expected).toBeGreaterThan(0.7);
    const r = await gate(version.id, {
      version: 1,
      scan: {
        data: join(root, 'credit-train'),
        methods: ['ac'],
        maxFlaggedShare: 1,
        maxSuspiciousClasses: 2,
      },
      accuracy: { testSet: join(root, 'credit-test'), min: 0.7 },
      backdoorProbe: {
        strip: { clean: join(root, 'credit-test'), probe: join(root, 'credit-test') },
      },
    });
    expect(r.checks.map((c) => [c.name, c.passed])).toEqual([
      ['scan', true],
      ['accuracy', true],
      ['backdoor-probe', false],
    ]);
    expect(byName(r.checks, 'accuracy').details.accuracy).toBeCloseTo(expected, 10);
    expect(byName(r.checks, 'backdoor-probe').reason).toMatch(
      /^not run: STRIP works on image pixels, and the model is a tabular model \(mlp\)/,
    );
    // A table whose columns differ is refused by the scan (the model reads columns by name).
    const swapped = COLUMNS.slice().reverse();
    await writeDatasetDir(join(root, 'credit-swapped'), creditTable(60, 3), {
      meta: tabularMeta(swapped),
    });
    const refused = await gate(version.id, {
      version: 1,
      scan: { data: join(root, 'credit-swapped'), methods: ['ac'] },
    });
    const scan = byName(refused.checks, 'scan');
    expect(scan.passed).toBe(false);
    expect(scan.reason).toMatch(/^check could not run: .* reads columns \[age, housing, amount\]/);
  }, 180_000);
});
