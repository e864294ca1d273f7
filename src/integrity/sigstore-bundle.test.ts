import { createPrivateKey, createPublicKey, verify } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { isAntidoteError } from '../errors.js';
import { preAuthEncoding } from './dsse.js';
import { generateSigningKeyPair, keyFingerprint, omsKeyHint } from './keys.js';
import {
  type InTotoStatement,
  parseBundle,
  signStatement,
  verifyBundle,
} from './sigstore-bundle.js';

const statement: InTotoStatement = {
  _type: 'https://in-toto.io/Statement/v1',
  subject: [{ name: 'thing', digest: { sha256: 'ab'.repeat(32) } }],
  predicateType: 'https://example.com/p/v1',
  predicate: { hello: 'world', n: 1 },
};

function expectCode(fn: () => unknown, code: string, msg?: RegExp): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(isAntidoteError(err), String(err)).toBe(true);
  expect((err as { code: string }).code).toBe(code);
  if (msg) expect((err as Error).message).toMatch(msg);
}

describe('sigstore bundle', () => {
  const pair = generateSigningKeyPair();
  const priv = createPrivateKey(pair.privateKeyPem);
  const pub = createPublicKey(pair.publicKeyPem);

  it('has the exact v0.3 media type, DSSE envelope and a PAE signature', async () => {
    const b = await signStatement(statement, priv);
    const exact = z.strictObject({
      mediaType: z.literal('application/vnd.dev.sigstore.bundle.v0.3+json'),
      verificationMaterial: z.strictObject({
        // OMS key method: hint = hex SHA-256 of the SPKI PEM, as the reference tool writes it.
        publicKey: z.strictObject({ hint: z.literal(omsKeyHint(pub)) }),
        tlogEntries: z.array(z.never()).length(0),
      }),
      dsseEnvelope: z.strictObject({
        payload: z.string(),
        payloadType: z.literal('application/vnd.in-toto+json'),
        signatures: z.array(z.strictObject({ sig: z.string(), keyid: z.literal('') })).length(1),
      }),
    });
    const json = JSON.parse(JSON.stringify(b));
    expect(exact.safeParse(json).success).toBe(true);
    const payload = Buffer.from(json.dsseEnvelope.payload, 'base64');
    expect(JSON.parse(payload.toString())).toEqual(statement);
    // Independent check: an ECDSA P-256 / SHA-256 signature (the default key) over the DSSE v1 PAE.
    const pae = preAuthEncoding('application/vnd.in-toto+json', payload);
    expect(pae.subarray(0, 39).toString()).toBe('DSSEv1 28 application/vnd.in-toto+json ');
    const sig = Buffer.from(json.dsseEnvelope.signatures[0].sig, 'base64');
    expect(pub.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(verify('sha256', pae, pub, sig)).toBe(true);
    expect(verifyBundle(parseBundle(JSON.stringify(b)), pub)).toEqual(statement);
  });

  it('rejects a wrong key, a flipped signature byte and an altered payload', async () => {
    const b = await signStatement(statement, priv);
    const other = createPublicKey(generateSigningKeyPair().publicKeyPem);
    expectCode(() => verifyBundle(b, other), 'SIGNATURE_INVALID', /signed by key/);

    const sig = Buffer.from(b.dsseEnvelope.signatures[0]!.sig, 'base64');
    sig[5]! ^= 0x01;
    const badSig = {
      ...b,
      dsseEnvelope: { ...b.dsseEnvelope, signatures: [{ sig: sig.toString('base64'), keyid: '' }] },
    };
    expectCode(() => verifyBundle(badSig, pub), 'SIGNATURE_INVALID', /does not verify/);

    const payload = Buffer.from(b.dsseEnvelope.payload, 'base64');
    payload[payload.indexOf('world')] = 'W'.charCodeAt(0);
    const badPayload = {
      ...b,
      dsseEnvelope: { ...b.dsseEnvelope, payload: payload.toString('base64') },
    };
    expectCode(() => verifyBundle(badPayload, pub), 'SIGNATURE_INVALID', /does not verify/);

    // Forged hint pointing at the trusted key but signed by another key.
    const forger = createPrivateKey(generateSigningKeyPair().privateKeyPem);
    const forged = await signStatement(statement, forger);
    const relabelled = {
      ...forged,
      verificationMaterial: {
        ...forged.verificationMaterial,
        publicKey: { hint: keyFingerprint(pub) },
      },
    };
    expectCode(() => verifyBundle(relabelled, pub), 'SIGNATURE_INVALID', /does not verify/);
  });

  it('rejects bundles of a non-Sigstore media type, or key bundles with tlog entries', async () => {
    const b = await signStatement(statement, priv);
    expectCode(
      () =>
        parseBundle(
          JSON.stringify({
            ...b,
            mediaType: 'application/json',
          }),
        ),
      'SIGNATURE_INVALID',
    );
    expectCode(
      () =>
        parseBundle(
          JSON.stringify({
            ...b,
            verificationMaterial: { ...b.verificationMaterial, tlogEntries: [{}] },
          }),
        ),
      'SIGNATURE_INVALID',
      /transparency-log/,
    );
    expectCode(() => parseBundle('{'), 'SIGNATURE_INVALID');
  });

  it('checks the predicate type when asked', async () => {
    const b = await signStatement(statement, priv);
    expectCode(
      () => verifyBundle(b, pub, { predicateType: 'https://slsa.dev/provenance/v1' }),
      'SIGNATURE_INVALID',
      /predicate type/,
    );
  });
});
