import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
} from 'node:crypto';
import { AntidoteError } from '../errors.js';
import { readText, writeFileAtomic } from '../util/fs.js';
import { sha256Hex } from './hash.js';

/** An Ed25519 key pair as PEM text. */
export interface KeyPairPem {
  /** PKCS#8 PEM private key (secret). */
  readonly privateKeyPem: string;
  /** SPKI PEM public key. */
  readonly publicKeyPem: string;
  /** `sha256:` + hex SHA-256 of the SPKI DER public key. */
  readonly fingerprint: string;
}

/** Generates an Ed25519 key pair (RFC 8032) as PKCS#8 / SPKI PEM. */
export function generateSigningKeyPair(): KeyPairPem {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const publicKeyPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  return {
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKeyPem,
    fingerprint: keyFingerprint(publicKey),
  };
}

/** Fingerprint of a public (or private) key: `sha256:` + hex SHA-256 of its SPKI DER encoding. */
export function keyFingerprint(key: KeyObject | string): string {
  const pub =
    typeof key === 'string'
      ? createPublicKey(key)
      : key.type === 'private'
        ? createPublicKey(key)
        : key;
  return `sha256:${sha256Hex(pub.export({ type: 'spki', format: 'der' }))}`;
}

/**
 * Writes a key pair: `<prefix>.key` (private, mode 0600) and `<prefix>.pub`. Refuses to
 * overwrite an existing private key unless `overwrite` is set.
 */
export async function writeSigningKeyPair(
  prefix: string,
  pair: KeyPairPem,
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

/** Reads an Ed25519 key of `kind` from a PEM file; never echoes key material in errors. */
async function loadEd25519(path: string, kind: 'private' | 'public'): Promise<KeyObject> {
  const pem = await readKeyFile(path);
  let key: KeyObject;
  try {
    key = kind === 'private' ? createPrivateKey(pem) : createPublicKey(pem);
  } catch {
    throw new AntidoteError('INVALID_FORMAT', `${path} is not a PEM ${kind} key`, { path });
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new AntidoteError(
      'INVALID_FORMAT',
      `${path} is a ${key.asymmetricKeyType} key, not Ed25519`,
      {
        path,
      },
    );
  }
  return key;
}

/** Loads an Ed25519 private key from a PKCS#8 PEM file. */
export function loadPrivateKey(path: string): Promise<KeyObject> {
  return loadEd25519(path, 'private');
}

/** Loads an Ed25519 public key from an SPKI PEM file (a private key file gives its public half). */
export function loadPublicKey(path: string): Promise<KeyObject> {
  return loadEd25519(path, 'public');
}
