import { createPrivateKey } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeDatasetDir } from '../data/dataset-dir.js';
import { reportToJSON } from '../defenses/detector.js';
import { detectorByName } from '../defenses/registry.js';
import { initEngine } from '../engine/backend.js';
import { sha256Hex } from '../integrity/hash.js';
import { generateSigningKeyPair, keyFingerprint } from '../integrity/keys.js';
import { recordTrainingProvenance } from '../integrity/lineage.js';
import { createManifest } from '../integrity/manifest.js';
import { signDirectory } from '../integrity/model-signing.js';
import { commitVersion } from '../integrity/versioning.js';
import { SqliteCatalogueStore } from '../registry/sqlite-store.js';
import { SIDE, syntheticImages, trainPair, triggered } from './fixtures.js';

/** Everything the end-to-end tests need on disk. */
export interface ScenarioFiles {
  readonly root: string;
  readonly project: string;
  readonly cleanDir: string;
  readonly backdooredDir: string;
  readonly cleanScan: string;
  readonly backdooredScan: string;
  readonly gatePolicy: string;
  readonly accessPolicy: unknown;
  readonly token: string;
  readonly tokens: unknown;
  readonly reference: ReturnType<typeof syntheticImages>;
  /** Triggered test inputs, one flattened record per row. */
  readonly triggeredRows: number[][];
  readonly cleanRows: number[][];
  readonly aliceFingerprint: string;
  readonly alicePrivatePem: string;
}

/**
 * Trains a clean and a backdoored tiny mlp (synthetic 8×8 images), signs both, scans each on its
 * training data (activation clustering), and writes a gate policy, an access policy granting
 * `model:promote` to alice and a token file for the server.
 */
export async function buildScenario(root: string): Promise<ScenarioFiles> {
  await initEngine();
  const p = await trainPair();
  const project = join(root, 'project');
  await mkdir(join(project, '.antidote'), { recursive: true });
  const cleanDir = join(root, 'models', 'clean');
  const backdooredDir = join(root, 'models', 'backdoored');
  await p.clean.save(cleanDir);
  await p.backdoored.save(backdooredDir);
  const alice = generateSigningKeyPair();
  const key = createPrivateKey(alice.privateKeyPem);
  await writeFile(join(root, 'trusted.pub'), alice.publicKeyPem);
  const scan = async (ds: typeof p.train, model: typeof p.clean, out: string) => {
    const r = await detectorByName('ac').detect(ds, model, { seed: 1 });
    await writeFile(
      out,
      JSON.stringify({
        format: 'antidote-scan',
        version: 1,
        records: ds.ids.length,
        methods: { ac: reportToJSON(r, ds.ids) },
      }),
    );
  };
  const cleanScan = join(root, 'clean-scan.json');
  const backdooredScan = join(root, 'backdoored-scan.json');
  await scan(p.train, p.clean, cleanScan);
  await scan(p.poisoned, p.backdoored, backdooredScan);
  await writeDatasetDir(join(root, 'test-set'), p.test);
  await writeDatasetDir(join(root, 'train-clean'), p.train);
  await writeDatasetDir(join(root, 'train-poisoned'), p.poisoned);
  // Lineage: the clean model's provenance names the clean training set, committed to the catalogue.
  const cat = SqliteCatalogueStore.open(project);
  try {
    await commitVersion(join(root, 'train-clean'), cat, cat.objects, {
      name: 'train-clean',
      message: 'clean training set',
    });
  } finally {
    cat.close();
  }
  await recordTrainingProvenance({
    modelDir: cleanDir,
    datasets: [
      {
        name: 'train-clean',
        version: 'train-clean@1',
        rootDigest: (await createManifest(join(root, 'train-clean'))).rootDigest,
      },
    ],
    code: { version: 'test' },
    hyperparameters: { arch: 'mlp' },
    seed: 1,
  });
  // Signed last: the signature covers every file of the model, its provenance included.
  await signDirectory(cleanDir, key);
  await signDirectory(backdooredDir, key);
  const gatePolicy = join(root, 'gate.json');
  await writeFile(
    gatePolicy,
    JSON.stringify({
      version: 1,
      signature: { trustedKeys: ['trusted.pub'] },
      scan: { maxSuspiciousClasses: 0, maxFlaggedShare: 0.05 },
      accuracy: { testSet: 'test-set', min: 0.9, maxDrop: 0.05 },
    }),
  );
  const fp = keyFingerprint(alice.publicKeyPem);
  const accessPolicy = {
    version: 1,
    roles: { ops: ['model:promote', 'model:register'] },
    principals: [{ name: 'alice', fingerprint: fp, roles: ['ops'] }],
  };
  await writeFile(join(project, '.antidote', 'policy.json'), JSON.stringify(accessPolicy));
  const token = 'test-token-alice-0123456789';
  const tokens = {
    version: 1,
    tokens: [{ name: 'alice', sha256: sha256Hex(token), fingerprint: fp }],
  };
  const rows = (x: Float32Array, n: number) =>
    Array.from({ length: n }, (_, i) =>
      Array.from(x.subarray(i * SIDE * SIDE, (i + 1) * SIDE * SIDE)),
    );
  const nonTarget = syntheticImages(120, 9);
  const keep = Array.from(nonTarget.y.keys()).filter((i) => nonTarget.y[i] !== 0);
  const tx = triggered(nonTarget);
  const triggeredRows = keep.map((i) =>
    Array.from(tx.subarray(i * SIDE * SIDE, (i + 1) * SIDE * SIDE)),
  );
  const reference = syntheticImages(200, 5);
  const clean = syntheticImages(60, 11);
  p.clean.dispose();
  p.backdoored.dispose();
  return {
    root,
    project,
    cleanDir,
    backdooredDir,
    cleanScan,
    backdooredScan,
    gatePolicy,
    accessPolicy,
    token,
    tokens,
    reference,
    triggeredRows,
    cleanRows: rows(clean.x, clean.y.length),
    aliceFingerprint: fp,
    alicePrivatePem: alice.privateKeyPem,
  };
}
