/**
 * Sigstore keyless verification (OMS `sigstore` method), offline: a bundle holding a short-lived
 * Fulcio certificate, Rekor transparency-log entries and (optionally) RFC 3161 timestamps is
 * checked by `@sigstore/verify` against a trusted root the user supplies (the
 * `trusted_root.json` of the Sigstore instance, protobuf-specs `TrustedRoot`), and the
 * certificate's identity (SAN) and OIDC issuer against the expected ones. Nothing is fetched.
 */
import { bundleFromJSON } from '@sigstore/bundle';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import { toSignedEntity, toTrustMaterial, Verifier } from '@sigstore/verify';
import { AntidoteError } from '../errors.js';
import type { SigstoreBundleJson } from './sigstore-bundle.js';

/** What a keyless verification trusts. */
export interface KeylessTrust {
  /** The Sigstore trusted root (parsed `trusted_root.json`). */
  readonly trustedRoot: unknown;
  /** Expected certificate identity: the SAN e-mail or URI. */
  readonly identity?: string;
  /** Expected OIDC issuer (Fulcio extension 1.3.6.1.4.1.57264.1.1 / .8). */
  readonly issuer?: string;
}

/**
 * Verifies a keyless bundle (certificate chain to a Fulcio CA of the trusted root, SCT, Rekor
 * inclusion promise or proof, timestamps, DSSE signature) and the signer identity; returns the
 * identity (`SAN (issuer)`). `SIGNATURE_INVALID` naming `where` with the verifier's reason.
 */
export function verifyKeyless(
  bundle: SigstoreBundleJson,
  trust: KeylessTrust,
  where: string,
): string {
  if (!trust.identity || !trust.issuer) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `${where} is a Sigstore keyless bundle: give the expected signer --identity and --identity-provider (anyone can get a Sigstore certificate; only the identity makes it yours)`,
      { path: where },
    );
  }
  let material: ReturnType<typeof toTrustMaterial>;
  try {
    material = toTrustMaterial(TrustedRoot.fromJSON(trust.trustedRoot));
  } catch (e) {
    throw new AntidoteError(
      'INVALID_FORMAT',
      `the trusted root is not a Sigstore TrustedRoot: ${(e as Error).message}`,
      {},
      { cause: e },
    );
  }
  try {
    const entity = toSignedEntity(bundleFromJSON(bundle));
    const signer = new Verifier(material).verify(entity, {
      subjectAlternativeName: trust.identity,
      extensions: { issuer: trust.issuer },
    });
    return `${signer.identity?.subjectAlternativeName ?? trust.identity} (${signer.identity?.extensions?.issuer ?? trust.issuer})`;
  } catch (e) {
    throw new AntidoteError(
      'SIGNATURE_INVALID',
      `${where}: Sigstore verification failed: ${(e as Error).message}`,
      { path: where },
      { cause: e },
    );
  }
}
