/**
 * The read-only JSON API under `/api/`: models, versions, datasets, alerts (also grouped:
 * `/api/alerts/groups`), audit, monitoring.
 */
import { Hono } from 'hono';
import { AntidoteError } from '../errors.js';
import { verifyAuditChain } from '../integrity/audit-log.js';
import { groupAlerts } from './alert-groups.js';
import type { AppContext } from './http.js';

/** The read-only JSON API. */
export function apiRoutes(ctx: AppContext): Hono {
  const app = new Hono();
  const reg = ctx.registry;
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
  // The same alerts de-duplicated: one entry per burst, with count and first/last seen.
  app.get('/api/alerts/groups', (c) => c.json(groupAlerts(reg.alerts({ limit: 500 }))));
  app.get('/api/audit', (c) => {
    const entries = reg.store.auditEntries();
    return c.json({ verification: verifyAuditChain(entries), entries });
  });
  app.get('/api/monitoring/:name', (c) => c.json(reg.snapshots(c.req.param('name'))));
  return app;
}
