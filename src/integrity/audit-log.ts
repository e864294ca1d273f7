import { createPublicKey, type KeyObject } from 'node:crypto';
import { AntidoteError } from '../errors.js';
import { canonicalJson, canonicalJsonBytes, type JsonValue } from './canonical-json.js';
import { signPae, verifyPae } from './dsse.js';
import { digestEquals, sha256Hex } from './hash.js';
import { keyFingerprint } from './keys.js';

/**
 * An append-only, hash-chained audit log (the construction of Schneier & Kelsey 1999, "Secure
 * audit logs to support computer forensics", without the MAC keys): every entry carries the hash
 * of the previous one and its own hash over its canonical JSON (RFC 8785), so editing, deleting,
 * inserting or reordering any entry breaks the chain at that entry. Signed checkpoints pin the
 * head, so truncating the tail is caught too.
 */

/** The hash of the (absent) entry before the first one. */
export const GENESIS_HASH = '0'.repeat(64);

/** What a caller records. */
export interface AuditEventInput {
  /** Who: a key fingerprint (`sha256:…`), a user name or `anonymous`. */
  readonly actor: string;
  /** What: e.g. `dataset.commit`, `authz.allow`, `keys.generate`. */
  readonly action: string;
  /** On what: e.g. `dataset:mnist@3`. */
  readonly subject?: string;
  /** `ok`, `allow`, `deny` or `error`. */
  readonly outcome?: 'ok' | 'allow' | 'deny' | 'error';
  /** Digests involved (name → hex). */
  readonly digests?: { readonly [name: string]: string };
  /** Any other JSON context (never secrets). */
  readonly details?: { readonly [key: string]: JsonValue };
}

/** A stored audit entry. */
export interface AuditEntry extends AuditEventInput {
  /** 1-based position in the chain. */
  readonly seq: number;
  /** When (ISO 8601). */
  readonly time: string;
  /** {@link AuditEntry.hash} of the previous entry ({@link GENESIS_HASH} for the first). */
  readonly prevHash: string;
  /** Hex SHA-256 of the canonical JSON of every other field. */
  readonly hash: string;
}

/** A signed statement that the chain had `seq` entries ending in `hash`. */
export interface AuditCheckpoint {
  readonly seq: number;
  readonly hash: string;
  readonly time: string;
  /** Fingerprint of the signing key. */
  readonly signer: string;
  /** Base64 Ed25519 signature over the DSSE PAE of the checkpoint's canonical JSON. */
  readonly signature: string;
}

/**
 * Storage of the audit log; the catalogue store implements it. `appendAudit` must run `make`
 * and the insert in one transaction so two writers cannot fork the chain.
 */
export interface AuditLogBackend {
  appendAudit(make: (last: AuditEntry | undefined) => AuditEntry): AuditEntry;
  /** Every entry, in storage order. */
  auditEntries(): AuditEntry[];
  appendAuditCheckpoint(c: AuditCheckpoint): void;
  auditCheckpoints(): AuditCheckpoint[];
}

/** The hash of an entry: SHA-256 over the canonical JSON of all fields except `hash`. */
export function auditEntryHash(e: Omit<AuditEntry, 'hash'>): string {
  const { seq, time, actor, action, subject, outcome, digests, details, prevHash } = e;
  return sha256Hex(
    canonicalJson({ seq, time, actor, action, subject, outcome, digests, details, prevHash }),
  );
}

/** Builds the entry that follows `last`. */
export function nextAuditEntry(
  last: AuditEntry | undefined,
  input: AuditEventInput,
  time: string,
): AuditEntry {
  const base = {
    ...input,
    seq: (last?.seq ?? 0) + 1,
    time,
    prevHash: last?.hash ?? GENESIS_HASH,
  };
  // Canonicalise now so unsupported values fail before anything is stored.
  return { ...base, hash: auditEntryHash(base) };
}

/** Appends an event to the log (in the backend's transaction) and returns the stored entry. */
export function appendAudit(
  backend: AuditLogBackend,
  input: AuditEventInput,
  now: () => Date = () => new Date(),
): AuditEntry {
  return backend.appendAudit((last) => nextAuditEntry(last, input, now().toISOString()));
}

const CHECKPOINT_TYPE = 'application/vnd.antidote.audit-checkpoint+json';

function checkpointPayload(c: Pick<AuditCheckpoint, 'seq' | 'hash' | 'time' | 'signer'>): Buffer {
  return canonicalJsonBytes({ seq: c.seq, hash: c.hash, time: c.time, signer: c.signer });
}

/** Signs the current head of the chain and stores the checkpoint. */
export function checkpointAudit(
  backend: AuditLogBackend,
  privateKey: KeyObject,
  now: () => Date = () => new Date(),
): AuditCheckpoint {
  const entries = backend.auditEntries();
  const last = entries[entries.length - 1];
  const base = {
    seq: last?.seq ?? 0,
    hash: last?.hash ?? GENESIS_HASH,
    time: now().toISOString(),
    signer: keyFingerprint(createPublicKey(privateKey)),
  };
  const c = {
    ...base,
    signature: signPae(CHECKPOINT_TYPE, checkpointPayload(base), privateKey).toString('base64'),
  };
  backend.appendAuditCheckpoint(c);
  return c;
}

/** The outcome of {@link verifyAuditChain}. */
export interface AuditVerification {
  readonly ok: boolean;
  readonly entries: number;
  readonly head: string;
  readonly checkpointsVerified: number;
  /** The first bad entry (1-based position in storage order) and why. */
  readonly firstBad?: { position: number; seq?: number; reason: string };
}

/**
 * Walks the chain in storage order: each entry must have `seq` = its position, `prevHash` = the
 * previous entry's hash, and a `hash` that matches its content. With `publicKey`, every
 * checkpoint signed by it must verify and match the entry at its `seq` (a deleted tail shows up
 * here). Names the first bad entry.
 */
export function verifyAuditChain(
  entries: readonly AuditEntry[],
  checkpoints: readonly AuditCheckpoint[] = [],
  publicKey?: KeyObject,
): AuditVerification {
  let prev = GENESIS_HASH;
  const bad = (position: number, reason: string, seq?: number): AuditVerification => ({
    ok: false,
    entries: entries.length,
    head: prev,
    checkpointsVerified: 0,
    firstBad: { position, reason, ...(seq !== undefined ? { seq } : {}) },
  });
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    const pos = i + 1;
    if (e.seq !== pos) {
      return bad(
        pos,
        `entry at position ${pos} has sequence number ${e.seq} (deleted, inserted or reordered entry)`,
        e.seq,
      );
    }
    if (!digestEquals(e.prevHash, prev)) {
      return bad(
        pos,
        `entry ${pos} does not link to the previous entry (deleted, inserted or reordered entry)`,
        e.seq,
      );
    }
    let h: string;
    try {
      h = auditEntryHash(e);
    } catch {
      return bad(pos, `entry ${pos} is malformed`, e.seq);
    }
    if (!digestEquals(h, e.hash))
      return bad(pos, `entry ${pos} was edited (its hash does not match its content)`, e.seq);
    prev = e.hash;
  }
  let verified = 0;
  if (publicKey) {
    const fp = keyFingerprint(publicKey);
    for (const c of checkpoints) {
      if (c.signer !== fp) continue;
      if (
        !verifyPae(
          CHECKPOINT_TYPE,
          checkpointPayload(c),
          Buffer.from(c.signature, 'base64'),
          publicKey,
        )
      ) {
        return {
          ...bad(
            Math.min(c.seq, entries.length),
            `checkpoint at entry ${c.seq} has a bad signature`,
          ),
          head: prev,
        };
      }
      if (c.seq > entries.length) {
        return {
          ...bad(
            entries.length + 1,
            `the log ends at entry ${entries.length} but a signed checkpoint covers ${c.seq} entries (entries deleted)`,
          ),
          head: prev,
        };
      }
      // c.seq comes from the log file: a negative or fractional one matches no entry.
      const at = c.seq === 0 ? GENESIS_HASH : entries[c.seq - 1]?.hash;
      if (at === undefined || !digestEquals(at, c.hash)) {
        return { ...bad(c.seq, `entry ${c.seq} does not match the signed checkpoint`), head: prev };
      }
      verified++;
    }
  }
  return { ok: true, entries: entries.length, head: prev, checkpointsVerified: verified };
}

/** Throws `AUDIT_CHAIN_BROKEN` naming the first bad entry when the chain does not verify. */
export function assertAuditChain(v: AuditVerification): void {
  if (!v.ok) {
    throw new AntidoteError('AUDIT_CHAIN_BROKEN', `audit log: ${v.firstBad!.reason}`, {
      position: v.firstBad!.position,
      ...(v.firstBad!.seq !== undefined ? { seq: v.firstBad!.seq } : {}),
    });
  }
}

/** An in-memory {@link AuditLogBackend} (tests, dry runs). */
export class MemoryAuditLog implements AuditLogBackend {
  readonly entries: AuditEntry[] = [];
  readonly checkpoints: AuditCheckpoint[] = [];
  appendAudit(make: (last: AuditEntry | undefined) => AuditEntry): AuditEntry {
    const e = make(this.entries[this.entries.length - 1]);
    this.entries.push(e);
    return e;
  }
  auditEntries(): AuditEntry[] {
    return this.entries.slice();
  }
  appendAuditCheckpoint(c: AuditCheckpoint): void {
    this.checkpoints.push(c);
  }
  auditCheckpoints(): AuditCheckpoint[] {
    return this.checkpoints.slice();
  }
}
