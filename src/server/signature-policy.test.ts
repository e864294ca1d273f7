import { mkdtemp, rm, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generateSigningKeyPair } from '../integrity/keys.js';
import { ModelRegistry } from '../registry/model-registry.js';
import { installApiPrincipal } from '../testing/api-principal.js';
import { installSignaturePolicy, signedRelease } from '../testing/signed-models.js';
import { createApp } from './app.js';

const trusted = generateSigningKeyPair();

describe('POST /api/models/:name/rollback under a signature policy (issue 18 item 2)', () => {
  it('the API refuses like the CLI: 409 SIGNATURE_INVALID, nothing changed, audited', async () => {
    const root = await mkdtemp(join(tmpdir(), 'antidote-api-sigpol-'));
    const reg = ModelRegistry.open(root);
    try {
      const d1 = await signedRelease(reg, root, 'a', 'one', trusted.privateKeyPem);
      await signedRelease(reg, root, 'b', 'two', trusted.privateKeyPem);
      await installSignaturePolicy(root, {
        requireSignature: true,
        trustedKeys: [trusted.publicKeyPem],
      });
      const { tokens, fingerprint: fp } = await installApiPrincipal(root);
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
    } finally {
      reg.close();
      await rm(root, { recursive: true, force: true });
    }
  });
});
