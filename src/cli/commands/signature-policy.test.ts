import { createPrivateKey } from 'node:crypto';
import { mkdtemp, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initEngine } from '../../engine/backend.js';
import { FeatureModel } from '../../engine/feature-model-io.js';
import { verifyAuditChain } from '../../integrity/audit-log.js';
import { generateSigningKeyPair } from '../../integrity/keys.js';
import { MANIFEST_FILE } from '../../integrity/manifest.js';
import { signModel } from '../../integrity/model-signing.js';
import { ModelRegistry } from '../../registry/model-registry.js';
import { signaturePolicyPath } from '../../registry/signature-policy.js';
import { CREDIT_COLUMNS, creditTable } from '../../testing/feature-data.js';
import { runCommands } from '../../testing/run-commands.js';
import { registerGateCommand } from './gate.js';
import { registerPromoteCommand } from './promote.js';
import { registerRegistryCommand } from './registry.js';
import { registerRollbackCommand } from './rollback.js';
import { serveFromOptions } from './serve.js';

/** Runs the registry commands in-process; returns stdout, or the AntidoteError thrown. */
const cli = (args: string[]) =>
  runCommands(
    [registerRegistryCommand, registerGateCommand, registerPromoteCommand, registerRollbackCommand],
    args,
  );

describe('antidote register / gate / promote / rollback / serve under a signature policy', () => {
  let root: string;
  let project: string;
  const trusted = generateSigningKeyPair();
  const other = generateSigningKeyPair();
  const dirs: Record<string, string> = {};
  beforeAll(async () => {
    await initEngine();
    root = await mkdtemp(join(tmpdir(), 'antidote-cli-sigpol-'));
    project = join(root, 'project');
    ModelRegistry.open(project).close();
    const trained = await FeatureModel.train(
      { dataset: creditTable(120, 1), columns: CREDIT_COLUMNS },
      { kind: 'logistic', seed: 1, epochs: 3 },
    );
    for (const name of ['v1', 'v2', 'unsigned']) {
      const d = join(root, name);
      await trained.save(d);
      await writeFile(join(d, 'release.txt'), name);
      if (name !== 'unsigned') await signModel(d, createPrivateKey(trusted.privateKeyPem));
      dirs[name] = d;
    }
    trained.dispose();
    await writeFile(join(root, 'trusted.pub'), trusted.publicKeyPem);
    await writeFile(join(root, 'gate.json'), JSON.stringify({ version: 1 }));
  }, 60_000);
  afterAll(() => rm(root, { recursive: true, force: true }));

  it('refuses unsigned and tampered models at every step, with a typed error; audited', async () => {
    const P = ['--project', project];
    await writeFile(
      signaturePolicyPath(project),
      JSON.stringify({ version: 1, requireSignature: true, trustedKeys: ['../../trusted.pub'] }),
    );
    let r = await cli(['registry', 'register', dirs.unsigned!, '--name', 'credit', ...P]);
    expect(r.error?.code).toBe('SIGNATURE_INVALID');
    expect(r.error?.message).toMatch(/carries no signature/);
    for (const v of ['v1', 'v2']) {
      r = await cli(['registry', 'register', dirs[v]!, '--name', 'credit', ...P]);
      expect(r.error).toBeUndefined();
    }
    const gate = (v: string) =>
      cli([
        'gate',
        '--model',
        v,
        '--policy',
        join(root, 'gate.json'),
        '--out',
        join(root, 'g.json'),
        ...P,
      ]);
    r = await gate('credit@1');
    expect(r.out).toMatch(/PASS {2}signature: signature .*antidote\.sig verifies under/);
    // One byte of a signed file (the manifest, which the catalogue does not hash) changes.
    const m2 = join(dirs.v2!, MANIFEST_FILE);
    const original = await readFile(m2);
    const bad = Buffer.from(original);
    bad[bad.length - 3]! ^= 1;
    await writeFile(m2, bad);
    r = await gate('credit@2');
    expect(r.error?.code).toBe('GATE_FAILED');
    expect(r.out).toMatch(/FAIL {2}signature: refused under .*antidote\.manifest\.json/);
    await writeFile(m2, original);
    r = await gate('credit@2');
    expect(r.error).toBeUndefined();
    for (const v of ['credit@1', 'credit@2']) {
      r = await cli(['promote', v, ...P]);
      expect(r.error).toBeUndefined();
    }
    // The rollback target's signature is removed: refused, production unchanged.
    const sig1 = await readFile(join(dirs.v1!, 'antidote.sig'));
    await unlink(join(dirs.v1!, 'antidote.sig'));
    r = await cli(['rollback', 'credit', '--reason', 'drill', ...P]);
    expect(r.error?.code).toBe('SIGNATURE_INVALID');
    expect(r.error?.message).toMatch(/nothing was changed/);
    await writeFile(join(dirs.v1!, 'antidote.sig'), sig1);
    // serve refuses to start on a production model re-signed by an untrusted key.
    await signModel(dirs.v2!, createPrivateKey(other.privateKeyPem));
    const log: string[] = [];
    const opts = {
      model: 'credit',
      host: '127.0.0.1',
      port: 0,
      monitoring: false,
      maxBody: 65536,
      maxBatch: 8,
      seed: 0,
      project,
    };
    await expect(serveFromOptions(opts, (l) => log.push(l))).rejects.toMatchObject({
      code: 'SIGNATURE_INVALID',
    });
    expect(log.join('\n')).toMatch(/REFUSED credit@2 \[SIGNATURE_INVALID\]/);
    const reg = ModelRegistry.open(project);
    try {
      expect(reg.production('credit')?.id).toBe('credit@2');
      const errors = reg.store
        .auditEntries()
        .filter((e) => e.outcome === 'error')
        .map((e) => `${e.action} ${e.subject}`);
      expect(errors).toEqual([
        'model.register model:credit',
        'gate.signature model:credit@2',
        'model.rollback model:credit@1',
        'model.load model:credit@2',
      ]);
      expect(verifyAuditChain(reg.store.auditEntries()).ok).toBe(true);
    } finally {
      reg.close();
    }
  }, 60_000);
});
