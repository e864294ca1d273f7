import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDataset } from '../data/load.js';
import { loadModel } from '../engine/model.js';
import { signDirectory } from '../integrity/model-signing.js';
import { gatePolicyFile } from '../testing/gate-policy-file.js';
import { copyOnnxFixture, ONNX_FIXTURES } from '../testing/onnx-fixtures.js';
import { rejects as expectRejects } from '../testing/rejects.js';
import { loadRegisteredVersion } from './deployment.js';
import { type GateCheck, runGate } from './gate.js';
import { signedFolderOf } from './model-manifest.js';
import { ModelRegistry } from './model-registry.js';

/**
 * ONNX models (issue 17) in the registry and the gate: a `.onnx` file is registered with its
 * sidecar (both hashed), gated on accuracy, scan and STRIP (predictions only), and Neural
 * Cleanse runs on the gradients of the graph imported into the engine.
 */

const FIXTURES = ONNX_FIXTURES;
const TEST = 'mnist:test:60';

/** The checks of a gate result by name. */
const checksOf = (checks: readonly GateCheck[]): Record<string, GateCheck | undefined> =>
  Object.fromEntries(checks.map((c) => [c.name, c]));

describe('ONNX models in the registry and the gate', () => {
  let root: string;
  let reg: ModelRegistry;
  /** cnn.onnx and its sidecar, alone in a folder. */
  let cnn: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'antidote-registry-onnx-'));
    reg = ModelRegistry.open(join(root, 'project'));
    cnn = await copyOnnxFixture(join(root, 'cnn'), 'cnn');
  });
  afterAll(async () => {
    reg?.close();
    await rm(root, { recursive: true, force: true });
  });

  it('registers a .onnx file with its sidecar, summarised from the protobuf', async () => {
    const { version, created } = await reg.register(cnn, { name: 'digits', actor: 'test' });
    expect(created).toBe(true);
    expect(version.dir).toBe(cnn);
    expect(version.info).toMatchObject({
      domain: 'image',
      arch: 'onnx',
      inputShape: [28, 28, 1],
      classes: Array.from({ length: 10 }, (_, k) => String(k)),
      signed: false,
      files: 2,
    });
    // The model's files only: another file in the folder changes nothing.
    await writeFile(join(root, 'cnn', 'notes.txt'), 'not part of the model');
    const again = await reg.register(cnn, { name: 'digits', actor: 'test' });
    expect(again.created).toBe(false);
    expect(again.version.id).toBe(version.id);
    await rm(join(root, 'cnn', 'notes.txt'));

    // The MLP has no sidecar: one file, classes 0..9.
    const mlp = await reg.register(join(FIXTURES, 'mlp.onnx'), { name: 'mlp', actor: 'test' });
    expect(mlp.version.info).toMatchObject({ arch: 'onnx', inputShape: [784], files: 1 });

    // A registered version loads as the OnnxModel it was.
    const model = await loadRegisteredVersion(version);
    try {
      expect(model.kind).toBe('onnx');
      expect(model.files).toEqual([cnn, `${cnn}.json`]);
    } finally {
      model.dispose();
    }
  });

  it('refuses a corrupted .onnx file, registering nothing', async () => {
    const bad = join(root, 'bad.onnx');
    await writeFile(bad, 'not a protobuf');
    await expectRejects(
      reg.register(bad, { name: 'bad', actor: 'test' }),
      'INVALID_FORMAT',
      /bad\.onnx/,
    );
    expect(reg.list('bad')).toEqual([]);
  });

  it('refuses to load a registered ONNX model whose sidecar changed', async () => {
    const path = await copyOnnxFixture(join(root, 'changed'), 'cnn');
    const { version } = await reg.register(path, { name: 'changed', actor: 'test' });
    await writeFile(`${path}.json`, JSON.stringify({ normalization: { scale: 255 } }));
    await expectRejects(loadRegisteredVersion(version), 'INTEGRITY_MISMATCH', /no longer matches/);
  });

  it('gates an ONNX model: accuracy, scan, STRIP and Neural Cleanse (on the imported graph) run', async () => {
    const v = reg.get('digits@1');
    const test = (await loadDataset(TEST)).dataset;
    const model = await loadModel(cnn);
    let accuracy: number;
    try {
      const pred = await model.predict(test);
      accuracy = pred.reduce((a, p, i) => a + (p === test.y[i] ? 1 : 0), 0) / test.y.length;
    } finally {
      model.dispose();
    }
    // A trained CNN: most of the digits right.
    expect(accuracy).toBeGreaterThan(0.8);
    const policy = await gatePolicyFile(root, {
      version: 1,
      accuracy: { testSet: TEST, min: 0.5 },
      scan: {
        data: TEST,
        methods: ['ss'],
        maxFlaggedShare: 1,
        maxSuspiciousClasses: 10,
        // 60 records: SS flags a few on weak evidence (a REVIEW with no strong finding).
        allowReview: true,
      },
      backdoorProbe: {
        strip: { clean: TEST, probe: TEST, maxRejectRate: 1, overlays: 4 },
        neuralCleanse: { clean: TEST, records: 10, epochs: 1, stepsPerEpoch: 2 },
      },
    });
    const r = await runGate(reg, v.id, policy, { record: false });
    const checks = checksOf(r.checks);
    const acc = checks.accuracy!;
    expect(acc.passed).toBe(true);
    expect(acc.details.accuracy).toBeCloseTo(accuracy, 10);
    expect(checks.scan?.passed).toBe(true);
    const strip = checks['backdoor-probe']!;
    expect(strip.details).toMatchObject({ method: 'strip', probeRecords: 60 });
    expect(strip.passed).toBe(true);
    // Every op of the CNN imports into the engine: Neural Cleanse runs on its gradients.
    const nc = checks['neural-cleanse']!;
    expect(nc.reason).toMatch(/^Neural Cleanse flags/);
    expect(nc.details).toMatchObject({ method: 'neural-cleanse', records: 10 });
    expect(nc.details.anomalyIndex).toHaveLength(10);
    expect(r.passed).toBe(nc.passed);
    // Without allowReview the same REVIEW fails the scan check, naming the verdict.
    const strict = await gatePolicyFile(root, {
      version: 1,
      scan: { data: TEST, methods: ['ss'], maxFlaggedShare: 1, maxSuspiciousClasses: 10 },
    });
    const s = checksOf((await runGate(reg, v.id, strict, { record: false })).checks).scan!;
    expect(s.passed).toBe(false);
    expect(s.reason).toMatch(/REVIEW/);
  });

  it('checks the signature of an ONNX model signed as the folder holding it', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    await writeFile(join(root, 'pub.pem'), publicKey.export({ type: 'spki', format: 'pem' }));
    const path = await copyOnnxFixture(join(root, 'signed'), 'cnn');
    await signDirectory(await signedFolderOf(path), privateKey);
    const { version } = await reg.register(path, { name: 'signed', actor: 'test' });
    expect(version.info.signed).toBe(true);
    const policy = await gatePolicyFile(root, {
      version: 1,
      signature: { trustedKeys: ['pub.pem'] },
    });
    const ok = await runGate(reg, version.id, policy);
    expect(checksOf(ok.checks).signature?.passed).toBe(true);
    expect(ok.passed).toBe(true);
    await reg.promote(version.id, { actor: 'test' });
    expect(reg.production('signed')?.id).toBe(version.id);

    // A folder holding anything else is no ONNX model's signature.
    await expectRejects(
      signedFolderOf(join(FIXTURES, 'cnn.onnx')),
      'INVALID_ARGUMENT',
      /also holds .*folder of their own/,
    );
  });
});
