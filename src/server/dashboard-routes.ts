/** The dashboard: its assets and HTML pages (models, one model, datasets, alerts, audit). */
import { Hono } from 'hono';
import { verifyAuditChain } from '../integrity/audit-log.js';
import type { StoredGateResult } from '../registry/model-registry.js';
import { APP_CSS, APP_JS } from './assets.js';
import {
  alertsPage,
  auditPage,
  type DashboardView,
  datasetsPage,
  esc,
  modelPage,
  modelsPage,
  page,
} from './dashboard.js';
import type { AppContext } from './http.js';

/**
 * How the pages of `ctx` are shown, now: read-only (no token box, no action buttons) unless a
 * token of scope `write` or `admin` exists, since no change could be accepted otherwise. The
 * project's token table can change while the server runs, so this is asked per page.
 */
export function dashboardView(ctx: AppContext): DashboardView {
  const t = ctx.tokens;
  const table = t && 'current' in t ? t.current() : t;
  const acceptsChanges = table?.tokens.some((e) => (e.scope ?? 'admin') !== 'read') ?? false;
  return { readOnly: !acceptsChanges };
}

/** The page of model `name` (404 page when it has no version). */
function modelRoute(ctx: AppContext, name: string): { html: string; status: 200 | 404 } {
  const reg = ctx.registry;
  const versions = reg.list(name);
  if (versions.length === 0) {
    return {
      html: page('Not found', `<p>unknown model ${esc(name)}</p>`, dashboardView(ctx)),
      status: 404,
    };
  }
  const gates = new Map<string, StoredGateResult | undefined>(
    versions.map((v) => [v.id, reg.gateResults(v.id, 1)[0]]),
  );
  const allGates = versions.flatMap((v) => reg.gateResults(v.id, 5)).sort((a, b) => b.id - a.id);
  return {
    html: modelPage(
      name,
      versions,
      gates,
      allGates,
      reg.transitions(name),
      reg.alerts({ name, limit: 50 }),
      reg.snapshots(name),
      ctx.deployment?.name === name ? ctx.deployment.version.id : undefined,
      new Map(reg.store.listVersions('dataset').map((d) => [d.rootDigest, d.id] as const)),
      dashboardView(ctx),
    ),
    status: 200,
  };
}

/** The dashboard routes. */
export function dashboardRoutes(ctx: AppContext): Hono {
  const app = new Hono();
  const reg = ctx.registry;
  app.get('/assets/app.css', (c) =>
    c.body(APP_CSS, 200, { 'content-type': 'text/css; charset=utf-8' }),
  );
  app.get('/assets/app.js', (c) =>
    c.body(APP_JS, 200, { 'content-type': 'text/javascript; charset=utf-8' }),
  );
  app.get('/', (c) =>
    c.html(modelsPage(reg.models(), reg.alerts({ limit: 500 }), dashboardView(ctx))),
  );
  app.get('/models/:name', (c) => {
    const r = modelRoute(ctx, c.req.param('name'));
    return c.html(r.html, r.status);
  });
  app.get('/datasets', (c) =>
    c.html(datasetsPage(reg.store.listVersions('dataset'), dashboardView(ctx))),
  );
  app.get('/alerts', (c) => c.html(alertsPage(reg.alerts({ limit: 500 }), dashboardView(ctx))));
  app.get('/audit', (c) => {
    const entries = reg.store.auditEntries();
    const v = verifyAuditChain(entries);
    return c.html(
      auditPage(
        entries,
        {
          ok: v.ok,
          entries: v.entries,
          ...(v.firstBad ? { reason: v.firstBad.reason } : {}),
        },
        dashboardView(ctx),
      ),
    );
  });
  return app;
}
