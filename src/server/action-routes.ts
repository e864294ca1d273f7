/**
 * The changes the API accepts: `POST /api/models/:name/promote` and `/rollback`. The bearer
 * token names a principal, the project's access policy decides, and the registry audits.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { type Context, Hono } from 'hono';
import { z } from 'zod';
import { AntidoteError } from '../errors.js';
import { type AccessPolicy, loadPolicy } from '../integrity/policy.js';
import { PROJECT_FOLDER } from '../registry/store.js';
import { principalFor, type TokenScope } from './auth.js';
import {
  type AppContext,
  jsonBodyLimit,
  parseRequest,
  readJson,
  type ServerStats,
} from './http.js';

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

/**
 * The principal of the request's bearer token (of `scope` or higher) and the installed access
 * policy: `PERMISSION_DENIED` without such a token or without a policy (default deny).
 */
async function actorFor(
  ctx: AppContext,
  c: Context,
  scope: TokenScope,
): Promise<{ fingerprint: string; policy: AccessPolicy }> {
  const who = principalFor(ctx.tokens, c.req.header('authorization'), scope);
  const path = join(ctx.registry.store.projectDir, PROJECT_FOLDER, 'policy.json');
  if (!existsSync(path)) {
    throw new AntidoteError(
      'PERMISSION_DENIED',
      'no access policy installed (antidote policy set): changes are denied by default',
    );
  }
  return { fingerprint: who.fingerprint, policy: await loadPolicy(path) };
}

/** Promote and rollback; the served deployment follows at once. */
export function actionRoutes(ctx: AppContext, stats: ServerStats): Hono {
  const app = new Hono();
  const reg = ctx.registry;
  const limit = jsonBodyLimit(ctx, stats);
  app.post('/api/models/:name/promote', limit, async (c) => {
    const name = c.req.param('name');
    const body = parseRequest(promoteSchema, await readJson(c));
    const v = reg.get(body.version);
    if (v.name !== name)
      throw new AntidoteError('INVALID_ARGUMENT', `${v.id} is not a version of ${name}`);
    const who = await actorFor(ctx, c, body.override ? 'admin' : 'write');
    if (body.override && !body.reason?.trim()) {
      throw new AntidoteError('INVALID_ARGUMENT', 'an override needs a reason');
    }
    const r = await reg.promote(v.id, {
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
    const body = parseRequest(rollbackSchema, await readJson(c));
    const who = await actorFor(ctx, c, 'write');
    const r = await reg.rollback(name, {
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
  return app;
}
