import { createPrivateKey } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { signModel } from '../integrity/model-signing.js';
import type { ModelRegistry } from '../registry/model-registry.js';
import { signaturePolicyPath } from '../registry/signature-policy.js';

/** Writes the signature policy `{ version: 1, ...policy }` into the project in `projectDir`. */
export async function installSignaturePolicy(projectDir: string, policy: object): Promise<void> {
  await writeFile(signaturePolicyPath(projectDir), JSON.stringify({ version: 1, ...policy }));
}

/**
 * A model folder `root/models/NAME` holding `weights.bin` = `content`, signed (OMS, key method,
 * `antidote.sig`) with `privateKeyPem`, registered as a version of `m`, passed through a recorded
 * gate and promoted to production. Returns the folder.
 */
export async function signedRelease(
  reg: ModelRegistry,
  root: string,
  name: string,
  content: string,
  privateKeyPem: string,
): Promise<string> {
  const d = join(root, 'models', name);
  await mkdir(d, { recursive: true });
  await writeFile(join(d, 'weights.bin'), content);
  await signModel(d, createPrivateKey(privateKeyPem));
  const v = (await reg.register(d, { name: 'm', actor: 'ci' })).version;
  reg.recordGateResult(v.id, { passed: true, policyDigest: 'p', result: {} });
  await reg.promote(v.id, { actor: 'ci' });
  return d;
}
