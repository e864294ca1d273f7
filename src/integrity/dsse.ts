import { sign as edSign, verify as edVerify, type KeyObject } from 'node:crypto';

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

/** Ed25519 signature over the PAE of `payload`. */
export function signPae(payloadType: string, payload: Uint8Array, key: KeyObject): Buffer {
  return edSign(null, preAuthEncoding(payloadType, payload), key);
}

/** Checks an Ed25519 signature over the PAE of `payload`. */
export function verifyPae(
  payloadType: string,
  payload: Uint8Array,
  signature: Uint8Array,
  key: KeyObject,
): boolean {
  try {
    return edVerify(null, preAuthEncoding(payloadType, payload), key, signature);
  } catch {
    return false;
  }
}
