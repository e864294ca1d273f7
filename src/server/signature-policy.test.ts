import { createPrivateKey } from 'node:crypto';
import { mkdir, mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sha256Hex } from '../integrity/hash.js';
import { generateSigningKeyPair, keyFingerprint } from '../integrity/keys.js';
import { signModel } from '../integrity/model-signing.js';
import { ModelRegistry } from '../registry/model-registry.js';
import { signaturePolicyPath } from '../registry/signature-policy.js';
import { PROJECT_FOLDER } from '../registry/store.js';
import { createApp } from './app.js';
import { parseTokenTable } from './auth.js';

const trusted = generateSigningKeyPair();

async function installPolicy(root: string, policy: object): Promise<void> {
  await writeFile(signaturePolicyPath(root), JSON.stringify({ version: 1, ...policy }));
}

describe('POST /api/models/:name/rollback under a signature policy (issue 18 item 2)', () => {
  let root: string;
  let reg: ModelRegistry;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'antidote-api-sigpol-'));
    reg = ModelRegistry.open(root);
  });
  afterEach(async () => {
    reg.close();
    await rm(root, { recursive: true, force: true });
  });

  /** Registers and promotes a signed model `m@N`; returns its directory. */
  async function release(name: string, content: string): Promise<string> {
    const d = join(root, 'models', name);
    await mkdir(d, { recursive: true });
    await writeFile(join(d, 'weights.bin'), content);
    await signModel(d, createPrivateKey(trusted.privateKeyPem));
    const v = (await reg.register(d, { name: 'm', actor: 'ci' })).version;
    reg.recordGateResult(v.id, { passed: true, policyDigest: 'p', result: {} });
    await reg.promote(v.id, { actor: 'ci' });
    return d;
  }

  it('the API refuses like the CLI: 409 SIGNATURE_INVALID, nothing changed, audited', async () => {
    const d1 = await release('a', 'one');
    await release('b', 'two');
    await installPolicy(root, { requireSignature: true, trustedKeys: [trusted.publicKeyPem] });
    const fp = keyFingerprint(generateSigningKeyPair().publicKeyPem);
    await writeFile(
      join(root, PROJECT_FOLDER, 'policy.json'),
      JSON.stringify({
        version: 1,
        roles: { ops: ['model:promote'] },
        principals: [{ name: 'alice', fingerprint: fp, roles: ['ops'] }],
      }),
    );
    const tokens = parseTokenTable({
      version: 1,
      tokens: [{ name: 'alice', sha256: sha256Hex('alice-token'), fingerprint: fp }],
    });
    const app = createApp({ registry: reg, tokens });
    await unlink(join(d1, 'antidote.sig'));
    const r = await app.request('/api/models/m/rollback', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer alice-token' },
      body: JSON.stringify({ reason: 'bad release' }),
    });
    expect(r.status).toBe(409);
    expect(await r.json()).toMatchObject({
      error: { code: 'SIGNATURE_INVALID', message: expect.stringMatching(/nothing was changed/) },
    });
    expect(reg.production('m')?.id).toBe('m@2');
    expect(reg.store.auditEntries().at(-2)).toMatchObject({
      action: 'model.rollback',
      actor: fp,
      outcome: 'error',
    });
    // The dashboard lists the refusal with the alerts.
    const page = await (await app.request('/alerts')).text();
    expect(page).toMatch(/signature/);
    expect(page).toMatch(/model\.rollback refused/);
  });
});
