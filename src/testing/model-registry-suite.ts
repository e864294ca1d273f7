import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadModel } from '../engine/model.js';
import { verifyAuditChain } from '../integrity/audit-log.js';
import { generateSigningKeyPair, keyFingerprint } from '../integrity/keys.js';
import { type AccessPolicy, parsePolicy } from '../integrity/policy.js';
import { ModelRegistry, STAGES, type Stage } from '../registry/model-registry.js';
import type { CatalogueBackend } from './catalogue-backends.js';
import { copyOnnxFixture } from './onnx-fixtures.js';

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

/**
 * The model registry's core cases, run against one backend: `model-registry.test.ts` runs them on
 * SQLite, `pg-store.services.test.ts` on PostgreSQL (issue 22: the same tests on both).
 */
export function modelRegistrySuite(backend: CatalogueBackend): void {
  describe(`ModelRegistry on ${backend.name}`, () => {
    let root: string;
    let reg: ModelRegistry;
    beforeEach(async () => {
      root = await mkdtemp(join(tmpdir(), 'antidote-reg-'));
      reg = ModelRegistry.open(root, { store: backend.fresh() ?? 'sqlite' });
    });
    afterEach(async () => {
      reg.close();
      await rm(root, { recursive: true, force: true });
    });
    afterAll(() => backend.cleanup());

    it('numbers versions automatically and deduplicates identical content', async () => {
      const a = await reg.register(await modelDir(root, 'a', 'one'), { name: 'm', actor: 'ci' });
      const b = await reg.register(await modelDir(root, 'b', 'two'), { name: 'm', actor: 'ci' });
      const again = await reg.register(join(root, 'a'), { name: 'm' });
      expect([a.version.id, b.version.id]).toEqual(['m@1', 'm@2']);
      expect(again).toMatchObject({ created: false, version: { id: 'm@1' } });
      expect(a.version.stage).toBe('candidate');
      expect(reg.get('m@2')).toEqual(b.version); // what register returns is what is stored
      expect(reg.models()).toEqual([{ name: 'm', versions: 2, latest: 'm@2' }]);
      expect(() => reg.get('m@9')).toThrow(/no registered model version/);
      await expect(reg.register(join(root, 'nope'), { name: 'm' })).rejects.toThrow(
        /does not exist/,
      );
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
      ).toThrow(
        backend.name === 'sqlite' ? /UNIQUE/ : /unique constraint "model_stages_one_production"/,
      );
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
        digests: {
          root: reg.get('m@1').rootDigest,
          found: expect.stringMatching(/^[0-9a-f]{64}$/),
        },
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

    it('stores model paths relative to the project: a moved project keeps working (issue 21, item 5)', async () => {
      const project = join(root, 'proj');
      const store = backend.fresh() ?? 'sqlite';
      let moved = ModelRegistry.open(project, { store });
      try {
        const onnx = await copyOnnxFixture(join(project, 'build', 'model'), 'mlp');
        const v = (await moved.register(onnx, { name: 'm' })).version;
        expect(v.dir).toBe(onnx);
        const row = moved.store.db
          .prepare('SELECT dir FROM model_versions WHERE id = ?')
          .get(v.id) as { dir: string };
        expect(row.dir).toBe('build/model/mlp.onnx');
        // A row written before paths were relative (absolute) is read as it is.
        const outside = await modelDir(root, 'outside', 'x');
        const o = (await moved.register(outside, { name: 'o' })).version;
        expect(o.dir).toBe(outside);
        expect(
          (
            moved.store.db.prepare('SELECT dir FROM model_versions WHERE id = ?').get(o.id) as {
              dir: string;
            }
          ).dir,
        ).toBe(outside);
        moved.recordGateResult(v.id, { passed: true, policyDigest: 'p', result: {} });
      } finally {
        moved.close();
      }
      const project2 = join(root, 'moved', 'proj2');
      await mkdir(join(root, 'moved'));
      await rename(project, project2);
      moved = ModelRegistry.open(project2, { store });
      try {
        const v = moved.get('m@1');
        expect(relative(project2, v.dir)).toBe(join('build', 'model', 'mlp.onnx'));
        const model = await loadModel(v.dir);
        try {
          expect(model.classes.length).toBeGreaterThan(1);
        } finally {
          model.dispose();
        }
        // Its files still hash to the registered digest at the new place: promotion goes through.
        expect((await moved.promote(v.id, { actor: 'ci' })).stage).toBe('production');
      } finally {
        moved.close();
      }
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
}

const DIST = fileURLToPath(new URL('../../dist/registry/index.js', import.meta.url));

/** A child process: registers, gates and promotes `count` versions of `shared`. */
const REGISTER_CHILD = `
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

/**
 * A child process racing the others: registers and promotes its own versions of \`race\` and
 * rolls back every third step. A rollback may find nothing to restore or its target moved by
 * another process (\`INVALID_STATE\`, counted); any other failure fails the child.
 */
const RACE_CHILD = `
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
const { ModelRegistry } = await import(process.argv[1]);
const [root, tag, count] = [process.argv[2], process.argv[3], Number(process.argv[4])];
const reg = ModelRegistry.open(root);
let promoted = 0, rolledBack = 0, refused = 0;
for (let i = 0; i < count; i++) {
  const d = join(root, 'race', tag + i);
  await mkdir(d, { recursive: true });
  await writeFile(join(d, 'weights.bin'), 'race:' + tag + ':' + i);
  const { version } = await reg.register(d, { name: 'race', actor: tag });
  reg.recordGateResult(version.id, { passed: true, policyDigest: 'p', result: {}, actor: tag });
  await reg.promote(version.id, { actor: tag });
  promoted++;
  if (i % 3 === 2) {
    try {
      await reg.rollback('race', { actor: tag, reason: 'race' });
      rolledBack++;
    } catch (e) {
      if (e.code !== 'INVALID_STATE') throw e;
      refused++;
    }
  }
}
reg.close();
process.stdout.write(JSON.stringify({ promoted, rolledBack, refused }));
`;

/**
 * Runs the children and waits for every one of them (a failed child must not leave the others
 * writing while the test cleans up); rejects with the first failure's error.
 */
async function runChildren(
  script: string,
  argsOf: readonly string[][],
  store: string | undefined,
): Promise<string[]> {
  const settled = await Promise.allSettled(argsOf.map((a) => runChild(script, a, store)));
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  return settled.map((r) => (r as PromiseFulfilledResult<string>).value);
}

function runChild(script: string, args: string[], store: string | undefined): Promise<string> {
  return new Promise((res, rej) => {
    const p = spawn(process.execPath, ['--input-type=module', '-e', script, DIST, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ANTIDOTE_STORE: store ?? 'sqlite' },
    });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    p.on('close', (code) => (code === 0 ? res(out) : rej(new Error(`child failed: ${err}`))));
  });
}

/**
 * Replays the stage transitions of `name` in commit order: every transition must start from the
 * stage the previous ones left (no lost update), and no prefix may hold two production versions.
 */
function replayTransitions(reg: ModelRegistry, name: string): void {
  const stage = new Map<string, Stage>();
  for (const t of reg.transitions(name)) {
    expect(t.from, `transition ${t.id} of ${t.versionId}`).toBe(stage.get(t.versionId));
    expect(STAGES).toContain(t.to);
    stage.set(t.versionId, t.to);
    const production = [...stage.values()].filter((s) => s === 'production').length;
    expect(production, `after transition ${t.id}`).toBeLessThanOrEqual(1);
  }
}

/**
 * `processes` child processes register, gate and promote `perProcess` versions each into one
 * catalogue on `backend` at once: nothing may be lost (issue 22: 4 × 50 on PostgreSQL).
 */
export function concurrentRegistrationSuite(
  backend: CatalogueBackend,
  processes: number,
  perProcess: number,
): void {
  describe(`ModelRegistry on ${backend.name} with ${processes} concurrent processes`, () => {
    afterAll(() => backend.cleanup());

    it('loses no version, transition or audit entry', async () => {
      if (!existsSync(DIST)) throw new Error(`${DIST} is missing: run npm run build first`);
      const root = await mkdtemp(join(tmpdir(), 'antidote-reg-conc-'));
      const store = backend.fresh();
      try {
        ModelRegistry.open(root, { store: store ?? 'sqlite' }).close(); // migrate once first
        const tags = Array.from({ length: processes }, (_, i) => String.fromCharCode(65 + i));
        const outs = await runChildren(
          REGISTER_CHILD,
          tags.map((tag) => [root, tag, String(perProcess)]),
          store,
        );
        const ids = outs.flatMap((o) => JSON.parse(o) as string[]);
        const total = processes * perProcess;
        const reg = ModelRegistry.open(root, { store: store ?? 'sqlite' });
        try {
          const versions = reg.list('shared');
          expect(versions.map((v) => v.seq)).toEqual(
            Array.from({ length: total }, (_, i) => i + 1),
          );
          expect(new Set(ids).size).toBe(total);
          expect(versions.filter((v) => v.stage === 'production')).toHaveLength(1);
          expect(versions.filter((v) => v.stage === 'archived')).toHaveLength(total - 1);
          const ts = reg.transitions('shared');
          // register + staging + production for each, and every production but the last superseded.
          expect(ts).toHaveLength(total * 3 + (total - 1));
          replayTransitions(reg, 'shared');
          const entries = reg.store.auditEntries();
          expect(verifyAuditChain(entries).ok).toBe(true);
          expect(entries.filter((e) => e.action === 'model.register')).toHaveLength(total);
          expect(entries.filter((e) => e.action === 'model.promote')).toHaveLength(2 * total);
          expect(entries.filter((e) => e.action === 'model.superseded')).toHaveLength(total - 1);
          expect(new Set(versions.map((v) => v.registeredBy))).toEqual(new Set(tags));
        } finally {
          reg.close();
        }
      } finally {
        await rm(root, { recursive: true, force: true });
      }
    }, 240_000);

    it('promotes and rolls back transactionally under a race: never two production versions', async () => {
      if (!existsSync(DIST)) throw new Error(`${DIST} is missing: run npm run build first`);
      const root = await mkdtemp(join(tmpdir(), 'antidote-reg-race-'));
      const store = backend.fresh();
      try {
        ModelRegistry.open(root, { store: store ?? 'sqlite' }).close();
        const tags = Array.from({ length: processes }, (_, i) => `r${i}`);
        const steps = 9;
        const outs = await runChildren(
          RACE_CHILD,
          tags.map((tag) => [root, tag, String(steps)]),
          store,
        );
        const counts = outs.map(
          (o) => JSON.parse(o) as { promoted: number; rolledBack: number; refused: number },
        );
        const rolledBack = counts.reduce((a, c) => a + c.rolledBack, 0);
        expect(rolledBack, 'no rollback went through: the race tested nothing').toBeGreaterThan(0);
        expect(counts.reduce((a, c) => a + c.promoted, 0)).toBe(processes * steps);
        expect(counts.reduce((a, c) => a + c.rolledBack + c.refused, 0)).toBe(processes * 3);
        const reg = ModelRegistry.open(root, { store: store ?? 'sqlite' });
        try {
          expect(reg.list('race').filter((v) => v.stage === 'production')).toHaveLength(1);
          replayTransitions(reg, 'race');
          const ts = reg.transitions('race');
          // Each successful rollback archives the current version and restores another.
          expect(ts.filter((t) => t.kind === 'rollback')).toHaveLength(2 * rolledBack);
          const entries = reg.store.auditEntries();
          expect(verifyAuditChain(entries).ok).toBe(true);
          expect(entries.filter((e) => e.action === 'model.rollback')).toHaveLength(2 * rolledBack);
        } finally {
          reg.close();
        }
      } finally {
        await rm(root, { recursive: true, force: true });
      }
    }, 240_000);
  });
}
