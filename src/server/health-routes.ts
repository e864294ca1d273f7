/** `GET /healthz`, `/readyz` and `/metrics` (Prometheus text exposition format). */
import { Hono } from 'hono';
import type { Deployment } from '../registry/deployment.js';
import type { AppContext, ServerStats } from './http.js';

/** Prometheus text of the request counters, the served model's counters and its monitors. */
function metricsText(d: Deployment | undefined, stats: ServerStats): string {
  const lines: string[] = [];
  const metric = (name: string, help: string, type: string, value: number, labels = '') => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, `${name}${labels} ${value}`);
  };
  metric('antidote_bad_requests_total', 'Requests rejected with 4xx', 'counter', stats.badRequests);
  metric(
    'antidote_body_timeouts_total',
    'Requests whose body did not arrive before the body timeout',
    'counter',
    stats.bodyTimeouts,
  );
  if (d) {
    const lv = `{model="${d.name}",version="${d.version.id}"}`;
    const c = d.counters;
    const lat = stats.latencies;
    metric('antidote_up', 'Serving a model', 'gauge', 1, lv);
    metric('antidote_predict_requests_total', 'Predict requests served', 'counter', c.predictions);
    metric('antidote_predict_records_total', 'Records predicted', 'counter', c.records);
    metric('antidote_predict_failures_total', 'Failed predict requests', 'counter', c.failures);
    metric('antidote_alerts_total', 'Monitor alerts raised', 'counter', c.alerts);
    metric('antidote_rollbacks_total', 'Automatic rollbacks', 'counter', c.rollbacks);
    metric('antidote_predict_latency_p50_ms', 'Median predict latency', 'gauge', lat.quantile(0.5));
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
  return `${lines.join('\n')}\n`;
}

/** The health and metrics routes. */
export function healthRoutes(ctx: AppContext, stats: ServerStats): Hono {
  const app = new Hono();
  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.get('/readyz', (c) => {
    const d = ctx.deployment;
    return d
      ? c.json({ ready: true, model: d.name, version: d.version.id })
      : c.json({ ready: false, reason: 'no model is being served' }, 503);
  });
  app.get('/metrics', (c) =>
    c.text(metricsText(ctx.deployment, stats), 200, {
      'content-type': 'text/plain; version=0.0.4',
    }),
  );
  return app;
}
