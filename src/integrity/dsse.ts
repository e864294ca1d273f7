import { sign as cryptoSign, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { keyAlgorithmOf } from './keys.js';

/**
 * DSSE (Dead Simple Signing Envelope, secure-systems-lab/dsse v1) Pre-Authentication Encoding:
 * `"DSSEv1" SP len(type) SP type SP len(body) SP body`, lengths as ASCII decimal byte counts.
 * Signatures cover the PAE, never the raw payload, so the payload type is authenticated too.
 */
export function preAuthEncoding(payloadType: string, payload: Uint8Array): Buffer {
  const type = Buffer.from(payloadType, 'utf8');
  return Buffer.concat([
    Buffer.from(`DSSEv1 ${type.length} `, 'utf8'),
    type,
    Buffer.from(` ${payload.length} `, 'utf8'),
    payload,
  ]);
}

/**
 * Signature over the PAE of `payload`: ECDSA (DER-encoded, the digest of the key's curve as the
 * Sigstore algorithm registry pairs them: P-256/SHA-256, P-384/SHA-384, P-521/SHA-512) or Ed25519.
 */
export function signPae(payloadType: string, payload: Uint8Array, key: KeyObject): Buffer {
  const { hash } = keyAlgorithmOf(key);
  return cryptoSign(hash, preAuthEncoding(payloadType, payload), key);
}

/** Checks a signature over the PAE of `payload` made by {@link signPae}; false on any failure. */
export function verifyPae(
  payloadType: string,
  payload: Uint8Array,
  signature: Uint8Array,
  key: KeyObject,
): boolean {
  try {
    const { hash } = keyAlgorithmOf(key);
    return cryptoVerify(hash, preAuthEncoding(payloadType, payload), key, signature);
  } catch {
    return false;
  }
}
