import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { type Context, Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { z } from 'zod';
import { AntidoteError, type AntidoteErrorCode } from '../errors.js';
import { verifyAuditChain } from '../integrity/audit-log.js';
import { type AccessPolicy, loadPolicy } from '../integrity/policy.js';
import type { Deployment } from '../registry/deployment.js';
import type { ModelRegistry, StoredGateResult } from '../registry/model-registry.js';
import { PROJECT_FOLDER } from '../registry/store.js';
import { parseWith } from '../util/schema.js';
import { APP_CSS, APP_JS } from './assets.js';
import { principalOfToken, type TokenTable } from './auth.js';
import {
  alertsPage,
  auditPage,
  datasetsPage,
  esc,
  modelPage,
  modelsPage,
  page,
} from './dashboard.js';

/** What the HTTP app serves. */
export interface AppContext {
  readonly registry: ModelRegistry;
  /** The production model being served (`POST /v1/predict`); absent: dashboard and API only. */
  readonly deployment?: Deployment;
  /** Tokens allowed to call promote / rollback (as policy principals). Absent: no mutations. */
  readonly tokens?: TokenTable;
  /** Largest request body in bytes; default 1 MiB. */
  readonly maxBodyBytes?: number;
  /** Most records per predict request; default 256. */
  readonly maxBatch?: number;
}

const HTTP_STATUS: Partial<Record<AntidoteErrorCode, 400 | 401 | 403 | 404 | 409 | 413 | 422>> = {
  INVALID_ARGUMENT: 400,
  INVALID_CONFIG: 400,
  INVALID_FORMAT: 400,
  SHAPE_MISMATCH: 400,
  NON_FINITE_VALUE: 400,
  LABEL_OUT_OF_RANGE: 400,
  NOT_FOUND: 404,
  PERMISSION_DENIED: 403,
  GATE_FAILED: 409,
  INVALID_STATE: 409,
  ALREADY_EXISTS: 409,
};

function errorBody(code: string, message: string) {
  return { error: { code, message } };
}

const predictSchema = z.strictObject({
  /** Optional: must name the served model when given. */
  model: z.string().min(1).max(128).optional(),
  /** Records, each flattened row-major to the model's input size. */
  inputs: z.array(z.array(z.number())).min(1),
});

const promoteSchema = z.strictObject({
  version: z.string().min(1).max(200),
  to: z.enum(['staging', 'production']).optional(),
  override: z.boolean().optional(),
  reason: z.string().max(1000).optional(),
});

const rollbackSchema = z.strictObject({
  reason: z.string().min(1).max(1000),
  to: z.string().min(1).max(200).optional(),
});

/** Latency samples (ms) of recent predict requests. */
class Latencies {
  private readonly buf = new Float64Array(4096);
  private n = 0;
  push(ms: number): void {
    this.buf[this.n++ % this.buf.length] = ms;
  }
  quantile(q: number): number {
    const m = Math.min(this.n, this.buf.length);
    if (m === 0) return 0;
    const s = this.buf.slice(0, m).sort();
    return s[Math.min(m - 1, Math.floor(q * m))];
  }
}

/**
 * The hono app: `POST /v1/predict` (production model, zod-validated input, body size limit),
 * `GET /healthz`, `/readyz`, `/metrics` (Prometheus text), the read-only JSON API under `/api/`,
 * promote and rollback (`POST /api/models/:name/promote|rollback`, bearer token → principal →
 * access policy, audited), and the dashboard pages. Bad requests get a 4xx JSON error.
 */
export function createApp(ctx: AppContext): Hono {
  const app = new Hono();
  const reg = ctx.registry;
  const maxBody = ctx.maxBodyBytes ?? 1024 * 1024;
  const maxBatch = ctx.maxBatch ?? 256;
  const lat = new Latencies();
  let badRequests = 0;

  app.use('*', async (c, next) => {
    await next();
    c.header('X-Content-Type-Options', 'nosniff');
    c.header('Referrer-Policy', 'no-referrer');
    c.header(
      'Content-Security-Policy',
      "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
  });

  app.onError((e, c) => {
    if (e instanceof AntidoteError) {
      const status = HTTP_STATUS[e.code] ?? 500;
      return c.json(errorBody(e.code, e.message), status);
    }
    return c.json(errorBody('INTERNAL', 'internal error'), 500);
  });
  app.notFound((c) =>
    c.json(errorBody('NOT_FOUND', `no route ${c.req.method} ${c.req.path}`), 404),
  );

  const limit = bodyLimit({
    maxSize: maxBody,
    onError: (c) => {
      badRequests++;
      ctx.deployment?.recordFailure();
      return c.json(errorBody('PAYLOAD_TOO_LARGE', `request body exceeds ${maxBody} bytes`), 413);
    },
  });

  async function readJson(c: Context): Promise<unknown> {
    const type = c.req.header('content-type') ?? '';
    if (!type.includes('application/json')) {
      throw new AntidoteError('INVALID_FORMAT', 'send the body as application/json');
    }
    const text = await c.req.text();
    try {
      return JSON.parse(text);
    } catch (e) {
      throw new AntidoteError('INVALID_FORMAT', `malformed JSON: ${(e as Error).message}`);
    }
  }

  function parse<T>(schema: z.ZodType<T>, raw: unknown): T {
    return parseWith(schema, raw, 'invalid request', {
      code: 'INVALID_ARGUMENT',
      root: '(body)',
      details: {},
    });
  }

  // ---- serving -------------------------------------------------------------------------------

  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.get('/readyz', (c) => {
    const d = ctx.deployment;
    return d
      ? c.json({ ready: true, model: d.name, version: d.version.id })
      : c.json({ ready: false, reason: 'no model is being served' }, 503);
  });

  app.post('/v1/predict', limit, async (c) => {
    const d = ctx.deployment;
    if (!d) return c.json(errorBody('NOT_FOUND', 'this server serves no model'), 404);
    const t0 = performance.now();
    let body: z.infer<typeof predictSchema>;
    let x: Float32Array;
    try {
      body = parse(predictSchema, await readJson(c));
      if (body.model !== undefined && body.model !== d.name) {
        throw new AntidoteError(
          'NOT_FOUND',
          `unknown model "${body.model}"; this server serves "${d.name}"`,
        );
      }
      if (body.inputs.length > maxBatch) {
        throw new AntidoteError(
          'INVALID_ARGUMENT',
          `at most ${maxBatch} records per request, got ${body.inputs.length}`,
        );
      }
      const { inputShape } = d.signature;
      const dim = inputShape.reduce((a, b) => a * b, 1);
      x = new Float32Array(body.inputs.length * dim);
      body.inputs.forEach((row, i) => {
        if (row.length !== dim) {
          throw new AntidoteError(
            'SHAPE_MISMATCH',
            `inputs[${i}] has ${row.length} values; the model takes ${dim} (${inputShape.join('×')}, flattened row-major)`,
          );
        }
        for (let j = 0; j < dim; j++) {
          if (!Number.isFinite(row[j])) {
            throw new AntidoteError('NON_FINITE_VALUE', `inputs[${i}][${j}] is not finite`);
          }
          x[i * dim + j] = row[j];
        }
      });
    } catch (e) {
      badRequests++;
      d.recordFailure();
      throw e;
    }
    const p = await d.predict(x, body.inputs.length);
    const k = p.classes.length;
    lat.push(performance.now() - t0);
    return c.json({
      model: d.name,
      version: p.version,
      predictions: Array.from(p.predictions, (cls, i) => ({
        class: cls,
        label: p.classes[cls],
        probabilities: Array.from(p.probabilities.subarray(i * k, (i + 1) * k), (v) =>
          Number(v.toFixed(6)),
        ),
        ...(p.strip
          ? {
              strip: {
                entropy: Number(p.strip.entropy[i].toFixed(4)),
                rejected: p.strip.rejected[i] === 1,
              },
            }
          : {}),
      })),
      ...(p.alerts.length ? { alerts: p.alerts.map((a) => a.monitor) } : {}),
    });
  });

  app.get('/metrics', (c) => {
    const lines: string[] = [];
    const metric = (name: string, help: string, type: string, value: number, labels = '') => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, `${name}${labels} ${value}`);
    };
    const d = ctx.deployment;
    metric('antidote_bad_requests_total', 'Requests rejected with 4xx', 'counter', badRequests);
    if (d) {
      const lv = `{model="${d.name}",version="${d.version.id}"}`;
      metric('antidote_up', 'Serving a model', 'gauge', 1, lv);
      metric(
        'antidote_predict_requests_total',
        'Predict requests served',
        'counter',
        d.counters.predictions,
      );
      metric('antidote_predict_records_total', 'Records predicted', 'counter', d.counters.records);
      metric(
        'antidote_predict_failures_total',
        'Failed predict requests',
        'counter',
        d.counters.failures,
      );
      metric('antidote_alerts_total', 'Monitor alerts raised', 'counter', d.counters.alerts);
      metric('antidote_rollbacks_total', 'Automatic rollbacks', 'counter', d.counters.rollbacks);
      metric(
        'antidote_predict_latency_p50_ms',
        'Median predict latency',
        'gauge',
        lat.quantile(0.5),
      );
      metric(
        'antidote_predict_latency_p99_ms',
        '99th percentile predict latency',
        'gauge',
        lat.quantile(0.99),
      );
      for (const [k, v] of Object.entries(d.monitor.metrics())) {
        const name = `antidote_monitor_${k.replace(/[A-Z]/g, (m) => `_${m.toLowerCase()}`)}`;
        metric(name, `Monitor value ${k}`, 'gauge', v, lv);
      }
    }
    return c.text(`${lines.join('\n')}\n`, 200, { 'content-type': 'text/plain; version=0.0.4' });
  });

  // ---- JSON API ------------------------------------------------------------------------------

  app.get('/api/models', (c) => c.json(reg.models()));
  app.get('/api/models/:name', (c) => {
    const name = c.req.param('name');
    const versions = reg.list(name);
    if (versions.length === 0) throw new AntidoteError('NOT_FOUND', `unknown model "${name}"`);
    return c.json({
      name,
      versions,
      transitions: reg.transitions(name),
      gateResults: versions.flatMap((v) => reg.gateResults(v.id, 20)),
    });
  });
  app.get('/api/datasets', (c) => c.json(reg.store.listVersions('dataset')));
  app.get('/api/alerts', (c) => c.json(reg.alerts({ limit: 500 })));
  app.get('/api/audit', (c) => {
    const entries = reg.store.auditEntries();
    return c.json({ verification: verifyAuditChain(entries), entries });
  });
  app.get('/api/monitoring/:name', (c) => c.json(reg.snapshots(c.req.param('name'))));

  async function actorFor(c: Context): Promise<{ fingerprint: string; policy: AccessPolicy }> {
    const auth = c.req.header('authorization') ?? '';
    const m = /^Bearer\s+(\S+)$/.exec(auth);
    const who = principalOfToken(ctx.tokens, m?.[1]);
    if (!who) {
      throw new AntidoteError(
        'PERMISSION_DENIED',
        ctx.tokens
          ? 'missing or unknown API token (send Authorization: Bearer TOKEN)'
          : 'this server accepts no changes (start it with a token file)',
      );
    }
    const path = join(reg.store.projectDir, PROJECT_FOLDER, 'policy.json');
    if (!existsSync(path)) {
      throw new AntidoteError(
        'PERMISSION_DENIED',
        'no access policy installed (antidote policy set): changes are denied by default',
      );
    }
    return { fingerprint: who.fingerprint, policy: await loadPolicy(path) };
  }

  app.post('/api/models/:name/promote', limit, async (c) => {
    const name = c.req.param('name');
    const body = parse(promoteSchema, await readJson(c));
    const v = reg.get(body.version);
    if (v.name !== name)
      throw new AntidoteError('INVALID_ARGUMENT', `${v.id} is not a version of ${name}`);
    const who = await actorFor(c);
    if (body.override && !body.reason?.trim()) {
      throw new AntidoteError('INVALID_ARGUMENT', 'an override needs a reason');
    }
    const r = reg.promote(v.id, {
      actor: who.fingerprint,
      policy: who.policy,
      ...(body.to ? { to: body.to } : {}),
      ...(body.override ? { override: { reason: body.reason ?? '' } } : {}),
      ...(body.reason ? { reason: body.reason } : {}),
    });
    if (ctx.deployment?.name === name) await ctx.deployment.sync();
    return c.json({ message: `${r.id} is now ${r.stage}`, version: r });
  });

  app.post('/api/models/:name/rollback', limit, async (c) => {
    const name = c.req.param('name');
    const body = parse(rollbackSchema, await readJson(c));
    const who = await actorFor(c);
    const r = reg.rollback(name, {
      actor: who.fingerprint,
      policy: who.policy,
      reason: body.reason,
      ...(body.to ? { to: body.to } : {}),
    });
    if (ctx.deployment?.name === name) await ctx.deployment.sync();
    return c.json({
      message: `rolled back ${name}: ${r.from?.id ?? 'none'} → ${r.to.id}`,
      from: r.from?.id ?? null,
      to: r.to.id,
    });
  });

  // ---- dashboard -----------------------------------------------------------------------------

  app.get('/assets/app.css', (c) =>
    c.body(APP_CSS, 200, { 'content-type': 'text/css; charset=utf-8' }),
  );
  app.get('/assets/app.js', (c) =>
    c.body(APP_JS, 200, { 'content-type': 'text/javascript; charset=utf-8' }),
  );
  app.get('/', (c) => c.html(modelsPage(reg.models(), reg.alerts({ limit: 10 }))));
  app.get('/models/:name', (c) => {
    const name = c.req.param('name');
    const versions = reg.list(name);
    if (versions.length === 0) {
      return c.html(page('Not found', `<p>unknown model ${esc(name)}</p>`), 404);
    }
    const gates = new Map<string, StoredGateResult | undefined>(
      versions.map((v) => [v.id, reg.gateResults(v.id, 1)[0]]),
    );
    const allGates = versions.flatMap((v) => reg.gateResults(v.id, 5)).sort((a, b) => b.id - a.id);
    return c.html(
      modelPage(
        name,
        versions,
        gates,
        allGates,
        reg.transitions(name),
        reg.alerts({ name, limit: 50 }),
        reg.snapshots(name),
        ctx.deployment?.name === name ? ctx.deployment.version.id : undefined,
        new Map(reg.store.listVersions('dataset').map((d) => [d.rootDigest, d.id] as const)),
      ),
    );
  });
  app.get('/datasets', (c) => c.html(datasetsPage(reg.store.listVersions('dataset'))));
  app.get('/alerts', (c) => c.html(alertsPage(reg.alerts({ limit: 500 }))));
  app.get('/audit', (c) => {
    const entries = reg.store.auditEntries();
    const v = verifyAuditChain(entries);
    return c.html(
      auditPage(entries, {
        ok: v.ok,
        entries: v.entries,
        ...(v.firstBad ? { reason: v.firstBad.reason } : {}),
      }),
    );
  });
  return app;
}
