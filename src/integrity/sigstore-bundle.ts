/**
 * Sigstore bundles (v0.3, protobuf-specs `sigstore_bundle.proto`) holding a DSSE envelope over an
 * in-toto Statement v1: the container of OpenSSF model-signing (OMS) v1.0 signatures and of
 * Antidote's provenance. Three kinds of verification material, as OMS spec §4.1 defines them:
 * `publicKey` (key method: `hint`, or the older `rawBytes`), `x509CertificateChain` (certificate
 * method: leaf first, then intermediates, DER in base64) and `certificate` + `tlogEntries`
 * (Sigstore keyless: a short-lived Fulcio certificate and Rekor entries). Key and certificate
 * signatures are made and checked here with node:crypto (DSSE PAE, ECDSA with the curve's digest
 * or Ed25519); keyless bundles are checked by `@sigstore/verify` against a trusted root the
 * caller supplies (offline).
 */
import { createPublicKey, type KeyObject, type X509Certificate } from 'node:crypto';
import { z } from 'zod';
import { AntidoteError } from '../errors.js';
import { parseJson, parseWith } from '../util/schema.js';
import { canonicalJsonBytes } from './canonical-json.js';
import { signPae, verifyPae } from './dsse.js';
import { keyAlgorithmOf, keyFingerprint, omsKeyHint } from './keys.js';
import { type KeylessTrust, verifyKeyless } from './sigstore-keyless.js';
import { certificateFromDer, verifyCertificateChain } from './x509-chain.js';

/** Media type of a Sigstore bundle v0.3. */
export const SIGSTORE_BUNDLE_V03 = 'application/vnd.dev.sigstore.bundle.v0.3+json';
/** DSSE payload type of an in-toto statement. */
export const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';
/** `_type` of an in-toto Statement v1. */
export const IN_TOTO_STATEMENT_V1 = 'https://in-toto.io/Statement/v1';

const base64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, 'not base64');
const certificateSchema = z.looseObject({ rawBytes: base64.min(1) });

/**
 * Zod schema of the Sigstore bundle JSON accepted here (OMS `bundle.schema.json` v1.0, with the
 * relaxations spec §11.2 asks of verifiers: `rawBytes` instead of `hint`, `keyid` null or absent,
 * `tlogEntries` absent): exactly one kind of verification material, and a DSSE envelope with an
 * in-toto payload and at least one signature.
 */
export const sigstoreBundleSchema = z.strictObject({
  mediaType: z
    .string()
    .regex(/^application\/vnd\.dev\.sigstore\.bundle/, 'not a Sigstore bundle media type'),
  verificationMaterial: z
    .looseObject({
      publicKey: z
        .looseObject({
          hint: z.string().min(1).optional(),
          rawBytes: base64.min(1).optional(),
          keyDetails: z.string().optional(),
        })
        .refine((k) => k.hint !== undefined || k.rawBytes !== undefined, 'needs hint or rawBytes')
        .optional(),
      x509CertificateChain: z
        .looseObject({ certificates: z.array(certificateSchema).min(1) })
        .optional(),
      certificate: certificateSchema.optional(),
      tlogEntries: z.array(z.looseObject({})).optional(),
      timestampVerificationData: z.looseObject({}).optional(),
    })
    .refine(
      (m) =>
        [m.publicKey, m.x509CertificateChain, m.certificate].filter((x) => x !== undefined)
          .length === 1,
      'needs exactly one of publicKey, x509CertificateChain, certificate',
    ),
  dsseEnvelope: z.strictObject({
    payload: base64.min(1),
    payloadType: z.literal(IN_TOTO_PAYLOAD_TYPE),
    signatures: z
      .array(z.strictObject({ sig: base64.min(1), keyid: z.string().nullable().optional() }))
      .min(1),
  }),
});

/** A Sigstore bundle as JSON. */
export type SigstoreBundleJson = z.infer<typeof sigstoreBundleSchema>;

/** How a bundle was signed (OMS spec §4.1). */
export type SigningMethod = 'key' | 'certificate' | 'sigstore';

/** The signing method a bundle's verification material names. */
export function signingMethodOf(bundle: SigstoreBundleJson): SigningMethod {
  const m = bundle.verificationMaterial;
  return m.publicKey ? 'key' : m.x509CertificateChain ? 'certificate' : 'sigstore';
}

/** Zod schema of an in-toto Statement v1 (any predicate). */
export const inTotoStatementSchema = z.looseObject({
  _type: z.literal(IN_TOTO_STATEMENT_V1),
  subject: z
    .array(
      z.looseObject({
        name: z.string(),
        digest: z.record(z.string(), z.string().regex(/^[0-9a-f]+$/)),
      }),
    )
    .min(1),
  predicateType: z.string().min(1),
  predicate: z.record(z.string(), z.unknown()),
});

/** An in-toto Statement v1. */
export interface InTotoStatement<P = Record<string, unknown>> {
  readonly _type: typeof IN_TOTO_STATEMENT_V1;
  readonly subject: readonly { name: string; digest: Record<string, string> }[];
  readonly predicateType: string;
  readonly predicate: P;
}

/** Options of {@link signStatement}. */
export interface SignStatementOptions {
  /**
   * Certificate method: the signing certificate (whose public key must be the signing key's)
   * followed by its intermediates. Without it the key method is used (`publicKey.hint`).
   */
  readonly certificateChain?: readonly X509Certificate[];
}

/**
 * Signs an in-toto statement: canonical JSON payload (RFC 8785), DSSE envelope (PAE over
 * `application/vnd.in-toto+json`) signed with `privateKey` (ECDSA P-256/384/521 with the curve's
 * digest, or Ed25519), in a Sigstore bundle v0.3 whose verification material is the key's OMS
 * hint (key method) or the certificate chain (certificate method). No network, no transparency
 * log. An Ed25519 signature is not OMS-conformant (see `keyAlgorithmOf`).
 */
export async function signStatement(
  statement: InTotoStatement<unknown>,
  privateKey: KeyObject,
  options: SignStatementOptions = {},
): Promise<SigstoreBundleJson> {
  if (privateKey.type !== 'private') {
    throw new AntidoteError('INVALID_ARGUMENT', 'signing needs a private key');
  }
  keyAlgorithmOf(privateKey, 'the signing key');
  const publicKey = createPublicKey(privateKey);
  const chain = options.certificateChain ?? [];
  if (chain.length > 0) {
    const leaf = chain[0]!;
    if (keyFingerprint(leaf.publicKey) !== keyFingerprint(publicKey)) {
      throw new AntidoteError(
        'INVALID_ARGUMENT',
        `the signing certificate "${leaf.subject.replace(/\n/g, ', ')}" is not for the signing key`,
      );
    }
  }
  const payload = canonicalJsonBytes(statement);
  const sig = signPae(IN_TOTO_PAYLOAD_TYPE, payload, privateKey);
  return {
    mediaType: SIGSTORE_BUNDLE_V03,
    verificationMaterial: {
      ...(chain.length > 0
        ? {
            x509CertificateChain: {
              certificates: chain.map((c) => ({ rawBytes: c.raw.toString('base64') })),
            },
          }
        : { publicKey: { hint: omsKeyHint(publicKey) } }),
      tlogEntries: [],
    },
    dsseEnvelope: {
      payload: Buffer.from(payload).toString('base64'),
      payloadType: IN_TOTO_PAYLOAD_TYPE,
      signatures: [{ sig: sig.toString('base64'), keyid: '' }],
    },
  };
}

function describeIssue(raw: unknown): string | undefined {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
    return 'it is not a JSON object';
  const o = raw as Record<string, unknown>;
  if (o.mediaType === undefined) return 'it has no mediaType';
  if (o.verificationMaterial === undefined) {
    return 'it has no verificationMaterial (no public key, certificate chain or certificate to verify with)';
  }
  if (o.dsseEnvelope === undefined) {
    return o.messageSignature !== undefined
      ? 'it holds a messageSignature, not a DSSE envelope (OMS signs an in-toto statement in DSSE)'
      : 'it has no dsseEnvelope (the signed in-toto statement is missing)';
  }
  const m = o.verificationMaterial as Record<string, unknown> | null;
  if (m && typeof m === 'object') {
    const t = m.tlogEntries;
    const ts = (m.timestampVerificationData as { rfc3161Timestamps?: unknown } | undefined)
      ?.rfc3161Timestamps;
    if (m.certificate !== undefined && m.publicKey === undefined) {
      if (!Array.isArray(t) || t.length === 0) {
        return 'it is a Sigstore keyless bundle without transparency-log entries (tlogEntries is required for the sigstore method)';
      }
    } else if ((Array.isArray(t) && t.length > 0) || (Array.isArray(ts) && ts.length > 0)) {
      return 'a key or certificate bundle with transparency-log entries or timestamps, which are not checked offline (refused rather than ignored)';
    }
  }
  return undefined;
}

/**
 * Parses bundle JSON against {@link sigstoreBundleSchema}; `SIGNATURE_INVALID` naming `where` and
 * what is missing or wrong when it does not fit.
 */
export function parseBundle(text: string | Uint8Array, where = 'bundle'): SigstoreBundleJson {
  const raw = parseJson(text, where, { code: 'SIGNATURE_INVALID' });
  const issue = describeIssue(raw);
  if (issue) {
    throw new AntidoteError(
      'SIGNATURE_INVALID',
      `${where} is not a valid OMS/Sigstore bundle: ${issue}`,
      {
        path: where,
      },
    );
  }
  return parseWith(sigstoreBundleSchema, raw, where, {
    code: 'SIGNATURE_INVALID',
    head: `${where} is not a valid OMS/Sigstore bundle`,
    withField: true,
  });
}

/** What a verifier trusts. */
export type BundleTrust =
  /** Key method: any of these public keys. */
  | { readonly kind: 'key'; readonly keys: readonly KeyObject[] }
  /** Certificate method: chains to any of these CA certificates, valid at `at` (default now). */
  | {
      readonly kind: 'certificate';
      readonly anchors: readonly X509Certificate[];
      readonly at?: Date;
    }
  /** Sigstore keyless: a trusted root (JSON) and the expected signer identity. */
  | ({ readonly kind: 'sigstore' } & KeylessTrust);

/** Result of {@link verifyBundleSignature}. */
export interface BundleSignature {
  readonly method: SigningMethod;
  /** Who signed: the key fingerprint, the certificate subject, or the Sigstore identity. */
  readonly signer: string;
  /** The verified payload bytes (the in-toto statement). */
  readonly payload: Buffer;
  /** Remarks a user should see (e.g. an Ed25519 key is not OMS-conformant). */
  readonly notes: readonly string[];
}

function sigOf(s: { sig: string }): Buffer {
  return Buffer.from(s.sig, 'base64');
}

function verifyWithKeys(
  bundle: SigstoreBundleJson,
  keys: readonly KeyObject[],
  payload: Buffer,
  where: string,
): BundleSignature {
  if (signingMethodOf(bundle) !== 'key') {
    throw new AntidoteError(
      'SIGNATURE_INVALID',
      `${where} was signed with the ${signingMethodOf(bundle)} method, not with a key: verify it with ${signingMethodOf(bundle) === 'certificate' ? '--certificate-chain CA.pem' : '--trusted-root ROOT.json'}`,
      { path: where },
    );
  }
  const pk = bundle.verificationMaterial.publicKey!;
  for (const key of keys) {
    const pub = key.type === 'private' ? createPublicKey(key) : key;
    const alg = keyAlgorithmOf(pub);
    if (
      bundle.dsseEnvelope.signatures.some((s) =>
        verifyPae(IN_TOTO_PAYLOAD_TYPE, payload, sigOf(s), pub),
      )
    ) {
      return {
        method: 'key',
        signer: keyFingerprint(pub),
        payload,
        notes: alg.omsConformant
          ? []
          : [
              'signed with an Ed25519 key: valid, but not OMS v1.0-conformant (other OMS verifiers reject it); re-sign with an ECDSA P-256 key (antidote keys generate)',
            ],
      };
    }
  }
  const trusted = keys.map((k) => keyFingerprint(k));
  const hints = new Set(keys.flatMap((k) => [keyFingerprint(k), omsKeyHint(k)]));
  const named = pk.hint ?? (pk.rawBytes ? rawKeyFingerprint(pk.rawBytes) : undefined);
  if (named && !hints.has(named)) {
    throw new AntidoteError(
      'SIGNATURE_INVALID',
      `${where} was signed by key ${named}, not by the trusted key ${trusted.join(' or ')}`,
      { path: where, keyHint: named, trusted },
    );
  }
  throw new AntidoteError(
    'SIGNATURE_INVALID',
    `${where}: the signature does not verify with key ${trusted.join(' or ')} (altered payload or signature)`,
    { path: where },
  );
}

function rawKeyFingerprint(rawBytes: string): string | undefined {
  const bytes = Buffer.from(rawBytes, 'base64');
  try {
    const text = bytes.toString('utf8');
    return keyFingerprint(
      text.startsWith('-----')
        ? createPublicKey(text)
        : createPublicKey({ key: bytes, format: 'der', type: 'spki' }),
    );
  } catch {
    return undefined;
  }
}

function verifyWithCertificates(
  bundle: SigstoreBundleJson,
  anchors: readonly X509Certificate[],
  at: Date | undefined,
  payload: Buffer,
  where: string,
): BundleSignature {
  const chainJson = bundle.verificationMaterial.x509CertificateChain;
  if (!chainJson) {
    throw new AntidoteError(
      'SIGNATURE_INVALID',
      `${where} was signed with the ${signingMethodOf(bundle)} method, not with a certificate chain: verify it with ${signingMethodOf(bundle) === 'key' ? '--key PUB.pem' : '--trusted-root ROOT.json'}`,
      { path: where },
    );
  }
  const certs = chainJson.certificates.map((c) =>
    certificateFromDer(Buffer.from(c.rawBytes, 'base64'), where),
  );
  const [leaf, ...intermediates] = certs;
  const path = verifyCertificateChain(leaf!, intermediates, anchors, {
    where,
    ...(at ? { at } : {}),
  });
  const alg = keyAlgorithmOf(leaf!.publicKey, `${where}: the signing certificate's key`);
  if (
    !bundle.dsseEnvelope.signatures.some((s) =>
      verifyPae(IN_TOTO_PAYLOAD_TYPE, payload, sigOf(s), leaf!.publicKey),
    )
  ) {
    throw new AntidoteError(
      'SIGNATURE_INVALID',
      `${where}: the signature does not verify with the key of certificate "${leaf!.subject.replace(/\n/g, ', ')}" (altered payload or signature)`,
      { path: where },
    );
  }
  return {
    method: 'certificate',
    signer: `${leaf!.subject.replace(/\n/g, ', ')} (${keyFingerprint(leaf!.publicKey)}), via ${path
      .slice(1)
      .map((c) => c.subject.replace(/\n/g, ', '))
      .join(' → ')}`,
    payload,
    notes: alg.omsConformant
      ? []
      : ['the signing certificate holds an Ed25519 key: not OMS v1.0-conformant'],
  };
}

/**
 * Verifies the signature of a bundle against what the caller trusts, returning the signed payload
 * bytes. `SIGNATURE_INVALID` naming `where` when the method does not match the trust given, the
 * key or chain is not trusted, or the payload or signature was altered.
 */
export function verifyBundleSignature(
  bundle: SigstoreBundleJson,
  trust: BundleTrust,
  where = 'bundle',
): BundleSignature {
  const payload = Buffer.from(bundle.dsseEnvelope.payload, 'base64');
  if (trust.kind === 'key') return verifyWithKeys(bundle, trust.keys, payload, where);
  if (trust.kind === 'certificate') {
    return verifyWithCertificates(bundle, trust.anchors, trust.at, payload, where);
  }
  if (signingMethodOf(bundle) !== 'sigstore') {
    throw new AntidoteError(
      'SIGNATURE_INVALID',
      `${where} was signed with the ${signingMethodOf(bundle)} method, not Sigstore keyless: verify it with ${signingMethodOf(bundle) === 'key' ? '--key PUB.pem' : '--certificate-chain CA.pem'}`,
      { path: where },
    );
  }
  const signer = verifyKeyless(bundle, trust, where);
  return { method: 'sigstore', signer, payload, notes: [] };
}

/** Decodes a verified payload as an in-toto Statement v1 (of `predicateType`, when given). */
export function statementOf(
  payload: Uint8Array,
  options: { predicateType?: string; where?: string } = {},
): InTotoStatement {
  const where = options.where ?? 'bundle';
  let statement: unknown;
  try {
    statement = JSON.parse(Buffer.from(payload).toString('utf8'));
  } catch {
    throw new AntidoteError('SIGNATURE_INVALID', `${where}: the signed payload is not JSON`, {
      path: where,
    });
  }
  const data = parseWith(inTotoStatementSchema, statement, where, {
    code: 'SIGNATURE_INVALID',
    head: `${where}: the signed payload is not an in-toto Statement v1`,
    root: '',
  });
  if (options.predicateType && data.predicateType !== options.predicateType) {
    throw new AntidoteError(
      'SIGNATURE_INVALID',
      `${where}: predicate type is ${data.predicateType}, expected ${options.predicateType}`,
      { path: where },
    );
  }
  return data as InTotoStatement;
}

/**
 * Verifies a key-method bundle against one trusted public key and returns its in-toto statement
 * (of `predicateType`, when given). `SIGNATURE_INVALID` when another key signed it, it was
 * altered, or its payload is not such a statement.
 */
export function verifyBundle(
  bundle: SigstoreBundleJson,
  trustedKey: KeyObject,
  options: { predicateType?: string; where?: string } = {},
): InTotoStatement {
  const where = options.where ?? 'bundle';
  const sig = verifyBundleSignature(bundle, { kind: 'key', keys: [trustedKey] }, where);
  return statementOf(sig.payload, { ...options, where });
}
