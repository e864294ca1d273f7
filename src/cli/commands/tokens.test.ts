import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSigningKeyPair, keyFingerprint } from '../../integrity/keys.js';
import { ModelRegistry } from '../../registry/model-registry.js';
import { createApp } from '../../server/app.js';
import { ProjectTokens, tokensPath } from '../../server/token-store.js';
import { runCli } from '../../testing/run-cli.js';

/**
 * `antidote tokens create|list|revoke` through the built CLI, and the tokens it makes through
 * the API of a server reading the same project with read auth on (issue 21, item 5).
 */
describe('antidote tokens (CLI) and serve --auth read (API)', () => {
  let root: string;
  let reg: ModelRegistry;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'antidote-tokens-'));
    reg = ModelRegistry.open(root);
  });
  afterAll(async () => {
    reg.close();
    await rm(root, { recursive: true, force: true });
  });
  const cli = (...args: string[]) => runCli(['tokens', ...args, '--project', root]);

  it('creates a read token shown once, lists it without the token, and the API honours it until revoked', async () => {
    const made = cli('create', '--name', 'grafana', '--scope', 'read', '--json');
    expect(made.stderr).toBe('');
    expect(made.code).toBe(0);
    const created = JSON.parse(made.stdout) as { id: string; token: string; scope: string };
    expect(created.id).toMatch(/^tok_[0-9a-f]{16}$/);
    expect(created.token).toMatch(/^adt_[A-Za-z0-9_-]{43}$/);
    expect(created.scope).toBe('read');
    // Hashed at rest: the project keeps the digest only, readable by its owner only.
    const file = readFileSync(tokensPath(root), 'utf8');
    expect(file).not.toContain(created.token);
    expect(file).not.toContain(created.token.slice(4, 20));
    expect(statSync(tokensPath(root)).mode & 0o077).toBe(0);

    const listed = cli('list', '--json');
    expect(listed.code).toBe(0);
    expect(listed.stdout).not.toContain(created.token);
    expect(listed.stdout).not.toContain('sha256');
    const rows = JSON.parse(listed.stdout) as Record<string, unknown>[];
    expect(rows).toHaveLength(1);
    expect(rows[0]).toEqual({
      id: created.id,
      name: 'grafana',
      scope: 'read',
      created: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    });

    const tokens = new ProjectTokens(root);
    const app = createApp({ registry: reg, tokens, requireReadAuth: true });
    const get = (path: string, authorization?: string) =>
      app.request(path, authorization ? { headers: { authorization } } : {});
    const bearer = `Bearer ${created.token}`;
    // Without a token: 401 asking for one, for the API, the dashboard, metrics and predict.
    for (const path of ['/api/audit', '/', '/audit', '/metrics']) {
      const r = await get(path);
      expect(r.status, path).toBe(401);
      expect(r.headers.get('www-authenticate')).toMatch(/Basic realm="antidote"/);
    }
    const predict = await app.request('/v1/predict', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"records":[]}',
    });
    expect(predict.status).toBe(401);
    expect((await get('/api/audit', 'Bearer adt_wrong')).status).toBe(401);
    // Probes stay open.
    expect((await get('/healthz')).status).toBe(200);
    // With it: as a bearer token, or as a browser's Basic password.
    expect((await get('/api/audit', bearer)).status).toBe(200);
    expect((await get('/', bearer)).status).toBe(200);
    const basic = `Basic ${Buffer.from(`me:${created.token}`).toString('base64')}`;
    expect((await get('/audit', basic)).status).toBe(200);
    // A read token makes no changes.
    const promote = await app.request('/api/models/m/rollback', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: bearer },
      body: JSON.stringify({ reason: 'test' }),
    });
    expect(promote.status).toBe(403);
    expect(await promote.json()).toMatchObject({
      error: {
        code: 'PERMISSION_DENIED',
        message: expect.stringMatching(/scope read.*needs write/),
      },
    });

    // Its use shows in the list.
    await tokens.flush();
    const used = JSON.parse(cli('list', '--json').stdout) as { lastUsed?: string }[];
    expect(used[0]?.lastUsed).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(cli('list').stdout).toMatch(
      /^ID +NAME +SCOPE +CREATED +LAST USED\ntok_\S+ +grafana +read /,
    );

    // Revoked: the running app refuses it at once; the revocation is audited.
    const revoked = cli('revoke', created.id);
    expect(revoked.code).toBe(0);
    expect(revoked.stdout).toContain(`revoked ${created.id}`);
    expect((await get('/api/audit', bearer)).status).toBe(401);
    expect(reg.store.auditEntries().map((e) => e.action)).toEqual(
      expect.arrayContaining(['tokens.create', 'tokens.revoke']),
    );
    expect(JSON.parse(cli('list', '--json').stdout)).toEqual([]);
  });

  it('without read auth, reads stay open (the default is unchanged)', async () => {
    const app = createApp({ registry: reg, tokens: new ProjectTokens(root) });
    expect((await app.request('/api/audit')).status).toBe(200);
    expect((await app.request('/')).status).toBe(200);
  });

  it('binds write tokens to a principal and refuses what it cannot do', async () => {
    const noPrincipal = cli('create', '--name', 'ci', '--scope', 'write');
    expect(noPrincipal.code).toBe(2);
    expect(noPrincipal.stderr).toMatch(/\[INVALID_ARGUMENT\].*--principal-key/);
    const pair = generateSigningKeyPair();
    const pub = join(root, 'ci.pub');
    writeFileSync(pub, pair.publicKeyPem);
    const out = join(root, 'ci.token');
    const made = cli(
      'create',
      '--name',
      'ci',
      '--scope',
      'write',
      '--principal-key',
      pub,
      '--token-file',
      out,
      '--quiet',
    );
    expect(made.code).toBe(0);
    const id = made.stdout.trim();
    expect(id).toMatch(/^tok_[0-9a-f]{16}$/);
    expect(statSync(out).mode & 0o077).toBe(0);
    const again = cli('create', '--name', 'ci', '--token-file', out);
    expect(again.code).toBe(73);
    expect(again.stderr).toMatch(/\[ALREADY_EXISTS\].*--force/);
    const rows = JSON.parse(cli('list', '--json').stdout) as { id: string; fingerprint?: string }[];
    expect(rows.find((r) => r.id === id)?.fingerprint).toBe(keyFingerprint(pair.publicKeyPem));
    const unknown = cli('revoke', 'tok_0000000000000000');
    expect(unknown.code).toBe(66);
    expect(unknown.stderr).toMatch(/\[NOT_FOUND\]: .*tokens list/);
  });

  it('serve --auth read refuses to start without any token', () => {
    const empty = join(root, 'empty');
    ModelRegistry.open(empty).close();
    const r = runCli(['serve', '--model', 'm', '--auth', 'read', '--project', empty]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/\[INVALID_ARGUMENT\]: --auth read needs API tokens.*tokens create/);
  });
});
