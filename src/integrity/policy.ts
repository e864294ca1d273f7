import { z } from 'zod';
import { AntidoteError } from '../errors.js';
import { readText } from '../util/fs.js';
import { parseJson, parseWith } from '../util/schema.js';
import { type AuditLogBackend, appendAudit } from './audit-log.js';
import { keyFingerprint } from './keys.js';

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
