import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAntidoteError } from '../errors.js';
import { verifyAuditChain } from '../integrity/audit-log.js';
import { sha256Hex } from '../integrity/hash.js';
import { parsePolicy } from '../integrity/policy.js';
import { Deployment } from '../registry/deployment.js';
import { runGate } from '../registry/gate.js';
import { loadGatePolicy } from '../registry/gate-policy.js';
import { ModelRegistry } from '../registry/model-registry.js';
import { parseMonitorConfig } from '../registry/monitor.js';
import { buildScenario, type ScenarioFiles } from '../testing/scenario.js';
import { parseTokenTable, type TokenTable } from './auth.js';
import { type RunningServer, startServer } from './start.js';

/**
 * Three read tokens (distinct clients): an automatic rollback needs evidence from at least three
 * trusted clients by default (issue 19, item 1), so the triggered traffic is sent by them.
 */
const READERS = [0, 1, 2].map((i) => ({
  name: `reader-${i}`,
  token: `reader-token-${i}-0123456789`,
}));

/** The scenario's token table plus the {@link READERS}. */
function withReaders(raw: unknown): TokenTable {
  const t = parseTokenTable(raw);
  return {
    ...t,
    tokens: [
      ...t.tokens,
      ...READERS.map((r) => ({
        name: r.name,
        sha256: sha256Hex(r.token),
        fingerprint: `sha256:${sha256Hex(r.name)}`,
      })),
    ],
  };
}

/** The authorization header of reader `i` (round robin). */
const asReader = (i: number) => ({ authorization: `Bearer ${READERS[i % READERS.length]!.token}` });

/**
 * The end-to-end scenario of the issue: clean v1 promoted; backdoored v2 refused by the gate
 * (the scan finds the poison); v2 force-promoted with an audited override; triggered traffic
 * trips the STRIP monitor and v1 is back in production within a bounded number of requests; the
 * audit chain verifies and shows every step.
 */
describe('registry → gate → serve → monitor → rollback (end to end)', () => {
  let s: ScenarioFiles;
  let reg: ModelRegistry;
  let server: RunningServer;
  let deployment: Deployment;

  beforeAll(async () => {
    const root = await mkdtemp(join(tmpdir(), 'antidote-e2e-'));
    s = await buildScenario(root);
    reg = ModelRegistry.open(s.project);
  }, 60_000);
  afterAll(async () => {
    await server?.close(1000);
    reg?.close();
    if (s) await rm(s.root, { recursive: true, force: true });
  });

  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${server.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });

  /**
   * Registers `dirs` as versions of `name`, each marked gate-passed and promoted (the gate is
   * exercised in the first test), and serves the last on a fresh deployment and server.
   */
  async function serveVersions(
    name: string,
    dirs: readonly string[],
    seed: number,
    options: {
      onEvent?: Parameters<typeof Deployment.start>[2]['onEvent'];
      bodyTimeoutMs?: number;
    } = {},
  ): Promise<{ d: Deployment; srv: RunningServer }> {
    for (const dir of dirs) {
      const v = (await reg.register(dir, { name })).version;
      reg.recordGateResult(v.id, { passed: true, policyDigest: 'test', result: {} });
      await reg.promote(v.id, { actor: 'test' });
    }
    const d = await Deployment.start(reg, name, {
      reference: s.reference,
      monitor: parseMonitorConfig({}),
      seed,
      ...(options.onEvent ? { onEvent: options.onEvent } : {}),
    });
    const srv = await startServer({
      registry: reg,
      deployment: d,
      tokens: withReaders(s.tokens),
      port: 0,
      syncIntervalMs: 0,
      ...(options.bodyTimeoutMs ? { bodyTimeoutMs: options.bodyTimeoutMs } : {}),
    });
    return { d, srv };
  }

  it('runs the whole scenario', async () => {
    const gate = await loadGatePolicy(s.gatePolicy);
    const policy = parsePolicy(s.accessPolicy);
    // v1: clean, passes the gate, promoted.
    const v1 = (await reg.register(s.cleanDir, { name: 'digits', scanReport: s.cleanScan }))
      .version;
    const g1 = await runGate(reg, v1.id, gate, { actor: 'ci' });
    expect(g1.passed, JSON.stringify(g1.checks)).toBe(true);
    expect(g1.checks.map((c) => [c.name, c.passed])).toEqual([
      ['signature', true],
      ['scan', true],
      ['accuracy', true],
      ['accuracy-drop', true],
    ]);
    expect(g1.passed).toBe(true);
    await reg.promote(v1.id, { actor: s.aliceFingerprint, policy });
    // v2: backdoored; the scan finds the poison, the gate refuses, promote refuses.
    const v2 = (
      await reg.register(s.backdooredDir, { name: 'digits', scanReport: s.backdooredScan })
    ).version;
    const g2 = await runGate(reg, v2.id, gate, { actor: 'ci' });
    const scan = g2.checks.find((c) => c.name === 'scan')!;
    expect(g2.passed).toBe(false);
    expect(scan.passed).toBe(false);
    expect(scan.reason).toMatch(/finds poison in class\(es\) c0/);
    expect(g2.checks.find((c) => c.name === 'signature')?.passed).toBe(true);
    let refused: unknown;
    try {
      await reg.promote(v2.id, { actor: s.aliceFingerprint, policy });
    } catch (e) {
      refused = e;
    }
    expect(isAntidoteError(refused, 'GATE_FAILED')).toBe(true);
    // Force-promote with an audited override.
    await reg.promote(v2.id, {
      actor: s.aliceFingerprint,
      policy,
      override: { reason: 'scenario: deliberate override' },
    });
    expect(reg.production('digits')?.id).toBe('digits@2');

    // Serve v2 with monitoring; loopback, ephemeral port.
    const events: string[] = [];
    deployment = await Deployment.start(reg, 'digits', {
      reference: s.reference,
      monitor: parseMonitorConfig({}),
      seed: 1,
      onEvent: (e) => events.push(e.type),
    });
    server = await startServer({
      registry: reg,
      deployment,
      tokens: withReaders(s.tokens),
      port: 0,
      maxBodyBytes: 64 * 1024,
      syncIntervalMs: 0,
    });
    expect(server.host).toBe('127.0.0.1');
    expect(await (await fetch(`${server.url}/healthz`)).json()).toEqual({ status: 'ok' });

    // Clean traffic first: served by v2, no STRIP alert.
    for (const row of s.cleanRows.slice(0, 15)) {
      const r = await post('/v1/predict', { inputs: [row] });
      expect(r.status).toBe(200);
      expect(((await r.json()) as { version: string }).version).toBe('digits@2');
    }
    expect(reg.alerts({ name: 'digits' }).filter((a) => a.monitor === 'strip')).toHaveLength(0);

    // Triggered traffic: STRIP rejects, the monitor trips, v1 comes back.
    let backAt = -1;
    const versions: string[] = [];
    const probed: boolean[] = [];
    for (let i = 0; i < 40; i++) {
      const r = await post(
        '/v1/predict',
        { model: 'digits', inputs: [s.triggeredRows[i]] },
        asReader(i),
      );
      expect(r.status).toBe(200);
      const j = (await r.json()) as { version: string; predictions: { strip?: unknown }[] };
      versions.push(j.version);
      probed.push(j.predictions[0]?.strip !== undefined);
      await deployment.settled();
      if (deployment.version.id === 'digits@1') {
        backAt = i + 1;
        break;
      }
    }
    console.info(
      `STRIP rollback after ${backAt} triggered requests (probed: ${probed.map(Number).join('')})`,
    );
    expect(backAt).toBeGreaterThan(0);
    expect(backAt).toBeLessThanOrEqual(25);
    // A quarter of the records are probed until rejections pile up; then every one is, until the
    // monitor trips.
    expect(probed.slice(-5).every(Boolean)).toBe(true);
    expect(probed.filter(Boolean).length).toBeLessThan(probed.length);
    expect(reg.production('digits')?.id).toBe('digits@1');
    expect(reg.get('digits@2').stage).toBe('archived');
    const after = await post('/v1/predict', { inputs: [s.cleanRows[0]] });
    expect(((await after.json()) as { version: string }).version).toBe('digits@1');
    expect(events).toContain('rollback');
    const strip = reg.alerts({ name: 'digits' }).find((a) => a.monitor === 'strip');
    expect(strip?.versionId).toBe('digits@2');

    // Bad requests: 4xx with a clear message, and the server keeps serving.
    const wrong = await post('/v1/predict', { inputs: [[1, 2, 3]] });
    expect(wrong.status).toBe(400);
    expect(((await wrong.json()) as { error: { message: string } }).error.message).toMatch(
      /inputs\[0\] has 3 values; the model takes 64/,
    );
    const malformed = await post('/v1/predict', '{"inputs": [');
    expect(malformed.status).toBe(400);
    expect(((await malformed.json()) as { error: { message: string } }).error.message).toMatch(
      /malformed JSON/,
    );
    const big = await post('/v1/predict', { inputs: [Array(20000).fill(0.5)] });
    expect(big.status).toBe(413);
    const unknown = await post('/v1/predict', { model: 'other', inputs: [s.cleanRows[0]] });
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { error: { message: string } }).error.message).toMatch(
      /unknown model "other"/,
    );
    const nonNumeric = await post('/v1/predict', { inputs: [['a']] });
    expect(nonNumeric.status).toBe(400);
    const extra = await post('/v1/predict', { inputs: [s.cleanRows[0]], evil: 1 });
    expect(extra.status).toBe(400);
    const text = await fetch(`${server.url}/v1/predict`, { method: 'POST', body: 'x' });
    expect(text.status).toBe(400);
    expect((await post('/v1/predict', { inputs: [s.cleanRows[1]] })).status).toBe(200);

    // Manual rollback needs a token; denied and audited without one.
    const noToken = await post('/api/models/digits/rollback', { reason: 'x' });
    expect(noToken.status).toBe(403);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/antidote_rollbacks_total 1/);
    expect(metrics).toMatch(/antidote_monitor_requests\{model="digits",version="digits@1"\} \d+/);
    expect(metrics).toMatch(/antidote_bad_requests_total 7/);

    // The audit log verifies and shows every step.
    const entries = reg.store.auditEntries();
    expect(verifyAuditChain(entries).ok).toBe(true);
    const actions = entries.map((e) => `${e.action} ${e.subject ?? ''} ${e.outcome ?? ''}`);
    const order = [
      /^model\.register model:digits@1/,
      /^gate\.pass model:digits@1/,
      /^model\.promote model:digits@1/,
      /^model\.register model:digits@2/,
      /^gate\.fail model:digits@2/,
      /^authz\.model:promote model:digits@2 allow/,
      /^model\.superseded model:digits@1/,
      /^model\.promote\.override model:digits@2/,
      /^monitor\.alert model:digits@2/,
      /^model\.rollback\.auto model:digits@2/,
      /^model\.rollback\.auto model:digits@1/,
    ];
    let at = 0;
    for (const re of order) {
      const found = actions.findIndex((a, i) => i >= at && re.test(a));
      expect(found, `audit entry ${re} after position ${at}`).toBeGreaterThanOrEqual(0);
      at = found + 1;
    }
  }, 60_000);

  it('drops no in-flight request while a STRIP rollback swaps the model', async () => {
    const name = 'digits-inflight';
    const { d, srv } = await serveVersions(name, [s.cleanDir, s.backdooredDir], 2);
    try {
      const send = (row: number[], i: number) =>
        fetch(`${srv.url}/v1/predict`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...asReader(i) },
          body: JSON.stringify({ inputs: [row] }),
        }).then(async (r) => ({ status: r.status, body: (await r.json()) as { version: string } }));
      const replies = await Promise.all(s.triggeredRows.slice(0, 60).map(send));
      expect(replies.every((r) => r.status === 200)).toBe(true);
      await d.settled();
      expect(d.version.id).toBe(`${name}@1`);
      expect(reg.production(name)?.id).toBe(`${name}@1`);
      const more = await Promise.all(s.cleanRows.slice(0, 20).map(send));
      expect(more.every((r) => r.status === 200 && r.body.version === `${name}@1`)).toBe(true);
    } finally {
      await srv.close(1000);
    }
    expect(verifyAuditChain(reg.store.auditEntries()).ok).toBe(true);
  });
  it('an outsider cannot force a rollback: ten unauthenticated requests of 16 records of 1000.0 (issue 19, item 1)', async () => {
    const name = 'digits-attack';
    const notices: string[] = [];
    const { d, srv } = await serveVersions(name, [s.cleanDir, s.backdooredDir], 3, {
      onEvent: (e) => {
        if (e.type === 'notice') notices.push(e.message);
      },
    });
    const send = async (inputs: unknown[], headers: Record<string, string> = {}) => {
      const r = await fetch(`${srv.url}/v1/predict`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ inputs }),
      });
      return {
        status: r.status,
        body: (await r.json()) as { error?: { code: string; message: string } },
      };
    };
    try {
      const dim = s.cleanRows[0]!.length;
      // The exact attack of the issue: refused at the schema, never seen by the monitors.
      for (let i = 0; i < 10; i++) {
        const r = await send(Array.from({ length: 16 }, () => Array(dim).fill(1000.0)));
        expect(r.status).toBe(400);
        expect(r.body.error?.message).toMatch(/outside the model's input range \[0, 1\]/);
      }
      // Valid JSON beyond float32 is refused too (it used to answer null probabilities, class 0).
      for (const v of [1e39, 1e308, -1e39]) {
        const r = await send([Array(dim).fill(v)]);
        expect(r.status).toBe(400);
        expect(r.body.error?.code).toBe('NON_FINITE_VALUE');
      }
      await d.settled();
      expect(d.monitor.metrics().records).toBe(0);
      expect(reg.production(name)?.id).toBe(`${name}@2`);
      // In-range triggered traffic from one unauthenticated client, then from one authenticated
      // client: STRIP trips, but the rollback is withheld (evidence from fewer than 3 clients).
      const rows = (i: number) =>
        Array.from(
          { length: 16 },
          (_, j) => s.triggeredRows[(i * 16 + j) % s.triggeredRows.length],
        );
      for (let i = 0; i < 10; i++) expect((await send(rows(i))).status).toBe(200);
      for (let i = 0; i < 10; i++) expect((await send(rows(i), asReader(0))).status).toBe(200);
      await d.settled();
      expect(reg.alerts({ name }).some((a) => a.monitor === 'strip')).toBe(true);
      expect(d.counters.rollbacks).toBe(0);
      expect(d.counters.rollbacksWithheld).toBeGreaterThan(0);
      expect(notices.join('\n')).toMatch(
        /withheld: its window holds records of [01] trusted client/,
      );
      expect(d.version.id).toBe(`${name}@2`);
      expect(reg.production(name)?.id).toBe(`${name}@2`);
    } finally {
      await srv.close(1000);
    }
  });
  it('cuts slow-body connections off at the body timeout; they raise no error-rate alert (issue 19, item 7)', async () => {
    const name = 'digits-slow';
    const { d, srv } = await serveVersions(name, [s.cleanDir], 4, { bodyTimeoutMs: 400 });
    try {
      const t0 = performance.now();
      // 30 clients (more than the error-rate window's minimum) send headers and a few bytes.
      const replies = await Promise.all(
        Array.from(
          { length: 30 },
          () =>
            new Promise<string>((res) => {
              const sock = connect(srv.port, '127.0.0.1', () => {
                sock.write(
                  'POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"inputs": [',
                );
              });
              let got = '';
              sock.on('data', (b) => {
                got += b.toString();
              });
              sock.on('error', () => undefined);
              sock.on('close', () => res(got));
            }),
        ),
      );
      expect(performance.now() - t0).toBeLessThan(5000);
      expect(replies.every((r) => r === '' || r.startsWith('HTTP/1.1 408'))).toBe(true);
      await d.settled();
      const metrics = await (await fetch(`${srv.url}/metrics`)).text();
      expect(metrics).toMatch(/antidote_body_timeouts_total [1-9]/);
      expect(metrics).toMatch(/antidote_bad_requests_total 0/);
      expect(d.counters.failures).toBe(0);
      expect(reg.alerts({ name }).filter((a) => a.monitor === 'error-rate')).toHaveLength(0);
      // The server still serves.
      const ok = await fetch(`${srv.url}/v1/predict`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ inputs: [s.cleanRows[0]] }),
      });
      expect(ok.status).toBe(200);
    } finally {
      await srv.close(1000);
    }
  });
});
