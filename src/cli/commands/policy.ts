import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import { AntidoteError } from '../../errors.js';
import {
  type AccessPolicy,
  authorize,
  type Decision,
  enforce,
  keyFingerprint,
  loadPolicy,
  loadPrivateKey,
  loadPublicKey,
  loadSignaturePolicy,
  PERMISSIONS,
  type Permission,
  parsePolicy,
} from '../../integrity/index.js';
import { signaturePolicyPath } from '../../registry/signature-policy.js';
import { SqliteCatalogueStore } from '../../registry/sqlite-store.js';
import { type CatalogueStore, PROJECT_FOLDER, resolveProjectDir } from '../../registry/store.js';
import { writeFileAtomic } from '../../util/fs.js';
import { type OutputOptions, printResult } from '../output.js';

/** Path of a project's access policy. */
export function policyPath(projectDir: string): string {
  return join(projectDir, PROJECT_FOLDER, 'policy.json');
}

/** The fingerprint of the key in `keyPath` (private or public PEM), or undefined. */
export async function actorOf(keyPath: string | undefined): Promise<string | undefined> {
  if (!keyPath) return undefined;
  const pem = await readFile(keyPath, 'utf8').catch(() => {
    throw new AntidoteError('NOT_FOUND', `cannot read key ${keyPath}`, { path: keyPath });
  });
  const key = pem.includes('PRIVATE KEY')
    ? await loadPrivateKey(keyPath)
    : await loadPublicKey(keyPath);
  return keyFingerprint(key);
}

/**
 * CLI enforcement: when the project has a policy (`.antidote/policy.json`), the actor (holder of
 * the key at `keyPath`) must hold `permission`; the decision is audited either way and a deny
 * throws `PERMISSION_DENIED`. Without a policy, nothing is enforced (returns undefined).
 */
export async function requirePermission(
  store: CatalogueStore,
  keyPath: string | undefined,
  permission: Permission,
  subject?: string,
): Promise<Decision | undefined> {
  const path = policyPath(store.projectDir);
  if (!existsSync(path)) return undefined;
  const policy: AccessPolicy = await loadPolicy(path);
  return enforce(policy, await actorOf(keyPath), permission, store, subject);
}

/** `antidote policy set|show|check`. */
export function registerPolicyCommand(program: Command): void {
  const cmd = program
    .command('policy')
    .description('access policy: principals (by key), roles, permissions; default deny');
  cmd
    .command('set <file>')
    .description(
      `validate FILE and install it as the project policy (${PROJECT_FOLDER}/policy.json)`,
    )
    .option('--project <dir>', 'project folder (default: nearest with .antidote/)')
    .option('--key <file>', 'your key; needs keys:manage when a policy is already installed')
    .option('--json', 'print the result as JSON')
    .action(async (file: string, o: OutputOptions & { project?: string; key?: string }) => {
      const policy = await loadPolicy(file);
      const store = SqliteCatalogueStore.open(
        resolveProjectDir({ explicit: o.project, cwd: process.cwd(), create: true }),
      );
      try {
        await requirePermission(store, o.key, 'keys:manage', 'policy');
        const text = await readFile(file, 'utf8');
        parsePolicy(JSON.parse(text), file);
        await writeFileAtomic(policyPath(store.projectDir), text);
        const { appendAudit } = await import('../../integrity/index.js');
        appendAudit(store, {
          actor: (await actorOf(o.key)) ?? 'anonymous',
          action: 'policy.set',
          outcome: 'ok',
          details: {
            principals: policy.principals.length,
            roles: Object.keys(policy.roles).length,
          },
        });
        printResult(
          o,
          `policy installed: ${policy.principals.length} principals, ${Object.keys(policy.roles).length} roles`,
          {
            path: policyPath(store.projectDir),
            principals: policy.principals,
          },
        );
      } finally {
        store.close();
      }
    });
  cmd
    .command('set-signature <file>')
    .description(
      `validate FILE (a signature policy: requireSignature, trustedKeys, trustedCAs, …) and install it as ${PROJECT_FOLDER}/signature-policy.json, the policy the registry, gate and serve check model signatures under (docs/signing.md)`,
    )
    .option('--project <dir>', 'project folder (default: nearest with .antidote/)')
    .option('--key <file>', 'your key; needs keys:manage when an access policy is installed')
    .option('--json', 'print the result as JSON')
    .action(async (file: string, o: OutputOptions & { project?: string; key?: string }) => {
      // Loads every trusted key and CA it names (paths relative to FILE): a policy that would
      // not load is never installed.
      const policy = await loadSignaturePolicy(file);
      const raw = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
      const store = SqliteCatalogueStore.open(
        resolveProjectDir({ explicit: o.project, cwd: process.cwd(), create: true }),
      );
      try {
        await requirePermission(store, o.key, 'keys:manage', 'signature-policy');
        // Installed self-contained: keys and certificates inline as PEM, so the policy does not
        // depend on where FILE was or on files beside it.
        const installed = {
          ...raw,
          trustedKeys: policy.trustedKeys.map((k) =>
            k.export({ type: 'spki', format: 'pem' }).toString(),
          ),
          trustedCAs: policy.trustedCAs.map((c) => c.toString()),
        };
        const path = signaturePolicyPath(store.projectDir);
        await writeFileAtomic(path, `${JSON.stringify(installed, null, 2)}\n`);
        const check = await loadSignaturePolicy(path);
        const { appendAudit } = await import('../../integrity/index.js');
        appendAudit(store, {
          actor: (await actorOf(o.key)) ?? 'anonymous',
          action: 'policy.signature.set',
          outcome: 'ok',
          details: {
            digest: check.digest,
            requireSignature: check.requireSignature,
            trustedKeys: check.trustedKeys.length,
            trustedCAs: check.trustedCAs.length,
          },
        });
        printResult(
          o,
          `signature policy installed: ${check.requireSignature ? 'signatures required' : 'signatures checked when present'}, ${check.trustedKeys.length} trusted keys, ${check.trustedCAs.length} trusted CAs`,
          {
            path,
            digest: check.digest,
            requireSignature: check.requireSignature,
            trustedKeys: check.trustedKeys.length,
            trustedCAs: check.trustedCAs.length,
            signatureFiles: check.signatureFiles,
            pinRegisteredContent: check.pinRegisteredContent,
          },
        );
      } finally {
        store.close();
      }
    });
  cmd
    .command('check')
    .description('would the holder of KEY be allowed PERMISSION? (not audited)')
    .requiredOption('--key <file>', 'private or public key of the actor')
    .requiredOption('--permission <p>', `one of ${PERMISSIONS.join(', ')}`)
    .option('--policy <file>', 'policy file (default: the project policy)')
    .option('--project <dir>', 'project folder')
    .option('--json', 'print the result as JSON')
    .action(
      async (
        o: OutputOptions & { key: string; permission: string; policy?: string; project?: string },
      ) => {
        if (!(PERMISSIONS as readonly string[]).includes(o.permission)) {
          throw new AntidoteError(
            'INVALID_ARGUMENT',
            `unknown permission ${o.permission}; use one of ${PERMISSIONS.join(', ')}`,
          );
        }
        const path =
          o.policy ?? policyPath(resolveProjectDir({ explicit: o.project, cwd: process.cwd() }));
        const d = authorize(
          await loadPolicy(path),
          await actorOf(o.key),
          o.permission as Permission,
        );
        printResult(
          o,
          `${d.allowed ? 'ALLOW' : 'DENY'} ${d.permission} for ${d.principal ?? d.actor}: ${d.reason}`,
          d,
        );
      },
    );
}
