/**
 * The HTTP app, composed of hono sub-apps mounted with `app.route()`: health and metrics,
 * prediction, the read-only JSON API, promote / rollback, and the dashboard. This file adds what
 * they share: security headers, the JSON error replies and the 404.
 */
import { Hono } from 'hono';
import { AntidoteError } from '../errors.js';
import { actionRoutes } from './action-routes.js';
import { apiRoutes } from './api-routes.js';
import { readAuth } from './auth.js';
import { dashboardRoutes } from './dashboard-routes.js';
import { healthRoutes } from './health-routes.js';
import { type AppContext, errorBody, HTTP_STATUS, ServerStats } from './http.js';
import { predictRoutes } from './predict-routes.js';

export type { AppContext } from './http.js';

const CONTENT_SECURITY_POLICY =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/**
 * The hono app: `POST /v1/predict` (production model, records checked against it, body size
 * limit), `GET /healthz`, `/readyz`, `/metrics` (Prometheus text), the read-only JSON API under
 * `/api/`, promote and rollback (`POST /api/models/:name/promote|rollback`, bearer token →
 * principal → access policy, audited), and the dashboard pages. Bad requests get a 4xx JSON
 * error.
 */
export function createApp(ctx: AppContext): Hono {
  const app = new Hono();
  const stats = new ServerStats();
  app.use('*', async (c, next) => {
    await next();
    c.header('X-Content-Type-Options', 'nosniff');
    c.header('Referrer-Policy', 'no-referrer');
    c.header('Content-Security-Policy', CONTENT_SECURITY_POLICY);
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
  if (ctx.requireReadAuth) app.use('*', readAuth(ctx.tokens));
  app.route('/', healthRoutes(ctx, stats));
  app.route('/', predictRoutes(ctx, stats));
  app.route('/', apiRoutes(ctx));
  app.route('/', actionRoutes(ctx, stats));
  app.route('/', dashboardRoutes(ctx));
  return app;
}
