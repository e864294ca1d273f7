/**
 * X.509 certificate-chain checks for the OMS `certificate` signing method (OpenSSF model-signing
 * v1.0, spec §8.2): the leaf certificate of a bundle must chain, through the bundle's
 * intermediates, to a CA certificate the verifier trusts; every certificate must be within its
 * validity period; the leaf's key usage must allow digital signatures and its extended key usage,
 * when present, code signing (as the reference implementation, sigstore/model-transparency,
 * checks); every issuer must be a CA allowed to sign certificates. Built on node:crypto's
 * `X509Certificate`, with a minimal DER walk for the KeyUsage extension Node does not expose.
 */
import { X509Certificate } from 'node:crypto';
import { AntidoteError } from '../errors.js';

/** OID of the code-signing extended key usage (RFC 5280 §4.2.1.12). */
export const EKU_CODE_SIGNING = '1.3.6.1.5.5.7.3.3';

interface Tlv {
  readonly tag: number;
  readonly start: number;
  readonly end: number;
}

function readTlv(buf: Uint8Array, off: number): Tlv {
  const tag = buf[off];
  let len = buf[off + 1];
  if (tag === undefined || len === undefined) throw new Error('truncated DER');
  let start = off + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n < 1 || n > 4) throw new Error('unsupported DER length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + (buf[start + i] ?? 0);
    start += n;
  }
  const end = start + len;
  if (end > buf.length) throw new Error('truncated DER');
  return { tag, start, end };
}

function children(buf: Uint8Array, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let off = parent.start; off < parent.end; ) {
    const t = readTlv(buf, off);
    out.push(t);
    off = t.end;
  }
  return out;
}

const KEY_USAGE_OID = Buffer.from([0x55, 0x1d, 0x0f]); // 2.5.29.15

/**
 * The KeyUsage bits of a certificate (RFC 5280 §4.2.1.3) as a set of bit numbers
 * (0 = digitalSignature, 5 = keyCertSign, ...), or undefined when it has no KeyUsage extension.
 */
export function keyUsageBits(cert: X509Certificate): Set<number> | undefined {
  const der = new Uint8Array(cert.raw);
  const top = readTlv(der, 0);
  const tbs = children(der, top)[0];
  if (!tbs) return undefined;
  const ext = children(der, tbs).find((t) => t.tag === 0xa3);
  if (!ext) return undefined;
  const seq = children(der, ext)[0];
  if (!seq) return undefined;
  for (const e of children(der, seq)) {
    const parts = children(der, e);
    const oid = parts[0];
    if (oid?.tag !== 0x06) continue;
    if (!Buffer.from(der.subarray(oid.start, oid.end)).equals(KEY_USAGE_OID)) continue;
    const value = parts[parts.length - 1];
    if (value?.tag !== 0x04) return new Set();
    const bits = readTlv(der, value.start);
    if (bits.tag !== 0x03) return new Set();
    const set = new Set<number>();
    for (let i = bits.start + 1; i < bits.end; i++) {
      const byte = der[i] ?? 0;
      for (let b = 0; b < 8; b++) if (byte & (0x80 >> b)) set.add((i - bits.start - 1) * 8 + b);
    }
    return set;
  }
  return undefined;
}

/** Parses every `BEGIN CERTIFICATE` block of PEM text; `INVALID_FORMAT` naming `where` when none. */
export function parseCertificatesPem(pem: string, where: string): X509Certificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) {
    throw new AntidoteError('INVALID_FORMAT', `${where} holds no PEM certificate`, {
      path: where,
    });
  }
  return blocks.map((b, i) => {
    try {
      return new X509Certificate(b);
    } catch {
      throw new AntidoteError(
        'INVALID_FORMAT',
        `${where}: certificate ${i + 1} is not valid X.509`,
        {
          path: where,
        },
      );
    }
  });
}

/** A certificate from DER bytes; `SIGNATURE_INVALID` naming `where` when it is not X.509. */
export function certificateFromDer(der: Uint8Array, where: string): X509Certificate {
  try {
    return new X509Certificate(der);
  } catch {
    throw new AntidoteError('SIGNATURE_INVALID', `${where}: a certificate is not valid X.509`, {
      path: where,
    });
  }
}

function describe(c: X509Certificate): string {
  return c.subject.replace(/\n/g, ', ') || '(empty subject)';
}

function checkValidity(c: X509Certificate, at: Date, where: string): void {
  const from = new Date(c.validFrom);
  const to = new Date(c.validTo);
  if (at < from || at > to) {
    throw new AntidoteError(
      'SIGNATURE_INVALID',
      `${where}: certificate "${describe(c)}" is not valid at ${at.toISOString()} (valid ${from.toISOString()} to ${to.toISOString()})`,
      { path: where },
    );
  }
}

function checkCaUsage(c: X509Certificate, where: string): void {
  if (!c.ca) {
    throw new AntidoteError(
      'SIGNATURE_INVALID',
      `${where}: certificate "${describe(c)}" issues another but is not a CA (basicConstraints)`,
      { path: where },
    );
  }
  const ku = keyUsageBits(c);
  if (ku && !ku.has(5)) {
    throw new AntidoteError(
      'SIGNATURE_INVALID',
      `${where}: CA certificate "${describe(c)}" may not sign certificates (keyUsage lacks keyCertSign)`,
      { path: where },
    );
  }
}

function issues(issuer: X509Certificate, child: X509Certificate): boolean {
  try {
    return child.checkIssued(issuer) && child.verify(issuer.publicKey);
  } catch {
    return false;
  }
}

/** Options of {@link verifyCertificateChain}. */
export interface ChainOptions {
  /** The time the chain must be valid at; default now. */
  readonly at?: Date;
  /** Where the chain came from, for messages. */
  readonly where?: string;
}

/**
 * Checks that `leaf` chains through `intermediates` to one of `anchors` (the trusted CA
 * certificates; a leaf that is itself an anchor is trusted as pinned), each certificate within
 * its validity at `at`, each issuer a CA with keyCertSign, and the leaf usable for code signing
 * (keyUsage digitalSignature; extended key usage, when present, includes code signing).
 * Returns the path from leaf to anchor; `SIGNATURE_INVALID` saying what failed.
 */
export function verifyCertificateChain(
  leaf: X509Certificate,
  intermediates: readonly X509Certificate[],
  anchors: readonly X509Certificate[],
  options: ChainOptions = {},
): X509Certificate[] {
  const where = options.where ?? 'certificate chain';
  const at = options.at ?? new Date();
  const ku = keyUsageBits(leaf);
  if (!ku?.has(0)) {
    throw new AntidoteError(
      'SIGNATURE_INVALID',
      `${where}: signing certificate "${describe(leaf)}" ${ku ? 'has no digitalSignature key usage' : 'has no keyUsage extension'}`,
      { path: where },
    );
  }
  const eku = leaf.keyUsage;
  if (eku && eku.length > 0 && !eku.includes(EKU_CODE_SIGNING)) {
    throw new AntidoteError(
      'SIGNATURE_INVALID',
      `${where}: signing certificate "${describe(leaf)}" is not for code signing (extendedKeyUsage ${eku.join(', ')})`,
      { path: where },
    );
  }
  const path: X509Certificate[] = [leaf];
  checkValidity(leaf, at, where);
  let current = leaf;
  for (let depth = 0; depth <= intermediates.length; depth++) {
    if (anchors.some((a) => a.fingerprint256 === current.fingerprint256)) return path;
    const anchor = anchors.find((a) => issues(a, current));
    if (anchor) {
      checkCaUsage(anchor, where);
      checkValidity(anchor, at, where);
      path.push(anchor);
      return path;
    }
    const next = intermediates.find((c) => !path.includes(c) && issues(c, current));
    if (!next) break;
    checkCaUsage(next, where);
    checkValidity(next, at, where);
    path.push(next);
    current = next;
  }
  throw new AntidoteError(
    'SIGNATURE_INVALID',
    `${where}: the signing certificate "${describe(leaf)}" does not chain to a trusted CA (chain ends at "${describe(current)}", issued by "${current.issuer.replace(/\n/g, ', ')}")`,
    { path: where },
  );
}
