import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
} from 'node:crypto';
import { AntidoteError } from '../errors.js';
import { readText, writeFileAtomic } from '../util/fs.js';
import { sha256Hex } from './hash.js';

/**
 * Signing key algorithms. The OpenSSF model-signing (OMS) v1.0 algorithm registry requires the
 * NIST curves P-256, P-384 and P-521 (ECDSA) for the key and certificate methods; `ed25519`
 * (RFC 8032) is kept so that keys and bundles written before stay usable, but a bundle signed
 * with it is not OMS-conformant (the reference tool, sigstore/model-transparency, rejects it).
 */
export const SIGNING_ALGORITHMS = ['p256', 'p384', 'p521', 'ed25519'] as const;
/** One of {@link SIGNING_ALGORITHMS}. */
export type SigningAlgorithm = (typeof SIGNING_ALGORITHMS)[number];
/** The algorithm of new keys: ECDSA P-256, the OMS default. */
export const DEFAULT_SIGNING_ALGORITHM: SigningAlgorithm = 'p256';

const CURVES: Record<string, { algorithm: SigningAlgorithm; hash: string; keyDetails: string }> = {
  prime256v1: { algorithm: 'p256', hash: 'sha256', keyDetails: 'PKIX_ECDSA_P256_SHA_256' },
  secp384r1: { algorithm: 'p384', hash: 'sha384', keyDetails: 'PKIX_ECDSA_P384_SHA_384' },
  secp521r1: { algorithm: 'p521', hash: 'sha512', keyDetails: 'PKIX_ECDSA_P521_SHA_512' },
};
const NAMED_CURVE: Record<SigningAlgorithm, string | undefined> = {
  p256: 'prime256v1',
  p384: 'secp384r1',
  p521: 'secp521r1',
  ed25519: undefined,
};

/** What a key signs with: its algorithm and the digest its signatures use (Sigstore registry). */
export interface KeyAlgorithm {
  readonly algorithm: SigningAlgorithm;
  /** The digest of ECDSA signatures (`sha256` for P-256, `sha384` for P-384, `sha512` for P-521); null for Ed25519. */
  readonly hash: string | null;
  /** Sigstore `PublicKeyDetails` name (e.g. `PKIX_ECDSA_P256_SHA_256`). */
  readonly keyDetails: string;
  /** Whether the OMS v1.0 algorithm registry admits it. */
  readonly omsConformant: boolean;
}

/**
 * The algorithm of a key, or `INVALID_FORMAT` naming `where` for a key no signature method here
 * takes (RSA, another curve, ...).
 */
export function keyAlgorithmOf(key: KeyObject, where = 'key'): KeyAlgorithm {
  if (key.asymmetricKeyType === 'ed25519') {
    return { algorithm: 'ed25519', hash: null, keyDetails: 'PKIX_ED25519', omsConformant: false };
  }
  if (key.asymmetricKeyType === 'ec') {
    const curve = CURVES[key.asymmetricKeyDetails?.namedCurve ?? ''];
    if (curve) return { ...curve, omsConformant: true };
  }
  const what =
    key.asymmetricKeyType === 'ec'
      ? `an EC key on curve ${key.asymmetricKeyDetails?.namedCurve ?? 'unknown'}`
      : `a ${key.asymmetricKeyType} key`;
  throw new AntidoteError(
    'INVALID_FORMAT',
    `${where} is ${what}; signing keys are ECDSA P-256, P-384 or P-521 (OMS v1.0), or Ed25519 (not OMS-conformant)`,
    { path: where },
  );
}

/** A key pair as PEM text. */
export interface KeyPairPem {
  /** PKCS#8 PEM private key (secret). */
  readonly privateKeyPem: string;
  /** SPKI PEM public key. */
  readonly publicKeyPem: string;
  /** `sha256:` + hex SHA-256 of the SPKI DER public key. */
  readonly fingerprint: string;
  readonly algorithm: SigningAlgorithm;
}

/**
 * Generates a signing key pair as PKCS#8 / SPKI PEM: ECDSA on a NIST curve (FIPS 186-5; P-256 by
 * default, the OMS default) or Ed25519 (RFC 8032, not OMS-conformant).
 */
export function generateSigningKeyPair(
  algorithm: SigningAlgorithm = DEFAULT_SIGNING_ALGORITHM,
): KeyPairPem {
  const curve = NAMED_CURVE[algorithm];
  const { privateKey, publicKey } = curve
    ? generateKeyPairSync('ec', { namedCurve: curve })
    : generateKeyPairSync('ed25519');
  return {
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    fingerprint: keyFingerprint(publicKey),
    algorithm,
  };
}

function publicOf(key: KeyObject | string): KeyObject {
  return typeof key === 'string'
    ? createPublicKey(key)
    : key.type === 'private'
      ? createPublicKey(key)
      : key;
}

/** Fingerprint of a public (or private) key: `sha256:` + hex SHA-256 of its SPKI DER encoding. */
export function keyFingerprint(key: KeyObject | string): string {
  return `sha256:${sha256Hex(publicOf(key).export({ type: 'spki', format: 'der' }))}`;
}

/**
 * The OMS `publicKey.hint` of a key as the reference implementation writes it: hex SHA-256 of
 * the SPKI PEM text of the public key.
 */
export function omsKeyHint(key: KeyObject): string {
  return createHash('sha256')
    .update(publicOf(key).export({ type: 'spki', format: 'pem' }))
    .digest('hex');
}

/**
 * Writes a key pair: `<prefix>.key` (private, mode 0600) and `<prefix>.pub`. Refuses to
 * overwrite an existing private key unless `overwrite` is set.
 */
export async function writeSigningKeyPair(
  prefix: string,
  pair: Pick<KeyPairPem, 'privateKeyPem' | 'publicKeyPem'>,
  options: { overwrite?: boolean } = {},
): Promise<{ privateKeyPath: string; publicKeyPath: string }> {
  const privateKeyPath = `${prefix}.key`;
  const publicKeyPath = `${prefix}.pub`;
  const { existsSync } = await import('node:fs');
  if (!options.overwrite && (existsSync(privateKeyPath) || existsSync(publicKeyPath))) {
    throw new AntidoteError(
      'ALREADY_EXISTS',
      `${privateKeyPath} or ${publicKeyPath} already exists`,
      {
        path: privateKeyPath,
      },
    );
  }
  await writeFileAtomic(privateKeyPath, pair.privateKeyPem, { mode: 0o600 });
  await writeFileAtomic(publicKeyPath, pair.publicKeyPem, { mode: 0o644 });
  return { privateKeyPath, publicKeyPath };
}

async function readKeyFile(path: string): Promise<string> {
  return readText(path, { message: (e) => `cannot read key ${path}: ${e.message}` });
}

/** Reads a signing key of `kind` from a PEM file; never echoes key material in errors. */
async function loadSigningKey(path: string, kind: 'private' | 'public'): Promise<KeyObject> {
  const pem = await readKeyFile(path);
  let key: KeyObject;
  try {
    key = kind === 'private' ? createPrivateKey(pem) : createPublicKey(pem);
  } catch {
    throw new AntidoteError('INVALID_FORMAT', `${path} is not a PEM ${kind} key`, { path });
  }
  keyAlgorithmOf(key, path);
  return key;
}

/** Loads a signing private key (ECDSA P-256/384/521 or Ed25519) from a PKCS#8 or SEC1 PEM file. */
export function loadPrivateKey(path: string): Promise<KeyObject> {
  return loadSigningKey(path, 'private');
}

/**
 * Loads a signing public key (ECDSA P-256/384/521 or Ed25519) from an SPKI PEM file (a private
 * key file, or a certificate, gives its public half).
 */
export function loadPublicKey(path: string): Promise<KeyObject> {
  return loadSigningKey(path, 'public');
}
