import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sha256Hex } from '../integrity/hash.js';
import { principalOfToken } from './auth.js';
import { createToken, listTokens, ProjectTokens, revokeToken, tokensPath } from './token-store.js';

describe('project API tokens', () => {
  let root: string;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'antidote-token-store-'));
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('makes distinct 256-bit tokens and keeps only their digests', async () => {
    const a = await createToken(root, { name: 'a', scope: 'read' });
    const b = await createToken(root, { name: 'b', scope: 'admin' });
    expect(a.token).not.toBe(b.token);
    expect(Buffer.from(a.token.slice(4), 'base64url')).toHaveLength(32);
    const live = new ProjectTokens(root);
    expect(live.current()?.tokens.map((t) => t.sha256)).toEqual([
      sha256Hex(a.token),
      sha256Hex(b.token),
    ]);
    expect(principalOfToken(live, b.token)).toMatchObject({
      name: 'b',
      scope: 'admin',
      id: b.info.id,
    });
  });

  it('follows the file: a new token works and a revoked one stops without a restart', async () => {
    const live = new ProjectTokens(root);
    expect(live.current()).toBeUndefined();
    const a = await createToken(root, { name: 'a', scope: 'read' });
    expect(principalOfToken(live, a.token)?.name).toBe('a');
    await revokeToken(root, a.info.id);
    expect(principalOfToken(live, a.token)).toBeUndefined();
    await expect(revokeToken(root, a.info.id)).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('records the last use at most once per interval', async () => {
    const a = await createToken(root, { name: 'a', scope: 'read' });
    const live = new ProjectTokens(root, 60_000);
    expect((await listTokens(root))[0]?.lastUsed).toBeUndefined();
    principalOfToken(live, a.token);
    await live.flush();
    const first = (await listTokens(root))[0]?.lastUsed;
    expect(first).toMatch(/^\d{4}-/);
    await new Promise((r) => setTimeout(r, 5));
    principalOfToken(live, a.token);
    await live.flush();
    expect((await listTokens(root))[0]?.lastUsed).toBe(first);
  });

  it('lists and revokes a hand-made entry (no id) by an id derived from its digest', async () => {
    const digest = sha256Hex('hand-made');
    await createToken(root, { name: 'a', scope: 'read' });
    const raw = JSON.parse(await readFile(tokensPath(root), 'utf8'));
    raw.tokens.push({ name: 'old', sha256: digest });
    await writeFile(tokensPath(root), JSON.stringify(raw));
    const listed = await listTokens(root);
    expect(listed[1]).toEqual({ id: `tok_${digest.slice(0, 16)}`, name: 'old', scope: 'admin' });
    await revokeToken(root, `tok_${digest.slice(0, 16)}`);
    expect((await listTokens(root)).map((t) => t.name)).toEqual(['a']);
  });

  it('refuses a malformed token file, naming it', async () => {
    await createToken(root, { name: 'a', scope: 'read' });
    await writeFile(tokensPath(root), '{"version":1,"tokens":[{"name":"x"}]}');
    expect(() => new ProjectTokens(root).current()).toThrow(/tokens\.json/);
    await expect(listTokens(root)).rejects.toMatchObject({ code: 'INVALID_CONFIG' });
  });
});
