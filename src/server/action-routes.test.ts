import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { verifyAuditChain } from '../integrity/audit-log.js';
import { ModelRegistry } from '../registry/model-registry.js';
import { installApiPrincipal } from '../testing/api-principal.js';
import { createApp } from './app.js';

describe('POST /api/models/:name/rollback', () => {
  let root: string;
  let reg: ModelRegistry;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'antidote-actions-'));
    reg = ModelRegistry.open(root);
  });
  afterEach(async () => {
    reg.close();
    await rm(root, { recursive: true, force: true });
  });

  it('refuses a rollback to a version whose files changed: 409, nothing changed, audited (issue 19, item 4)', async () => {
    for (const c of ['1', '2']) {
      const d = join(root, 'models', c);
      await mkdir(d, { recursive: true });
      await writeFile(join(d, 'weights.bin'), c);
      const v = (await reg.register(d, { name: 'm' })).version;
      reg.recordGateResult(v.id, { passed: true, policyDigest: 'p', result: {} });
      await reg.promote(v.id, { actor: 'ci' });
    }
    const { tokens } = await installApiPrincipal(root);
    const app = createApp({ registry: reg, tokens });
    const rollback = () =>
      app.request('/api/models/m/rollback', {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: 'Bearer alice-token' },
        body: JSON.stringify({ reason: 'bad release' }),
      });
    await writeFile(join(root, 'models', '1', 'weights.bin'), 'tampered');
    const r = await rollback();
    expect(r.status).toBe(409);
    expect(await r.json()).toMatchObject({
      error: { code: 'INTEGRITY_MISMATCH', message: expect.stringMatching(/nothing was changed/) },
    });
    expect(reg.production('m')?.id).toBe('m@2');
    expect(reg.get('m@1').stage).toBe('archived');
    const last = reg.store.auditEntries().at(-1);
    expect(last).toMatchObject({
      action: 'model.rollback',
      subject: 'model:m@1',
      outcome: 'error',
    });
    expect(verifyAuditChain(reg.store.auditEntries()).ok).toBe(true);
    await writeFile(join(root, 'models', '1', 'weights.bin'), '1');
    expect((await rollback()).status).toBe(200);
    expect(reg.production('m')?.id).toBe('m@1');
  });
});
