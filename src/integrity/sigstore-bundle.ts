import { createPublicKey, sign as edSign, type KeyObject } from 'node:crypto';
import { DSSEBundleBuilder } from '@sigstore/sign';
import { toSignedEntity, Verifier } from '@sigstore/verify';
import { z } from 'zod';
import { AntidoteError } from '../errors.js';
import { parseJson, parseWith } from '../util/schema.js';
import { canonicalJsonBytes } from './canonical-json.js';
import { keyFingerprint } from './keys.js';

/** Media type of a Sigstore bundle v0.3. */
export const SIGSTORE_BUNDLE_V03 = 'application/vnd.dev.sigstore.bundle.v0.3+json';
/** DSSE payload type of an in-toto statement. */
export const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';
/** `_type` of an in-toto Statement v1. */
export const IN_TOTO_STATEMENT_V1 = 'https://in-toto.io/Statement/v1';

const base64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, 'not base64');

/**
 * Zod schema of the Sigstore bundle v0.3 JSON this module writes and accepts: a DSSE envelope
 * with one signature, verified by a public key named by its hint, and no transparency-log entries
 * or timestamps (offline, key-based signing).
 */
export const sigstoreBundleSchema = z.strictObject({
  mediaType: z.literal(SIGSTORE_BUNDLE_V03),
  verificationMaterial: z.strictObject({
    publicKey: z.strictObject({ hint: z.string().min(1) }),
    tlogEntries: z
      .array(z.unknown())
      .max(0, 'transparency-log entries are not supported offline')
      .optional(),
    timestampVerificationData: z
      .strictObject({
        rfc3161Timestamps: z.array(z.unknown()).max(0, 'timestamps are not supported offline'),
      })
      .optional(),
  }),
  dsseEnvelope: z.strictObject({
    payload: base64,
    payloadType: z.literal(IN_TOTO_PAYLOAD_TYPE),
    signatures: z
      .array(z.strictObject({ sig: base64.min(1), keyid: z.string().optional() }))
      .length(1),
  }),
});

/** A Sigstore bundle v0.3 as JSON. */
export type SigstoreBundleJson = z.infer<typeof sigstoreBundleSchema>;

/** Zod schema of an in-toto Statement v1 (any predicate). */
export const inTotoStatementSchema = z.strictObject({
  _type: z.literal(IN_TOTO_STATEMENT_V1),
  subject: z
    .array(
      z.object({
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

/**
 * Signs an in-toto statement with an Ed25519 key: canonical JSON payload (RFC 8785), DSSE
 * envelope (PAE over `application/vnd.in-toto+json`), wrapped in a Sigstore bundle v0.3 by
 * `@sigstore/sign`'s `DSSEBundleBuilder` with a local signer and no witnesses (no network, no
 * transparency log). The public key is referenced by its fingerprint as the bundle's key hint.
 */
export async function signStatement(
  statement: InTotoStatement<unknown>,
  privateKey: KeyObject,
): Promise<SigstoreBundleJson> {
  if (privateKey.type !== 'private' || privateKey.asymmetricKeyType !== 'ed25519') {
    throw new AntidoteError('INVALID_ARGUMENT', 'signing needs an Ed25519 private key');
  }
  const publicKey = createPublicKey(privateKey);
  const hint = keyFingerprint(publicKey);
  const publicKeyPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const builder = new DSSEBundleBuilder({
    signer: {
      sign: async (data: Buffer) => ({
        signature: edSign(null, data, privateKey),
        key: { $case: 'publicKey', publicKey: publicKeyPem, hint },
      }),
    },
    witnesses: [],
  });
  const bundle = await builder.create({
    data: canonicalJsonBytes(statement),
    type: IN_TOTO_PAYLOAD_TYPE,
  });
  if (bundle.content.$case !== 'dsseEnvelope') {
    throw new AntidoteError('INVALID_STATE', 'sigstore returned a non-DSSE bundle');
  }
  const env = bundle.content.dsseEnvelope;
  return {
    mediaType: SIGSTORE_BUNDLE_V03,
    verificationMaterial: {
      publicKey: { hint },
      tlogEntries: [],
      timestampVerificationData: { rfc3161Timestamps: [] },
    },
    dsseEnvelope: {
      payload: Buffer.from(env.payload).toString('base64'),
      payloadType: IN_TOTO_PAYLOAD_TYPE,
      signatures: env.signatures.map((s) => ({
        sig: Buffer.from(s.sig).toString('base64'),
        keyid: s.keyid,
      })),
    },
  };
}

/** Parses bundle JSON against {@link sigstoreBundleSchema}; `SIGNATURE_INVALID` when it does not fit. */
export function parseBundle(text: string | Uint8Array, where = 'bundle'): SigstoreBundleJson {
  const raw = parseJson(text, where, { code: 'SIGNATURE_INVALID' });
  return parseWith(sigstoreBundleSchema, raw, where, {
    code: 'SIGNATURE_INVALID',
    head: `${where} is not a Sigstore v0.3 DSSE bundle`,
    withField: true,
  });
}

/**
 * Verifies a bundle with `@sigstore/verify` against one trusted Ed25519 public key (no
 * transparency log, no timestamps required) and returns its validated in-toto statement.
 * Fails with `SIGNATURE_INVALID` when the bundle was made by another key, was altered, or its
 * payload is not an in-toto Statement v1 (of `predicateType`, when given).
 */
export function verifyBundle(
  bundle: SigstoreBundleJson,
  trustedKey: KeyObject,
  options: { predicateType?: string; where?: string } = {},
): InTotoStatement {
  const where = options.where ?? 'bundle';
  const pub = trustedKey.type === 'private' ? createPublicKey(trustedKey) : trustedKey;
  const trusted = keyFingerprint(pub);
  const hint = bundle.verificationMaterial.publicKey.hint;
  const inMemory = {
    mediaType: bundle.mediaType,
    content: {
      $case: 'dsseEnvelope' as const,
      dsseEnvelope: {
        payload: Buffer.from(bundle.dsseEnvelope.payload, 'base64'),
        payloadType: bundle.dsseEnvelope.payloadType,
        signatures: bundle.dsseEnvelope.signatures.map((s) => ({
          sig: Buffer.from(s.sig, 'base64'),
          keyid: s.keyid ?? '',
        })),
      },
    },
    verificationMaterial: {
      content: { $case: 'publicKey' as const, publicKey: { hint } },
      tlogEntries: [],
      timestampVerificationData: { rfc3161Timestamps: [] },
    },
  };
  const verifier = new Verifier(
    {
      certificateAuthorities: [],
      timestampAuthorities: [],
      tlogs: [],
      ctlogs: [],
      publicKey: (h: string) => {
        if (h !== trusted) {
          throw new AntidoteError(
            'SIGNATURE_INVALID',
            `${where} was signed by key ${h}, not by the trusted key ${trusted}`,
            { path: where, keyHint: h, trusted },
          );
        }
        return { publicKey: pub, validFor: () => true };
      },
    },
    { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 },
  );
  try {
    verifier.verify(toSignedEntity(inMemory as unknown as Parameters<typeof toSignedEntity>[0]));
  } catch (e) {
    if (e instanceof AntidoteError) throw e;
    throw new AntidoteError(
      'SIGNATURE_INVALID',
      `${where}: the signature does not verify with key ${trusted} (${(e as Error).message})`,
      { path: where },
      { cause: e },
    );
  }
  let statement: unknown;
  try {
    statement = JSON.parse(inMemory.content.dsseEnvelope.payload.toString('utf8'));
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
