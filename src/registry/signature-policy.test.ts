import { createPrivateKey, X509Certificate } from 'node:crypto';
import { cp, mkdir, mkdtemp, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { initEngine } from '../engine/backend.js';
import { FeatureModel } from '../engine/feature-model-io.js';
import { verifyAuditChain } from '../integrity/audit-log.js';
import { generateSigningKeyPair } from '../integrity/keys.js';
import { MANIFEST_FILE } from '../integrity/manifest.js';
import { signModel } from '../integrity/model-signing.js';
import { parseSignaturePolicy } from '../integrity/policy.js';
import { CREDIT_COLUMNS, creditTable } from '../testing/feature-data.js';
import { installSignaturePolicy, signedRelease } from '../testing/signed-models.js';
import { Deployment, type DeploymentEvent } from './deployment.js';
import { runGate } from './gate.js';
import { parseGatePolicy } from './gate-policy.js';
import { ModelRegistry } from './model-registry.js';
import { parseMonitorConfig } from './monitor.js';
import { checkSignature, signaturePolicyPath } from './signature-policy.js';
import { PROJECT_FOLDER } from './store.js';

const PKI = join(import.meta.dirname, '..', 'integrity', 'fixtures', 'oms', 'test-pki');

const trusted = generateSigningKeyPair();
const other = generateSigningKeyPair();
const sign = (dir: string, pem = trusted.privateKeyPem, signaturePath?: string) =>
  signModel(dir, createPrivateKey(pem), signaturePath ? { signaturePath } : {});

async function modelDir(root: string, name: string, content: string): Promise<string> {
  const d = join(root, 'models', name);
  await mkdir(d, { recursive: true });
  await writeFile(join(d, 'weights.bin'), content);
  return d;
}

describe('signature policy: registry transitions (issue 18 item 2, issue 19 item 4)', () => {
  let root: string;
  let reg: ModelRegistry;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'antidote-sigpol-'));
    reg = ModelRegistry.open(root);
  });
  afterEach(async () => {
    reg.close();
    await rm(root, { recursive: true, force: true });
  });

  const release = (name: string, content: string) =>
    signedRelease(reg, root, name, content, trusted.privateKeyPem);

  /** The last audit entry but the alerts' (`monitor.alert` follows each refusal). */
  const lastAudit = () =>
    reg.store
      .auditEntries()
      .filter((e) => e.action !== 'monitor.alert')
      .at(-1);

  it('without a policy nothing changes: unsigned models register and promote (back-compat)', async () => {
    const d = await modelDir(root, 'a', 'one');
    const v = (await reg.register(d, { name: 'm' })).version;
    reg.recordGateResult(v.id, { passed: true, policyDigest: 'p', result: {} });
    expect((await reg.promote(v.id, { actor: 'ci' })).stage).toBe('production');
    expect(reg.alerts()).toEqual([]);
  });

  it('requireSignature refuses an unsigned model at registration: nothing registered, audited, alerted', async () => {
    await installSignaturePolicy(root, {
      requireSignature: true,
      trustedKeys: [trusted.publicKeyPem],
    });
    const d = await modelDir(root, 'a', 'one');
    await expect(reg.register(d, { name: 'm', actor: 'ci' })).rejects.toMatchObject({
      code: 'SIGNATURE_INVALID',
      message: expect.stringMatching(/carries no signature \(model\.sig or antidote\.sig/),
    });
    expect(reg.list()).toEqual([]);
    expect(lastAudit()).toMatchObject({
      action: 'model.register',
      outcome: 'error',
      details: { refused: 'signature', tamper: 'missing' },
    });
    expect(reg.alerts()[0]).toMatchObject({
      name: 'm',
      monitor: 'signature',
      severity: 'critical',
    });
    // Signed by the trusted key (OMS convention: model.sig in the folder): registered.
    await sign(d, trusted.privateKeyPem, join(d, 'model.sig'));
    const v = (await reg.register(d, { name: 'm', actor: 'ci' })).version;
    expect(v.info.signed).toBe(true);
    expect(verifyAuditChain(reg.store.auditEntries()).ok).toBe(true);
  });

  it('promote and rollback check the signature before the stage change; a refusal changes nothing', async () => {
    const d1 = await release('a', 'one');
    const d2 = await release('b', 'two');
    await installSignaturePolicy(root, {
      requireSignature: true,
      trustedKeys: [trusted.publicKeyPem],
    });
    const stages = () => reg.list('m').map((v) => `${v.id}:${v.stage}`);
    const before = stages();
    expect(before).toEqual(['m@1:archived', 'm@2:production']);
    const transitions = reg.transitions().length;
    await cp(d1, join(root, 'backup'), { recursive: true });
    const refuses = async (code: string, tamper: string | RegExp) => {
      await expect(reg.rollback('m', { actor: 'ops', reason: 'manual' })).rejects.toMatchObject({
        code,
      });
      expect(stages()).toEqual(before);
      expect(reg.transitions()).toHaveLength(transitions);
      const e = lastAudit()!;
      expect(e).toMatchObject({ action: 'model.rollback', subject: 'model:m@1', outcome: 'error' });
      expect(String(e.details?.tamper ?? e.details?.refused)).toMatch(tamper);
    };
    // 1. One byte of a signed file the catalogue does not hash (the manifest) changes.
    const prov = join(d1, MANIFEST_FILE);
    const original = await readFile(prov);
    const changed = Buffer.from(original);
    changed[changed.length - 3]! ^= 1;
    await writeFile(prov, changed);
    await refuses('SIGNATURE_INVALID', 'content');
    expect(lastAudit()!.details?.reason).toMatch(/antidote\.manifest\.json/);
    await writeFile(prov, original);
    // 2. The signature is removed.
    const bundle = await readFile(join(d1, 'antidote.sig'));
    await unlink(join(d1, 'antidote.sig'));
    await refuses('SIGNATURE_INVALID', 'missing');
    // 3. Signed again, by a key the policy does not trust.
    await sign(d1, other.privateKeyPem);
    await refuses('SIGNATURE_INVALID', 'untrusted');
    // 4. An older signed version swapped in: m@2's signed files copied over m@1's.
    await writeFile(join(d1, 'antidote.sig'), bundle);
    await cp(d2, join(root, 'swap'), { recursive: true });
    await rm(d1, { recursive: true });
    await cp(join(root, 'swap'), d1, { recursive: true });
    await refuses('INTEGRITY_MISMATCH', 'integrity');
    // Restored: the rollback goes through, and so does promoting with a valid signature.
    await rm(d1, { recursive: true });
    await cp(join(root, 'backup'), d1, { recursive: true });
    expect((await reg.rollback('m', { actor: 'ops', reason: 'manual' })).to.id).toBe('m@1');
    // Every refusal is in the chain and on the alerts list (the dashboard's).
    expect(verifyAuditChain(reg.store.auditEntries()).ok).toBe(true);
    const alerts = reg.alerts({ name: 'm' }).filter((a) => a.monitor === 'signature');
    expect(alerts.map((a) => a.details.tamper).sort()).toEqual(['content', 'missing', 'untrusted']);
  });

  it('promote refuses a candidate whose signature is untrusted (key method) or whose CA is not trusted (certificate method)', async () => {
    const d = await modelDir(root, 'a', 'one');
    await sign(d, other.privateKeyPem);
    const v = (await reg.register(d, { name: 'm' })).version;
    reg.recordGateResult(v.id, { passed: true, policyDigest: 'p', result: {} });
    // Certificate method: the leaf chains to the test PKI's root (registered before any policy).
    const chain = [
      new X509Certificate(await readFile(join(PKI, 'signer.pem'))),
      new X509Certificate(await readFile(join(PKI, 'intermediate-ca.pem'))),
    ];
    const c = await modelDir(root, 'c', 'cert');
    await signModel(c, createPrivateKey(await readFile(join(PKI, 'signer.key'))), {
      certificateChain: chain,
    });
    const vc = (await reg.register(c, { name: 'm' })).version;
    reg.recordGateResult(vc.id, { passed: true, policyDigest: 'p', result: {} });
    // Not required, but a signature present must verify.
    await installSignaturePolicy(root, { trustedKeys: [trusted.publicKeyPem] });
    await expect(reg.promote(v.id, { actor: 'ci' })).rejects.toMatchObject({
      code: 'SIGNATURE_INVALID',
    });
    expect(reg.get(v.id).stage).toBe('candidate');
    expect(lastAudit()).toMatchObject({ action: 'model.promote', outcome: 'error' });
    // A key-method policy trusts no CA; then a CA other than the signer's; then the signer's root.
    await expect(reg.promote(vc.id, { actor: 'ci' })).rejects.toThrow(/trusts no CA/);
    await installSignaturePolicy(root, { requireSignature: true, trustedCAs: ['../other-ca.pem'] });
    await cp(join(PKI, 'other-ca.pem'), join(root, 'other-ca.pem'));
    await expect(reg.promote(vc.id, { actor: 'ci' })).rejects.toMatchObject({
      code: 'SIGNATURE_INVALID',
    });
    await cp(join(PKI, 'root-ca.pem'), join(root, PROJECT_FOLDER, 'root-ca.pem'));
    await installSignaturePolicy(root, { requireSignature: true, trustedCAs: ['root-ca.pem'] });
    expect((await reg.promote(vc.id, { actor: 'ci' })).stage).toBe('production');
    // The gate policy's own signature section takes CAs too.
    await rm(signaturePolicyPath(root));
    const gate = (trustedCAs: string[]) =>
      runGate(
        reg,
        vc.id,
        parseGatePolicy({ version: 1, signature: { trustedCAs } }, { baseDir: PKI }),
        {
          record: false,
        },
      );
    const good = await gate(['root-ca.pem']);
    expect(good.checks).toHaveLength(1);
    expect(good.checks[0]).toMatchObject({ name: 'signature', passed: true });
    const bad = await gate(['other-ca.pem']);
    expect(bad.checks[0]!.passed).toBe(false);
    expect(bad.checks[0]!.reason).toMatch(/no trusted key or CA verifies/);
  });

  it('pins the registered content: a valid older signature is a replay unless the policy unpins it', async () => {
    const d1 = await modelDir(root, 'a', 'one');
    await sign(d1);
    const d2 = await modelDir(root, 'b', 'two');
    await sign(d2);
    const v2 = (await reg.register(d2, { name: 'm' })).version;
    const policy = await parseSignaturePolicy({ version: 1, trustedKeys: [trusted.publicKeyPem] });
    // m@1's signed files presented as m@2.
    const replayed = { ...v2, dir: d1 };
    expect(await checkSignature(replayed, policy)).toMatchObject({
      status: 'refused',
      code: 'INTEGRITY_MISMATCH',
      tamper: 'replay',
    });
    const unpinned = await parseSignaturePolicy({
      version: 1,
      trustedKeys: [trusted.publicKeyPem],
      pinRegisteredContent: false,
    });
    expect(await checkSignature(replayed, unpinned)).toMatchObject({ status: 'verified' });
    expect(await checkSignature(v2, policy)).toMatchObject({ status: 'verified' });
    // The pin holds where the signature and the catalogue enumerate files differently: a
    // `.gitattributes` (hashed by the registry, an OMS default exclusion) and a `model.sig`
    // inside the directory (registered content; a signature cannot cover itself).
    const d3 = await modelDir(root, 'c', 'three');
    await writeFile(join(d3, '.gitattributes'), '*.bin filter=lfs\n');
    await sign(d3);
    const v3 = (await reg.register(d3, { name: 'm' })).version;
    expect(await checkSignature(v3, policy)).toMatchObject({ status: 'verified' });
    const d4 = await modelDir(root, 'd', 'four');
    await sign(d4, trusted.privateKeyPem, join(d4, 'model.sig'));
    const v4 = (await reg.register(d4, { name: 'm' })).version;
    expect(await checkSignature(v4, policy)).toMatchObject({ status: 'verified' });
    expect(await checkSignature({ ...v3, rootDigest: v2.rootDigest }, policy)).toMatchObject({
      status: 'refused',
      tamper: 'replay',
    });
    await expect(parseSignaturePolicy({ version: 1, requireSignature: true })).rejects.toThrow(
      /requireSignature needs at least one of trustedKeys or trustedCAs/,
    );
    await expect(
      parseSignaturePolicy({ version: 1, trustedKeys: ['-----BEGIN PUBLIC KEY-----\nxx'] }),
    ).rejects.toMatchObject({ code: 'INVALID_CONFIG' });
  });
});

describe('signature policy: serve verifies on load and when it follows a production change', () => {
  let root: string;
  let reg: ModelRegistry;
  beforeAll(async () => {
    await initEngine();
    root = await mkdtemp(join(tmpdir(), 'antidote-sigpol-serve-'));
    reg = ModelRegistry.open(root);
  });
  afterAll(async () => {
    reg?.close();
    await rm(root, { recursive: true, force: true });
  });

  it('refuses to start on a tampered model, and keeps serving when a tampered version is promoted', async () => {
    const train = creditTable(120, 1);
    const trained = await FeatureModel.train(
      { dataset: train, columns: CREDIT_COLUMNS },
      { kind: 'logistic', seed: 1, epochs: 3 },
    );
    const dirs: string[] = [];
    for (const name of ['v1', 'v2']) {
      const d = join(root, name);
      await trained.save(d);
      await writeFile(join(d, 'release.txt'), name);
      await sign(d);
      dirs.push(d);
      const v = (await reg.register(d, { name: 'credit' })).version;
      reg.recordGateResult(v.id, { passed: true, policyDigest: 'p', result: {} });
    }
    trained.dispose();
    await reg.promote('credit@1', { actor: 'ci' });
    await installSignaturePolicy(root, {
      requireSignature: true,
      trustedKeys: [trusted.publicKeyPem],
    });
    const events: DeploymentEvent[] = [];
    const opts = {
      monitor: parseMonitorConfig({}),
      monitoring: false,
      onEvent: (e: DeploymentEvent) => void events.push(e),
    };
    // Start: the production version's signature is gone → refused, audited, alerted.
    const sig1 = await readFile(join(dirs[0]!, 'antidote.sig'));
    await unlink(join(dirs[0]!, 'antidote.sig'));
    await expect(Deployment.start(reg, 'credit', opts)).rejects.toMatchObject({
      code: 'SIGNATURE_INVALID',
    });
    expect(reg.store.auditEntries().at(-2)).toMatchObject({
      action: 'model.load',
      subject: 'model:credit@1',
      outcome: 'error',
    });
    await writeFile(join(dirs[0]!, 'antidote.sig'), sig1);
    const d = await Deployment.start(reg, 'credit', { ...opts, refusalRetryMs: 0 });
    try {
      expect(d.version.id).toBe('credit@1');
      // credit@2 is promoted (valid then), then re-signed by an untrusted key behind its back.
      await reg.promote('credit@2', { actor: 'ci' });
      await sign(dirs[1]!, other.privateKeyPem);
      expect(await d.sync()).toBe(false);
      expect(await d.sync()).toBe(false);
      expect(d.version.id).toBe('credit@1');
      const refused = events.filter((e) => e.type === 'refused' && e.version === 'credit@2');
      // Once per version and reason, however often the server retries.
      expect(refused).toHaveLength(1);
      expect(refused[0]).toMatchObject({ version: 'credit@2', code: 'SIGNATURE_INVALID' });
      const alerts = reg.alerts({ name: 'credit' }).filter((a) => a.monitor === 'signature');
      expect(alerts).toHaveLength(2);
      // Signed again by the trusted key: the next sync serves it.
      await sign(dirs[1]!);
      expect(await d.sync()).toBe(true);
      expect(d.version.id).toBe('credit@2');
      expect(verifyAuditChain(reg.store.auditEntries()).ok).toBe(true);
    } finally {
      await d.close();
    }
  }, 60_000);
});
