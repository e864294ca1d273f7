import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDataset } from '../../data/load.js';
import { FeatureModel } from '../../engine/feature-model-io.js';
import { verifyAuditChain } from '../../integrity/audit-log.js';
import { ModelRegistry, type ModelVersion } from '../../registry/model-registry.js';
import { runCommands } from '../../testing/run-commands.js';
import { buildScenario, type ScenarioFiles } from '../../testing/scenario.js';
import { registerAuditLogCommand } from './audit-log.js';
import { registerGateCommand } from './gate.js';
import { registerMonitorCommand } from './monitor.js';
import { registerPromoteCommand } from './promote.js';
import { registerRegistryCommand } from './registry.js';
import { registerRollbackCommand } from './rollback.js';
import { serveFromOptions } from './serve.js';

/** Runs the registry command group in-process; returns stdout, or the AntidoteError thrown. */
const cli = (args: string[]) =>
  runCommands(
    [
      registerRegistryCommand,
      registerGateCommand,
      registerPromoteCommand,
      registerRollbackCommand,
      registerMonitorCommand,
      registerAuditLogCommand,
    ],
    args,
  );

describe('antidote registry / gate / promote / rollback / monitor / serve', () => {
  let s: ScenarioFiles;
  let key: string;
  beforeAll(async () => {
    s = await buildScenario(await mkdtemp(join(tmpdir(), 'antidote-cli-reg-')));
    key = join(s.root, 'alice.pem');
    await writeFile(key, s.alicePrivatePem, { mode: 0o600 });
  }, 60_000);
  afterAll(async () => {
    if (s) await rm(s.root, { recursive: true, force: true });
  });

  it('walks a model through registration, the gate, promotion, override and rollback', async () => {
    const P = ['--project', s.project];
    let r = await cli([
      'registry',
      'register',
      s.cleanDir,
      '--name',
      'digits',
      '--scan',
      s.cleanScan,
      ...P,
      '--key',
      key,
    ]);
    expect(r.out).toMatch(/registered digits@1 \(candidate/);
    const out1 = join(s.root, 'g1.json');
    r = await cli(['gate', '--model', 'digits@1', '--policy', s.gatePolicy, '--out', out1, ...P]);
    expect(r.error).toBeUndefined();
    expect(r.out).toMatch(/PASS {2}signature: signature verifies/);
    expect(r.out).toMatch(/PASS {2}accuracy: clean accuracy/);
    expect(r.out).toMatch(/PASSED: digits@1 may be promoted/);
    expect(JSON.parse(await readFile(out1, 'utf8'))).toMatchObject({
      passed: true,
      model: 'digits@1',
    });
    // The project has an access policy: promoting needs a key holding model:promote.
    r = await cli(['promote', 'digits@1', ...P]);
    expect(r.error?.code).toBe('PERMISSION_DENIED');
    r = await cli(['promote', 'digits@1', ...P, '--key', key]);
    expect(r.out).toMatch(/digits@1: candidate → production/);

    r = await cli([
      'registry',
      'register',
      s.backdooredDir,
      '--name',
      'digits',
      '--scan',
      s.backdooredScan,
      ...P,
      '--key',
      key,
    ]);
    expect(r.out).toMatch(/registered digits@2/);
    const out2 = join(s.root, 'g2.json');
    r = await cli(['gate', '--model', 'digits', '--policy', s.gatePolicy, '--out', out2, ...P]);
    expect(r.error?.code).toBe('GATE_FAILED');
    expect(r.error?.exitCode).toBe(1);
    expect(r.out).toMatch(/FAIL {2}scan: ac \(registered scan\) finds poison in class\(es\) c0/);
    expect(r.out).toMatch(/FAILED: 1 check\(s\) failed/);
    expect(JSON.parse(await readFile(out2, 'utf8'))).toMatchObject({ passed: false });
    r = await cli(['promote', 'digits@2', ...P, '--key', key]);
    expect(r.error?.code).toBe('GATE_FAILED');
    r = await cli(['promote', 'digits@2', '--override', ...P, '--key', key]);
    expect(r.error?.code).toBe('INVALID_ARGUMENT');
    r = await cli([
      'promote',
      'digits@2',
      '--override',
      '--reason',
      'incident 42',
      ...P,
      '--key',
      key,
    ]);
    expect(r.out).toMatch(/digits@2: candidate → production \(gate overridden, audited\)/);

    r = await cli(['registry', 'list', 'digits', ...P, '--json']);
    expect((JSON.parse(r.out) as { stage: string }[]).map((v) => v.stage)).toEqual([
      'archived',
      'production',
    ]);
    r = await cli(['registry', 'show', 'digits@2', ...P]);
    expect(r.out).toMatch(/scan ac: \d+\/400 flagged, suspicious: c0/);
    expect(r.out).toMatch(/^content: stored in the catalogue/m);
    expect(r.out).toMatch(/\(override\) by sha256:[0-9a-f]{64}: incident 42/);

    // Serve it, then roll back by hand: the server follows the registry.
    const log: string[] = [];
    const { server, registry } = await serveFromOptions(
      {
        model: 'digits',
        host: '127.0.0.1',
        port: 0,
        reference: join(s.root, 'test-set'),
        monitoring: true,
        maxBody: 65536,
        maxBatch: 8,
        seed: 0,
        project: s.project,
      },
      (l) => log.push(l),
    );
    try {
      const predict = async () =>
        (await (
          await fetch(`${server.url}/v1/predict`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ inputs: [s.cleanRows[0]] }),
          })
        ).json()) as { version: string };
      expect((await predict()).version).toBe('digits@2');
      r = await cli(['rollback', 'digits', '--reason', 'suspicious model', ...P, '--key', key]);
      expect(r.out).toMatch(/rolled back digits: digits@2 → digits@1/);
      await expect.poll(async () => (await predict()).version, { timeout: 5000 }).toBe('digits@1');
      expect(log).toContain('serve: serving digits@1');
    } finally {
      await server.close(1000);
      registry.close();
    }
    r = await cli(['monitor', 'alerts', ...P]);
    expect(r.out).toMatch(/no alerts/);
    r = await cli(['monitor', 'status', '--model', 'digits', ...P]);
    expect(r.out).toMatch(/production: digits@1/);

    r = await cli(['audit-log', 'verify', ...P]);
    expect(r.error).toBeUndefined();
    expect(r.out).toMatch(/audit log OK: \d+ entries/);
    r = await cli(['audit-log', 'show', ...P]);
    for (const step of [
      'model.register model:digits@1',
      'gate.pass model:digits@1',
      'model.promote model:digits@1',
      'gate.fail model:digits@2',
      'model.promote.override model:digits@2',
      'model.rollback model:digits@1',
    ]) {
      expect(r.out).toContain(step);
    }
    const reg = ModelRegistry.open(s.project);
    try {
      expect(verifyAuditChain(reg.store.auditEntries()).ok).toBe(true);
      const acts = reg.store.auditEntries().map((e) => e.action);
      expect(acts).toContain('model.promote.override');
      expect(acts).toContain('model.rollback');
      expect(acts.filter((a) => a === 'authz.model:promote').length).toBeGreaterThanOrEqual(3);
    } finally {
      reg.close();
    }
  }, 60_000);
});

describe('antidote registry / promote / serve with text and tabular models', () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'antidote-cli-reg-features-'));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('registers a text and a tabular model, and serves the text one', async () => {
    const P = ['--project', join(root, 'project')];
    await mkdir(join(root, 'project'));
    const text = await FeatureModel.train(
      { dataset: (await loadDataset('sentiment:train:200')).dataset },
      { seed: 1, epochs: 2, vectorizer: { minDocFreq: 1 } },
    );
    await text.save(join(root, 'text'));
    text.dispose();
    const n = 60;
    const tab = await FeatureModel.train(
      {
        dataset: {
          x: Float32Array.from({ length: n * 2 }, (_, j) => (j % 2 ? (j >> 1) % 2 : 20 + (j % 37))),
          shape: [n, 2],
          y: Int32Array.from({ length: n }, (_, i) => i % 2),
          classes: ['good', 'bad'],
          ids: Array.from({ length: n }, String),
        },
        columns: [
          { name: 'age', kind: 'numeric' },
          { name: 'housing', kind: 'categorical', levels: ['own', 'rent'] },
        ],
      },
      { seed: 1, epochs: 2 },
    );
    await tab.save(join(root, 'tab'));
    tab.dispose();
    for (const [dir, name, domain, arch] of [
      ['text', 'reviews', 'text', 'tfidf-logistic'],
      ['tab', 'credit', 'tabular', 'logistic'],
    ] as const) {
      const r = await cli([
        'registry',
        'register',
        join(root, dir),
        '--name',
        name,
        ...P,
        '--json',
      ]);
      expect(r.error).toBeUndefined();
      const v = (JSON.parse(r.out) as { version: ModelVersion }).version;
      expect(v).toMatchObject({ id: `${name}@1`, info: { domain, arch } });
      const show = await cli(['registry', 'show', v.id, ...P]);
      expect(show.out).toContain(`model: ${domain} ${arch}, classes: `);
    }
    const reg = ModelRegistry.open(join(root, 'project'));
    try {
      reg.recordGateResult('reviews@1', { passed: true, policyDigest: 'test', result: {} });
    } finally {
      reg.close();
    }
    expect((await cli(['promote', 'reviews@1', ...P])).out).toMatch(/candidate → production/);
    const log: string[] = [];
    const { server, registry } = await serveFromOptions(
      {
        model: 'reviews',
        host: '127.0.0.1',
        port: 0,
        reference: 'sentiment:test:30',
        monitoring: true,
        maxBody: 65536,
        maxBatch: 8,
        seed: 0,
        project: join(root, 'project'),
      },
      (l) => log.push(l),
    );
    try {
      const r = await fetch(`${server.url}/v1/predict`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ inputs: [{ text: 'a wonderful, great film' }] }),
      });
      expect(r.status).toBe(200);
      const body = (await r.json()) as { version: string; predictions: { label: string }[] };
      expect(body.version).toBe('reviews@1');
      expect(['negative', 'positive']).toContain(body.predictions[0]?.label);
      expect(log).toContain('serve: serving reviews@1');
      expect(log.join('\n')).toMatch(
        /serve: the STRIP monitor superimposes images: off for reviews@1/,
      );
    } finally {
      await server.close(1000);
      registry.close();
    }
  }, 60_000);
});
