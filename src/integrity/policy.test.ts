import { describe, expect, it } from 'vitest';
import { isAntidoteError } from '../errors.js';
import { MemoryAuditLog, verifyAuditChain } from './audit-log.js';
import { generateSigningKeyPair } from './keys.js';
import { authorize, enforce, parsePolicy } from './policy.js';

const alice = generateSigningKeyPair();
const bob = generateSigningKeyPair();
const mallory = generateSigningKeyPair();

const raw = {
  version: 1,
  roles: {
    curator: ['dataset:read', 'dataset:write'],
    releaser: ['model:register', 'model:promote', 'model:deploy'],
  },
  principals: [
    { name: 'alice', publicKey: alice.publicKeyPem, roles: ['curator', 'releaser'] },
    { name: 'bob', fingerprint: bob.fingerprint, roles: ['curator'] },
  ],
};

describe('access policy', () => {
  const policy = parsePolicy(raw);

  it('grants by role and denies by default', () => {
    expect(authorize(policy, alice.fingerprint, 'model:deploy')).toMatchObject({
      allowed: true,
      role: 'releaser',
    });
    expect(authorize(policy, bob.fingerprint, 'dataset:write').allowed).toBe(true);
    expect(authorize(policy, bob.fingerprint, 'model:deploy')).toMatchObject({
      allowed: false,
      principal: 'bob',
    });
    expect(authorize(policy, bob.fingerprint, 'keys:manage').allowed).toBe(false);
    expect(authorize(policy, mallory.fingerprint, 'dataset:read').allowed).toBe(false);
    expect(authorize(policy, undefined, 'dataset:read')).toMatchObject({
      allowed: false,
      actor: 'anonymous',
    });
  });

  it('audits every allow and deny', () => {
    const audit = new MemoryAuditLog();
    enforce(policy, alice.fingerprint, 'dataset:write', audit, 'dataset:x');
    let err: unknown;
    try {
      enforce(policy, mallory.fingerprint, 'model:deploy', audit);
    } catch (e) {
      err = e;
    }
    expect(isAntidoteError(err, 'PERMISSION_DENIED')).toBe(true);
    expect(audit.entries.map((e) => [e.actor, e.action, e.outcome])).toEqual([
      [alice.fingerprint, 'authz.dataset:write', 'allow'],
      [mallory.fingerprint, 'authz.model:deploy', 'deny'],
    ]);
    expect(verifyAuditChain(audit.entries).ok).toBe(true);
  });

  it('rejects invalid policies with INVALID_CONFIG naming the field', () => {
    const bad = [
      { ...raw, version: 2 },
      { ...raw, roles: { x: ['dataset:delete'] } },
      { ...raw, principals: [{ name: 'c', fingerprint: 'sha256:12', roles: [] }] },
      { ...raw, principals: [{ name: 'c', fingerprint: bob.fingerprint, roles: ['admin'] }] },
      { ...raw, principals: [{ name: 'c', roles: [] }] },
      { ...raw, principals: [raw.principals[1], { ...raw.principals[1], name: 'bob2' }] },
      { ...raw, extra: true },
    ];
    for (const b of bad) {
      let err: unknown;
      try {
        parsePolicy(b, 'policy.json');
      } catch (e) {
        err = e;
      }
      expect(isAntidoteError(err, 'INVALID_CONFIG'), JSON.stringify(b).slice(0, 80)).toBe(true);
      expect((err as Error).message).toMatch(/^policy.json/);
    }
  });
});
