import { createPublicKey, type KeyObject, type X509Certificate } from 'node:crypto';
import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import { AntidoteError } from '../errors.js';
import { readText } from '../util/fs.js';
import { parseJson, parseWith } from '../util/schema.js';
import { type AuditLogBackend, appendAudit } from './audit-log.js';
import { canonicalJson } from './canonical-json.js';
import { sha256Hex } from './hash.js';
import { keyAlgorithmOf, keyFingerprint } from './keys.js';
import { parseCertificatesPem } from './x509-chain.js';

/** Every permission an access policy can grant. */
export const PERMISSIONS = [
  'dataset:read',
  'dataset:write',
  'model:register',
  'model:promote',
  'model:deploy',
  'keys:manage',
] as const;

/** One permission. */
export type Permission = (typeof PERMISSIONS)[number];

const fingerprint = z.string().regex(/^sha256:[0-9a-f]{64}$/, 'expected sha256:<64 hex digits>');

/**
 * Zod schema of an access policy file: roles map to permissions; principals are identified by a
 * public key (PEM) or its fingerprint and hold roles. Anything not granted is denied.
 */
export const policySchema = z
  .strictObject({
    version: z.literal(1),
    roles: z.record(z.string().min(1), z.array(z.enum(PERMISSIONS))),
    principals: z.array(
      z
        .strictObject({
          name: z.string().min(1),
          fingerprint: fingerprint.optional(),
          publicKey: z.string().includes('BEGIN PUBLIC KEY').optional(),
          roles: z.array(z.string().min(1)),
        })
        .refine((p) => (p.fingerprint === undefined) !== (p.publicKey === undefined), {
          message: 'give exactly one of fingerprint or publicKey',
        }),
    ),
  })
  .superRefine((p, ctx) => {
    p.principals.forEach((pr, i) => {
      pr.roles.forEach((r, j) => {
        if (!(r in p.roles)) {
          ctx.addIssue({
            code: 'custom',
            path: ['principals', i, 'roles', j],
            message: `unknown role "${r}"`,
          });
        }
      });
    });
  });

/** A validated policy with every principal resolved to a key fingerprint. */
export interface AccessPolicy {
  readonly roles: Readonly<Record<string, readonly Permission[]>>;
  readonly principals: readonly { name: string; fingerprint: string; roles: readonly string[] }[];
}

/** Validates a policy object; `INVALID_CONFIG` naming the field when it does not fit. */
export function parsePolicy(raw: unknown, where = 'policy'): AccessPolicy {
  const data = parseWith(policySchema, raw, where, { code: 'INVALID_CONFIG', withField: true });
  const principals = data.principals.map((p, i) => {
    let fp = p.fingerprint;
    if (!fp) {
      try {
        fp = keyFingerprint(p.publicKey!);
      } catch {
        throw new AntidoteError(
          'INVALID_CONFIG',
          `${where}: principals.${i}.publicKey is not a public key`,
          {
            path: where,
          },
        );
      }
    }
    return { name: p.name, fingerprint: fp, roles: p.roles };
  });
  const seen = new Set<string>();
  for (const p of principals) {
    if (seen.has(p.fingerprint)) {
      throw new AntidoteError('INVALID_CONFIG', `${where}: key ${p.fingerprint} appears twice`, {
        path: where,
      });
    }
    seen.add(p.fingerprint);
  }
  return { roles: data.roles, principals };
}

/** Reads and validates a policy JSON file. */
export async function loadPolicy(path: string): Promise<AccessPolicy> {
  const text = await readText(path, { message: () => `cannot read policy ${path}` });
  return parsePolicy(parseJson(text, path, { code: 'INVALID_CONFIG' }), path);
}

/** An access decision. */
export interface Decision {
  readonly allowed: boolean;
  readonly permission: Permission;
  readonly actor: string;
  readonly principal?: string;
  /** The role that granted the permission, when allowed. */
  readonly role?: string;
  readonly reason: string;
}

/** Default-deny check: does the principal with key `actorFingerprint` hold `permission`? */
export function authorize(
  policy: AccessPolicy,
  actorFingerprint: string | undefined,
  permission: Permission,
): Decision {
  const actor = actorFingerprint ?? 'anonymous';
  const p = actorFingerprint
    ? policy.principals.find((x) => x.fingerprint === actorFingerprint)
    : undefined;
  if (!p) {
    return {
      allowed: false,
      permission,
      actor,
      reason: `${actor} is not a principal of the policy`,
    };
  }
  for (const role of p.roles) {
    if (policy.roles[role]?.includes(permission)) {
      return {
        allowed: true,
        permission,
        actor,
        principal: p.name,
        role,
        reason: `granted by role ${role}`,
      };
    }
  }
  return {
    allowed: false,
    permission,
    actor,
    principal: p.name,
    reason: `no role of ${p.name} grants ${permission}`,
  };
}

/**
 * Authorises and audits: records an `authz` entry (allow or deny) in `audit`, then throws
 * `PERMISSION_DENIED` on deny. Returns the decision when allowed.
 */
export function enforce(
  policy: AccessPolicy,
  actorFingerprint: string | undefined,
  permission: Permission,
  audit: AuditLogBackend | undefined,
  subject?: string,
): Decision {
  const d = authorize(policy, actorFingerprint, permission);
  if (audit) {
    appendAudit(audit, {
      actor: d.actor,
      action: `authz.${permission}`,
      outcome: d.allowed ? 'allow' : 'deny',
      ...(subject ? { subject } : {}),
      details: { reason: d.reason, ...(d.principal ? { principal: d.principal } : {}) },
    });
  }
  if (!d.allowed) {
    throw new AntidoteError('PERMISSION_DENIED', `permission ${permission} denied: ${d.reason}`, {
      permission,
      actor: d.actor,
    });
  }
  return d;
}

/** Zod schema of one trusted key or CA: a PEM text, or a path to a PEM file (relative to the policy). */
const pemOrPath = z.string().min(1).max(100_000);

/**
 * Zod schema of a signature policy (`.antidote/signature-policy.json`): which model signatures
 * the registry, `gate` and `serve` accept when they load or promote a model (issue 18 item 2,
 * issue 19 item 4; docs/signing.md).
 *
 * - `requireSignature` (default `false`, for projects that registered unsigned models before the
 *   policy existed): refuse a model with no signature. When false, a model that carries a
 *   signature must still verify; one without a signature passes, said in a note.
 * - `trustedKeys`: public keys (ECDSA P-256/384/521 or Ed25519; PEM text or a PEM file path) for
 *   the OMS key method; `trustedCAs`: CA certificates (PEM) for the certificate method (X.509 chain,
 *   code-signing usage). A signature by anything else is refused.
 * - `signatureFiles`: where a model's bundle lives, relative to its folder (a directory model, or
 *   the folder holding an ONNX file), first found wins; default `model.sig` (the OMS convention),
 *   then `antidote.sig` (what `antidote sign` writes).
 * - `pinRegisteredContent` (default `true`): the signature must cover exactly the content the
 *   catalogue registered for the version (the replay defence: an older signed version swapped in
 *   is refused even though its signature is valid).
 */
export const signaturePolicySchema = z
  .strictObject({
    version: z.literal(1),
    requireSignature: z.boolean().default(false),
    trustedKeys: z.array(pemOrPath).default([]),
    trustedCAs: z.array(pemOrPath).default([]),
    signatureFiles: z
      .array(
        z
          .string()
          .min(1)
          .refine((p) => !p.startsWith('/') && !p.split(/[\\/]/).includes('..'), {
            message: 'a path relative to the model folder (no leading /, no ..)',
          }),
      )
      .min(1)
      .default(['model.sig', 'antidote.sig']),
    pinRegisteredContent: z.boolean().default(true),
  })
  .refine((p) => !p.requireSignature || p.trustedKeys.length + p.trustedCAs.length > 0, {
    message: 'requireSignature needs at least one of trustedKeys or trustedCAs',
    path: ['requireSignature'],
  });

/** A validated signature policy, its keys and CA certificates loaded. */
export interface SignaturePolicy {
  readonly requireSignature: boolean;
  readonly trustedKeys: readonly KeyObject[];
  readonly trustedCAs: readonly X509Certificate[];
  readonly signatureFiles: readonly string[];
  readonly pinRegisteredContent: boolean;
  /** SHA-256 of the canonical JSON of the policy as written (recorded in audit entries). */
  readonly digest: string;
  /** The file it was read from, when it was read from one. */
  readonly path?: string;
}

function pemText(entry: string, baseDir: string, what: string): Promise<string> {
  if (entry.includes('-----BEGIN ')) return Promise.resolve(entry);
  const p = resolve(baseDir, entry);
  return readText(p, {
    message: () => `cannot read the ${what} ${p} named by the signature policy`,
  });
}

/**
 * Validates a signature policy object and loads its keys and certificates (paths resolved
 * against `baseDir`); `INVALID_CONFIG` naming the field when it does not fit.
 */
export async function parseSignaturePolicy(
  raw: unknown,
  options: { where?: string; baseDir?: string } = {},
): Promise<SignaturePolicy> {
  const where = options.where ?? 'signature policy';
  const baseDir = options.baseDir ?? process.cwd();
  const data = parseWith(signaturePolicySchema, raw, where, {
    code: 'INVALID_CONFIG',
    withField: true,
  });
  const trustedKeys: KeyObject[] = [];
  for (const [i, k] of data.trustedKeys.entries()) {
    const text = await pemText(k, baseDir, 'trusted key');
    try {
      const key = createPublicKey(text);
      keyAlgorithmOf(key, `${where}: trustedKeys.${i}`);
      trustedKeys.push(key);
    } catch (e) {
      throw new AntidoteError(
        'INVALID_CONFIG',
        `${where}: trustedKeys.${i} is not an ECDSA P-256/384/521 or Ed25519 public key (${(e as Error).message})`,
        { path: where },
      );
    }
  }
  const trustedCAs: X509Certificate[] = [];
  for (const [i, c] of data.trustedCAs.entries()) {
    const text = await pemText(c, baseDir, 'trusted CA');
    try {
      trustedCAs.push(...parseCertificatesPem(text, `${where}: trustedCAs.${i}`));
    } catch (e) {
      throw new AntidoteError('INVALID_CONFIG', (e as Error).message, { path: where });
    }
  }
  return {
    requireSignature: data.requireSignature,
    trustedKeys,
    trustedCAs,
    signatureFiles: data.signatureFiles,
    pinRegisteredContent: data.pinRegisteredContent,
    digest: sha256Hex(canonicalJson(raw)),
  };
}

/** Reads and validates a signature policy file (key and CA paths relative to the file). */
export async function loadSignaturePolicy(path: string): Promise<SignaturePolicy> {
  const text = await readText(path, { message: () => `cannot read signature policy ${path}` });
  return {
    ...(await parseSignaturePolicy(parseJson(text, path, { code: 'INVALID_CONFIG' }), {
      where: path,
      baseDir: dirname(resolve(path)),
    })),
    path: resolve(path),
  };
}
