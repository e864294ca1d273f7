import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sha256Hex } from '../integrity/hash.js';
import { generateSigningKeyPair, keyFingerprint } from '../integrity/keys.js';
import { PROJECT_FOLDER } from '../registry/store.js';
import { parseTokenTable, type TokenTable } from '../server/auth.js';

/**
 * Installs an access policy in the project in `projectDir` whose one principal, `alice` (a fresh
 * key), holds `model:promote`, and returns the API token table naming her by the bearer token
 * `alice-token`, with her key fingerprint.
 */
export async function installApiPrincipal(
  projectDir: string,
): Promise<{ tokens: TokenTable; fingerprint: string }> {
  const fingerprint = keyFingerprint(generateSigningKeyPair().publicKeyPem);
  await writeFile(
    join(projectDir, PROJECT_FOLDER, 'policy.json'),
    JSON.stringify({
      version: 1,
      roles: { ops: ['model:promote'] },
      principals: [{ name: 'alice', fingerprint, roles: ['ops'] }],
    }),
  );
  const tokens = parseTokenTable({
    version: 1,
    tokens: [{ name: 'alice', sha256: sha256Hex('alice-token'), fingerprint }],
  });
  return { tokens, fingerprint };
}
