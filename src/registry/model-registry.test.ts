import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { verifyAuditChain } from '../integrity/audit-log.js';
import { generateSigningKeyPair, keyFingerprint } from '../integrity/keys.js';
import { type AccessPolicy, parsePolicy } from '../integrity/policy.js';
import { ModelRegistry } from './model-registry.js';

async function modelDir(root: string, name: string, content: string): Promise<string> {
  const d = join(root, name);
  await mkdir(d, { recursive: true });
  await writeFile(join(d, 'weights.bin'), content);
  return d;
}

function policyFor(fp: string, perms: string[]): AccessPolicy {
  return parsePolicy({
    version: 1,
    roles: { ops: perms },
    principals: [{ name: 'alice', fingerprint: fp, roles: ['ops'] }],
  });
}

describe('ModelRegistry', () => {
  let root: string;
  let reg: ModelRegistry;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'antidote-reg-'));
    reg = ModelRegistry.open(root);
  });
  afterEach(async () => {
    reg.close();
    await rm(root, { recursive: true, force: true });
  });

  it('numbers versions automatically and deduplicates identical content', async () => {
    const a = await reg.register(await modelDir(root, 'a', 'one'), { name: 'm', actor: 'ci' });
    const b = await reg.register(await modelDir(root, 'b', 'two'), { name: 'm', actor: 'ci' });
    const again = await reg.register(join(root, 'a'), { name: 'm' });
    expect([a.version.id, b.version.id]).toEqual(['m@1', 'm@2']);
    expect(again).toMatchObject({ created: false, version: { id: 'm@1' } });
    expect(a.version.stage).toBe('candidate');
    expect(reg.models()).toEqual([{ name: 'm', versions: 2, latest: 'm@2' }]);
    expect(() => reg.get('m@9')).toThrow(/no registered model version/);
    await expect(reg.register(join(root, 'nope'), { name: 'm' })).rejects.toThrow(/does not exist/);
    await expect(reg.register(join(root, 'a'), { name: '../x' })).rejects.toThrow(
      /invalid model name/,
    );
  });

  it('refuses production without a passed gate; keeps one production version; audits each step', async () => {
    const v1 = (await reg.register(await modelDir(root, 'a', '1'), { name: 'm' })).version;
    const v2 = (await reg.register(await modelDir(root, 'b', '2'), { name: 'm' })).version;
    await expect(reg.promote(v1.id, { actor: 'ci' })).rejects.toThrow(
      /has not been through the gate/,
    );
    reg.recordGateResult(v1.id, { passed: false, policyDigest: 'p', result: {} });
    await expect(reg.promote(v1.id, { actor: 'ci' })).rejects.toThrow(/did not pass the gate/);
    reg.recordGateResult(v1.id, { passed: true, policyDigest: 'p', result: {} });
    expect((await reg.promote(v1.id, { actor: 'ci', to: 'staging' })).stage).toBe('staging');
    expect((await reg.promote(v1.id, { actor: 'ci' })).stage).toBe('production');
    await expect(reg.promote(v1.id, { actor: 'ci', to: 'staging' })).rejects.toThrow(/forward/);
    reg.recordGateResult(v2.id, { passed: true, policyDigest: 'p', result: {} });
    await reg.promote(v2.id, { actor: 'ci' });
    expect(reg.production('m')?.id).toBe('m@2');
    expect(reg.get('m@1').stage).toBe('archived');
    // The database itself refuses a second production version.
    expect(() =>
      reg.store.db
        .prepare("UPDATE model_stages SET stage = 'production' WHERE version_id = 'm@1'")
        .run(),
    ).toThrow(/UNIQUE/);
    expect(() => reg.store.db.prepare('DELETE FROM stage_transitions').run()).toThrow(
      /append-only/,
    );
    const actions = reg.store.auditEntries().map((e) => e.action);
    expect(actions).toEqual([
      'model.register',
      'model.register',
      'gate.fail',
      'gate.pass',
      'model.promote',
      'model.promote',
      'gate.pass',
      'model.superseded',
      'model.promote',
    ]);
    expect(verifyAuditChain(reg.store.auditEntries()).ok).toBe(true);
  });

  it('overrides need a policy granting model:promote and a reason; denials are audited', async () => {
    const v = (await reg.register(await modelDir(root, 'a', '1'), { name: 'm' })).version;
    const alice = keyFingerprint(generateSigningKeyPair().publicKeyPem);
    const bob = keyFingerprint(generateSigningKeyPair().publicKeyPem);
    await expect(
      reg.promote(v.id, { actor: alice, override: { reason: 'hotfix' } }),
    ).rejects.toThrow(/default deny/);
    const policy = policyFor(alice, ['model:promote']);
    await expect(
      reg.promote(v.id, { actor: bob, policy, override: { reason: 'hotfix' } }),
    ).rejects.toThrow(/denied/);
    await expect(
      reg.promote(v.id, { actor: alice, policy, override: { reason: '  ' } }),
    ).rejects.toThrow(/reason/);
    expect(reg.get(v.id).stage).toBe('candidate');
    const p = await reg.promote(v.id, { actor: alice, policy, override: { reason: 'hotfix' } });
    expect(p.stage).toBe('production');
    const entries = reg.store.auditEntries();
    expect(entries.filter((e) => e.outcome === 'deny')).toHaveLength(2);
    const ov = entries.find((e) => e.action === 'model.promote.override');
    expect(ov).toMatchObject({ actor: alice, details: { reason: 'hotfix', to: 'production' } });
    expect(reg.transitions('m').at(-1)).toMatchObject({ kind: 'override', reason: 'hotfix' });
  });

  it('checks the target first: a promote or rollback to changed files changes nothing and is audited (issue 19, item 4)', async () => {
    const ids: string[] = [];
    for (const c of ['1', '2', '3']) {
      const v = (await reg.register(await modelDir(root, c, c), { name: 'm' })).version;
      reg.recordGateResult(v.id, { passed: true, policyDigest: 'p', result: {} });
      ids.push(v.id);
    }
    await reg.promote('m@1', { actor: 'ci' });
    await reg.promote('m@2', { actor: 'ci' });
    const before = {
      stages: reg.list('m').map((v) => v.stage),
      transitions: reg.transitions('m').length,
    };
    // m@1's weights change after registration: the rollback to it is refused.
    await writeFile(join(root, '1', 'weights.bin'), 'tampered');
    await expect(reg.rollback('m', { actor: 'ops', reason: 'manual' })).rejects.toMatchObject({
      code: 'INTEGRITY_MISMATCH',
      message: expect.stringMatching(
        /refusing to move m@1: its files changed.*nothing was changed/,
      ),
    });
    await expect(
      reg.rollback('m', { actor: 'serve', reason: 'strip', automatic: true }),
    ).rejects.toMatchObject({ code: 'INTEGRITY_MISMATCH' });
    // m@3's folder disappears: its promotion is refused.
    await rm(join(root, '3'), { recursive: true });
    await expect(reg.promote('m@3', { actor: 'ci' })).rejects.toMatchObject({
      code: 'INTEGRITY_MISMATCH',
      message: expect.stringMatching(/cannot be hashed/),
    });
    await expect(reg.promote('m@3', { actor: 'ci', to: 'staging' })).rejects.toMatchObject({
      code: 'INTEGRITY_MISMATCH',
    });
    expect(reg.production('m')?.id).toBe('m@2');
    expect(reg.list('m').map((v) => v.stage)).toEqual(before.stages);
    expect(reg.transitions('m')).toHaveLength(before.transitions);
    const refused = reg.store.auditEntries().filter((e) => e.outcome === 'error');
    expect(refused.map((e) => `${e.action} ${e.subject}`)).toEqual([
      'model.rollback model:m@1',
      'model.rollback.auto model:m@1',
      'model.promote model:m@3',
      'model.promote model:m@3',
    ]);
    expect(refused[0]).toMatchObject({
      details: { refused: 'integrity' },
      digests: { root: reg.get('m@1').rootDigest, found: expect.stringMatching(/^[0-9a-f]{64}$/) },
    });
    expect(verifyAuditChain(reg.store.auditEntries()).ok).toBe(true);
    // Restored files: the rollback goes through.
    await writeFile(join(root, '1', 'weights.bin'), '1');
    expect((await reg.rollback('m', { actor: 'ops', reason: 'manual' })).to.id).toBe('m@1');
  });

  it('rolls back to the previous good production version, manually and automatically', async () => {
    const ids: string[] = [];
    for (const c of ['1', '2', '3']) {
      const v = (await reg.register(await modelDir(root, c, c), { name: 'm' })).version;
      reg.recordGateResult(v.id, { passed: true, policyDigest: 'p', result: {} });
      await reg.promote(v.id, { actor: 'ci' });
      ids.push(v.id);
    }
    expect(reg.rollbackTarget('m')?.id).toBe('m@2');
    const r = await reg.rollback('m', { actor: 'monitor', reason: 'strip', automatic: true });
    expect([r.from?.id, r.to.id]).toEqual(['m@3', 'm@2']);
    // m@3 was rolled back from, so it is never a target again.
    expect(reg.rollbackTarget('m')?.id).toBe('m@1');
    await reg.rollback('m', { actor: 'ops', reason: 'manual' });
    expect(reg.production('m')?.id).toBe('m@1');
    await expect(reg.rollback('m', { actor: 'ops', reason: 'again' })).rejects.toThrow(
      /no earlier/,
    );
    const acts = reg.store.auditEntries().map((e) => e.action);
    expect(acts.filter((a) => a === 'model.rollback.auto')).toHaveLength(2);
    expect(acts.filter((a) => a === 'model.rollback')).toHaveLength(2);
  });

  it('stores alerts and monitor snapshots', async () => {
    reg.recordAlert({
      name: 'm',
      monitor: 'strip',
      severity: 'critical',
      message: 'low entropy',
      value: 0.5,
      threshold: 0.2,
      details: { window: 20 },
    });
    reg.recordSnapshot('m', 'm@1', { requests: 3, strip: 0.1 });
    expect(reg.alerts({ name: 'm' })[0]).toMatchObject({ monitor: 'strip', value: 0.5 });
    expect(reg.snapshots('m')[0]?.metrics).toEqual({ requests: 3, strip: 0.1 });
  });
});

const DIST = join(dirname(fileURLToPath(import.meta.url)), '../../dist/registry/index.js');

const CHILD = `
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
const { ModelRegistry } = await import(process.argv[1]);
const [root, tag, count] = [process.argv[2], process.argv[3], Number(process.argv[4])];
const reg = ModelRegistry.open(root);
const done = [];
for (let i = 0; i < count; i++) {
  const d = join(root, 'models', tag + i);
  await mkdir(d, { recursive: true });
  await writeFile(join(d, 'weights.bin'), tag + ':' + i);
  const { version } = await reg.register(d, { name: 'shared', actor: tag });
  reg.recordGateResult(version.id, { passed: true, policyDigest: 'p', result: {}, actor: tag });
  await reg.promote(version.id, { actor: tag, to: 'staging' });
  await reg.promote(version.id, { actor: tag });
  done.push(version.id);
}
reg.close();
process.stdout.write(JSON.stringify(done));
`;

function runChild(script: string, args: string[]): Promise<string> {
  return new Promise((res, rej) => {
    const p = spawn(process.execPath, ['--input-type=module', '-e', script, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    p.on('close', (code) => (code === 0 ? res(out) : rej(new Error(`child failed: ${err}`))));
  });
}

describe('ModelRegistry with two concurrent processes', () => {
  it('loses no version, transition or audit entry', async () => {
    if (!existsSync(DIST)) throw new Error(`${DIST} is missing: run npm run build first`);
    const root = await mkdtemp(join(tmpdir(), 'antidote-reg-conc-'));
    try {
      ModelRegistry.open(root).close(); // migrate once before the race
      const n = 25;
      const [a, b] = await Promise.all([
        runChild(CHILD, [DIST, root, 'A', String(n)]),
        runChild(CHILD, [DIST, root, 'B', String(n)]),
      ]);
      const ids = [...JSON.parse(a), ...JSON.parse(b)] as string[];
      const reg = ModelRegistry.open(root);
      try {
        const versions = reg.list('shared');
        expect(versions.map((v) => v.seq)).toEqual(Array.from({ length: 2 * n }, (_, i) => i + 1));
        expect(new Set(ids).size).toBe(2 * n);
        expect(versions.filter((v) => v.stage === 'production')).toHaveLength(1);
        expect(versions.filter((v) => v.stage === 'archived')).toHaveLength(2 * n - 1);
        const ts = reg.transitions('shared');
        // register + staging + production for each, and every production but the last superseded.
        expect(ts).toHaveLength(2 * n * 3 + (2 * n - 1));
        const entries = reg.store.auditEntries();
        expect(verifyAuditChain(entries).ok).toBe(true);
        expect(entries.filter((e) => e.action === 'model.register')).toHaveLength(2 * n);
        expect(entries.filter((e) => e.action === 'model.promote')).toHaveLength(4 * n);
        expect(entries.filter((e) => e.action === 'model.superseded')).toHaveLength(2 * n - 1);
        expect(new Set(versions.map((v) => v.registeredBy))).toEqual(new Set(['A', 'B']));
      } finally {
        reg.close();
      }
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  }, 60_000);
});
