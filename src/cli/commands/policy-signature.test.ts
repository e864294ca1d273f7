import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyAuditChain } from '../../integrity/audit-log.js';
import { generateSigningKeyPair } from '../../integrity/keys.js';
import { projectSignaturePolicy, signaturePolicyPath } from '../../registry/signature-policy.js';
import { SqliteCatalogueStore } from '../../registry/sqlite-store.js';
import { runCommands } from '../../testing/run-commands.js';
import { registerPolicyCommand } from './policy.js';

const cli = (args: string[]) => runCommands([registerPolicyCommand], args);

describe('antidote policy set-signature', () => {
  let root: string;
  let project: string;
  const key = generateSigningKeyPair();
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'antidote-policy-sig-'));
    project = join(root, 'project');
    await mkdir(project);
    // The policy names its key by a path relative to the policy file, in a folder of its own.
    await mkdir(join(root, 'keys'));
    await writeFile(join(root, 'keys', 'release.pub'), key.publicKeyPem);
  });
  afterAll(() => rm(root, { recursive: true, force: true }));

  it('installs a validated, self-contained policy that the registry then loads; audited', async () => {
    const file = join(root, 'keys', 'policy.json');
    await writeFile(
      file,
      JSON.stringify({ version: 1, requireSignature: true, trustedKeys: ['release.pub'] }),
    );
    const r = await cli(['policy', 'set-signature', file, '--project', project, '--json']);
    expect(r.error).toBeUndefined();
    expect(JSON.parse(r.out)).toMatchObject({ requireSignature: true, trustedKeys: 1 });
    // Inline PEM: moving or deleting the original key file changes nothing.
    await rm(join(root, 'keys'), { recursive: true });
    const installed = JSON.parse(await readFile(signaturePolicyPath(project), 'utf8'));
    expect(installed.trustedKeys[0]).toContain('-----BEGIN PUBLIC KEY-----');
    const policy = await projectSignaturePolicy(project);
    expect(policy?.requireSignature).toBe(true);
    expect(policy?.trustedKeys).toHaveLength(1);
    const store = SqliteCatalogueStore.open(project);
    try {
      const entries = store.auditEntries();
      expect(entries.at(-1)).toMatchObject({ action: 'policy.signature.set', outcome: 'ok' });
      expect(verifyAuditChain(entries).ok).toBe(true);
    } finally {
      store.close();
    }
  });

  it('refuses a policy that would not load, and installs nothing', async () => {
    const other = join(root, 'other');
    await mkdir(other);
    const bad = join(root, 'bad.json');
    // requireSignature without any trusted key or CA.
    await writeFile(bad, JSON.stringify({ version: 1, requireSignature: true }));
    const r = await cli(['policy', 'set-signature', bad, '--project', other]);
    expect(r.error?.code).toBe('INVALID_CONFIG');
    expect(r.error?.message).toMatch(/requireSignature needs at least one/);
    const missing = join(root, 'missing.json');
    await writeFile(missing, JSON.stringify({ version: 1, trustedKeys: ['nowhere.pub'] }));
    const m = await cli(['policy', 'set-signature', missing, '--project', other]);
    expect(m.error?.code).toBe('NOT_FOUND');
    expect(existsSync(signaturePolicyPath(other))).toBe(false);
  });
});
