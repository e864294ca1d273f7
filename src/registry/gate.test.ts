import { createPrivateKey } from 'node:crypto';
import { appendFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeDatasetDir } from '../data/dataset-dir.js';
import { initEngine } from '../engine/backend.js';
import { generateSigningKeyPair } from '../integrity/keys.js';
import { recordTrainingProvenance } from '../integrity/lineage.js';
import { createManifest } from '../integrity/manifest.js';
import { signDirectory } from '../integrity/model-signing.js';
import { syntheticImages, trainPair } from '../testing/fixtures.js';
import { gatePolicyFile } from '../testing/gate-policy-file.js';
import { runGate } from './gate.js';
import { loadGatePolicy, parseGatePolicy } from './gate-policy.js';
import { ModelRegistry } from './model-registry.js';

describe('deployment gate', () => {
  let root: string;
  let reg: ModelRegistry;
  beforeAll(async () => {
    await initEngine();
    root = await mkdtemp(join(tmpdir(), 'antidote-gate-'));
    const p = await trainPair();
    await p.clean.save(join(root, 'clean'));
    await p.backdoored.save(join(root, 'bd'));
    await writeDatasetDir(join(root, 'train'), p.train);
    await writeDatasetDir(join(root, 'poisoned'), p.poisoned);
    await writeDatasetDir(join(root, 'val'), syntheticImages(200, 31));
    await writeDatasetDir(join(root, 'test'), p.test);
    for (const [dir, data] of [
      ['clean', 'train'],
      ['bd', 'poisoned'],
    ] as const) {
      await recordTrainingProvenance({
        modelDir: join(root, dir!),
        datasets: [
          { name: data!, rootDigest: (await createManifest(join(root, data!))).rootDigest },
        ],
        code: { version: 'test' },
        hyperparameters: {},
        seed: 1,
      });
    }
    const k = generateSigningKeyPair();
    await writeFile(join(root, 'other.pub'), generateSigningKeyPair().publicKeyPem);
    await writeFile(join(root, 'trusted.pub'), k.publicKeyPem);
    await signDirectory(join(root, 'clean'), createPrivateKey(k.privateKeyPem));
    reg = ModelRegistry.open(join(root, 'project'));
    await reg.register(join(root, 'clean'), { name: 'm' });
    await reg.register(join(root, 'bd'), { name: 'm' });
    p.clean.dispose();
    p.backdoored.dispose();
  }, 60_000);
  afterAll(async () => {
    reg?.close();
    await rm(root, { recursive: true, force: true });
  });

  const policy = (body: unknown) => gatePolicyFile(root, body);

  it('validates the policy file with zod and names the bad field', async () => {
    expect(() => parseGatePolicy({ version: 2 })).toThrow(/version/);
    expect(() => parseGatePolicy({ version: 1, scan: { methods: ['nope'] } })).toThrow(
      /scan.methods.0/,
    );
    expect(() => parseGatePolicy({ version: 1, accuracy: { testSet: 't', min: 2 } })).toThrow(
      /accuracy.min/,
    );
    expect(() => parseGatePolicy({ version: 1, extra: true })).toThrow(
      /INVALID|extra|Unrecognized/,
    );
    await writeFile(join(root, 'bad.json'), '{');
    await expect(loadGatePolicy(join(root, 'bad.json'))).rejects.toThrow(/not valid JSON/);
    // A policy with no check never passes (default deny).
    const r = await runGate(reg, 'm@1', await policy({ version: 1 }), { record: false });
    expect(r.passed).toBe(false);
  });

  it('STRIP probe and scan pass the clean model and fail the backdoored one', async () => {
    const body = (probe: string) => ({
      version: 1,
      scan: { data: probe, methods: ['ac', 'ss'] },
      backdoorProbe: { strip: { clean: 'val', probe, maxRejectRate: 0.1 } },
    });
    const good = await runGate(reg, 'm@1', await policy(body('train')));
    expect(good.checks.map((c) => [c.name, c.passed])).toEqual([
      ['scan', true],
      ['backdoor-probe', true],
    ]);
    const bad = await runGate(reg, 'm@2', await policy(body('poisoned')));
    const strip = bad.checks.find((c) => c.name === 'backdoor-probe')!;
    expect(strip.passed).toBe(false);
    expect(strip.reason).toMatch(/STRIP rejects \d+\.\d% of poisoned/);
    expect(bad.checks.find((c) => c.name === 'scan')?.reason).toMatch(
      /ac finds poison in class\(es\) c0/,
    );
    expect(reg.gateResults('m@2')[0]!.passed).toBe(false);
  });

  it('Neural Cleanse probe flags the backdoor target of the backdoored model only', async () => {
    expect(() => parseGatePolicy({ version: 1, backdoorProbe: {} })).toThrow(
      /needs strip, neuralCleanse or both/,
    );
    const nc = await policy({
      version: 1,
      backdoorProbe: {
        neuralCleanse: { clean: 'val', records: 100, epochs: 6, stepsPerEpoch: 10 },
      },
    });
    const good = await runGate(reg, 'm@1', nc, { record: false });
    const bad = await runGate(reg, 'm@2', nc, { record: false });
    const g = good.checks[0]!;
    const b = bad.checks[0]!;
    expect(g.name).toBe('neural-cleanse');
    expect(g.passed).toBe(true);
    expect(g.reason).toMatch(/flags no class/);
    expect(b.passed).toBe(false);
    expect(b.details.flagged).toEqual(['c0']);
    expect(b.reason).toMatch(/flags c0 as backdoor target/);
    expect((b.details.maskL1 as number[]).length).toBe(4);
  }, 120_000);

  it('checks signatures against trusted keys and datasets against the lineage', async () => {
    const sig = await policy({
      version: 1,
      signature: { trustedKeys: ['other.pub', 'trusted.pub'] },
    });
    expect((await runGate(reg, 'm@1', sig, { record: false })).passed).toBe(true);
    const untrusted = await policy({ version: 1, signature: { trustedKeys: ['other.pub'] } });
    const u = await runGate(reg, 'm@1', untrusted, { record: false });
    expect(u.checks[0]!.reason).toMatch(/no trusted key verifies/);
    expect((await runGate(reg, 'm@2', sig, { record: false })).checks[0]!.passed).toBe(false);
    const ds = await policy({ version: 1, dataset: { data: ['train'] } });
    const d1 = await runGate(reg, 'm@1', ds, { record: false });
    expect(d1.checks[0]).toMatchObject({ name: 'dataset', passed: true });
    const d2 = await runGate(reg, 'm@2', ds, { record: false });
    expect(d2.checks[0]!.reason).toMatch(/training dataset\(s\) poisoned match no/);
    const cat = await policy({ version: 1, dataset: { requireCatalogued: true, data: ['train'] } });
    expect((await runGate(reg, 'm@1', cat, { record: false })).passed).toBe(false);
  });

  it('fails every model check when the files changed after registration', async () => {
    const acc = await policy({ version: 1, accuracy: { testSet: 'test', min: 0.5 } });
    expect((await runGate(reg, 'm@2', acc, { record: false })).passed).toBe(true);
    await appendFile(join(root, 'bd', 'model.json'), ' ');
    const r = await runGate(reg, 'm@2', acc, { record: false });
    expect(r.passed).toBe(false);
    expect(r.checks[0]!.reason).toMatch(/no longer matches registered version m@2/);
  });
});
