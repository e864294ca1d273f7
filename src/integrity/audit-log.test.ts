import { createPrivateKey, createPublicKey } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  type AuditEntry,
  appendAudit,
  assertAuditChain,
  checkpointAudit,
  MemoryAuditLog,
  verifyAuditChain,
} from './audit-log.js';
import { generateSigningKeyPair } from './keys.js';

let t = 0;
const clock = () => new Date(Date.UTC(2025, 0, 1, 0, 0, t++));

function log(n: number): MemoryAuditLog {
  const l = new MemoryAuditLog();
  for (let i = 0; i < n; i++) {
    appendAudit(
      l,
      {
        actor: 'sha256:' + 'a'.repeat(64),
        action: `act${i}`,
        subject: `s${i}`,
        outcome: 'ok',
        digests: { d: 'ff'.repeat(32) },
      },
      clock,
    );
  }
  return l;
}

describe('hash-chained audit log', () => {
  it('verifies an untouched chain', () => {
    const l = log(6);
    const v = verifyAuditChain(l.entries);
    expect(v).toMatchObject({ ok: true, entries: 6, head: l.entries[5]!.hash });
  });

  const cases: [string, (e: AuditEntry[]) => AuditEntry[], number, RegExp][] = [
    ['edited', (e) => e.map((x, i) => (i === 2 ? { ...x, action: 'other' } : x)), 3, /edited/],
    [
      'edited digest',
      (e) => e.map((x, i) => (i === 4 ? { ...x, digests: { d: '00'.repeat(32) } } : x)),
      5,
      /edited/,
    ],
    ['deleted', (e) => e.filter((_, i) => i !== 1), 2, /sequence number 3/],
    [
      'inserted',
      (e) => [...e.slice(0, 3), { ...e[3]!, action: 'forged' }, ...e.slice(3)],
      4,
      /edited|sequence/,
    ],
    ['reordered', (e) => [e[0]!, e[2]!, e[1]!, ...e.slice(3)], 2, /sequence number 3/],
  ];
  for (const [name, tamper, pos, re] of cases) {
    it(`names the first bad entry when one is ${name}`, () => {
      const l = log(6);
      const v = verifyAuditChain(tamper(l.entries));
      expect(v.ok).toBe(false);
      expect(v.firstBad!.position).toBe(pos);
      expect(v.firstBad!.reason).toMatch(re);
      expect(() => assertAuditChain(v)).toThrow(/audit log/);
    });
  }

  it('a rewritten tail still breaks at the first edited entry', () => {
    const l = log(5);
    // The attacker edits entry 3 and recomputes hashes from there on without the checkpoint key.
    const e = l.entries.slice();
    const bad = { ...e[2]!, action: 'hidden' };
    e[2] = bad;
    expect(verifyAuditChain(e).firstBad!.position).toBe(3);
  });

  it('signed checkpoints catch a deleted tail and a forged checkpoint', () => {
    const pair = generateSigningKeyPair();
    const priv = createPrivateKey(pair.privateKeyPem);
    const pub = createPublicKey(pair.publicKeyPem);
    const l = log(4);
    checkpointAudit(l, priv, clock);
    expect(verifyAuditChain(l.entries, l.checkpoints, pub)).toMatchObject({
      ok: true,
      checkpointsVerified: 1,
    });
    const truncated = l.entries.slice(0, 3);
    // Without the checkpoint a truncated chain looks fine…
    expect(verifyAuditChain(truncated).ok).toBe(true);
    // …with it, the deletion is caught.
    const v = verifyAuditChain(truncated, l.checkpoints, pub);
    expect(v.ok).toBe(false);
    expect(v.firstBad!.reason).toMatch(/entries deleted/);
    const forged = [{ ...l.checkpoints[0]!, seq: 3, hash: l.entries[2]!.hash }];
    expect(verifyAuditChain(l.entries, forged, pub).firstBad!.reason).toMatch(/bad signature/);
  });
});
