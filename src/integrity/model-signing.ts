import type { KeyObject } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { AntidoteError } from '../errors.js';
import { readBytes, writeFileAtomic } from '../util/fs.js';
import { parseWith } from '../util/schema.js';
import type { JsonValue } from './canonical-json.js';
import { digestEquals } from './hash.js';
import {
  checkManifestConsistency,
  compareRecords,
  createManifest,
  hashFiles,
  hashRecords,
  type IntegrityProblem,
  listFiles,
  MANIFEST_FILE,
  type Manifest,
  manifestDigest,
  parseManifest,
  rootDigestOf,
  SIGNATURE_FILE,
  writeManifest,
} from './manifest.js';
import type { RecordInput } from './record-hash.js';
import {
  IN_TOTO_STATEMENT_V1,
  type InTotoStatement,
  parseBundle,
  type SigstoreBundleJson,
  signStatement,
  verifyBundle,
} from './sigstore-bundle.js';

/** Predicate type of the OpenSSF model-signing v1.0 format (sigstore/model-transparency). */
export const MODEL_SIGNING_PREDICATE_V1 = 'https://model_signing/signature/v1.0';

const hex64 = z.string().regex(/^[0-9a-f]{64}$/);

/**
 * Zod schema of the model-signing v1.0 predicate: `serialization` (method `files`), `resources`
 * (name, algorithm, hex digest, sorted by name) and, as an allowed extension, `antidote`
 * (manifest digest and record Merkle root), which v1.0 verifiers ignore.
 */
export const modelSigningPredicateSchema = z.object({
  serialization: z.object({
    method: z.literal('files'),
    hash_type: z.literal('sha256'),
    allow_symlinks: z.boolean(),
    ignore_paths: z.array(z.string()),
  }),
  resources: z.array(
    z.strictObject({ name: z.string(), algorithm: z.literal('sha256'), digest: hex64 }),
  ),
  antidote: z
    .strictObject({
      manifestDigest: hex64,
      records: z
        .strictObject({ count: z.number().int().nonnegative(), merkleRoot: hex64 })
        .optional(),
      meta: z.record(z.string(), z.unknown()).optional(),
      signedAt: z.string().optional(),
    })
    .optional(),
});

/** The model-signing v1.0 predicate. */
export type ModelSigningPredicate = z.infer<typeof modelSigningPredicateSchema>;

/**
 * The in-toto Statement v1 for a manifest in the OpenSSF model-signing v1.0 shape: one subject
 * (the manifest name, digest = SHA-256 over the resources' raw digests in name order) and every
 * file as a resource.
 */
export function modelSigningStatement(
  m: Manifest,
  options: { signedAt?: string } = {},
): InTotoStatement<ModelSigningPredicate> {
  return {
    _type: IN_TOTO_STATEMENT_V1,
    subject: [{ name: m.name, digest: { sha256: m.rootDigest } }],
    predicateType: MODEL_SIGNING_PREDICATE_V1,
    predicate: {
      serialization: {
        method: 'files',
        hash_type: 'sha256',
        allow_symlinks: false,
        ignore_paths: [...m.ignore],
      },
      resources: m.files.map((f) => ({
        name: f.path,
        algorithm: 'sha256' as const,
        digest: f.digest,
      })),
      antidote: {
        manifestDigest: manifestDigest(m),
        ...(m.records
          ? { records: { count: m.records.count, merkleRoot: m.records.merkleRoot } }
          : {}),
        ...(m.meta ? { meta: m.meta as Record<string, JsonValue> } : {}),
        ...(options.signedAt ? { signedAt: options.signedAt } : {}),
      },
    },
  };
}

/** Options for {@link signDirectory}. */
export interface SignDirectoryOptions {
  /** Dataset records (from the data layer), hashed into the manifest. */
  readonly records?: Iterable<RecordInput>;
  readonly name?: string;
  readonly meta?: { readonly [key: string]: JsonValue };
  /** ISO time recorded in the statement; omitted when not given (keeps output reproducible). */
  readonly signedAt?: string;
  /** Where to write the bundle; default `DIR/antidote.sig`. */
  readonly bundlePath?: string;
}

/**
 * Hashes `dir`, writes its manifest (`antidote.manifest.json`) and a Sigstore bundle over the
 * model-signing statement (`antidote.sig`). Returns the manifest and bundle.
 */
export async function signDirectory(
  dir: string,
  privateKey: KeyObject,
  options: SignDirectoryOptions = {},
): Promise<{ manifest: Manifest; bundle: SigstoreBundleJson; bundlePath: string }> {
  const manifest = await createManifest(dir, {
    ...(options.name ? { name: options.name } : {}),
    ...(options.records ? { records: options.records } : {}),
    ...(options.meta ? { meta: options.meta } : {}),
  });
  const bundle = await signStatement(
    modelSigningStatement(manifest, options.signedAt ? { signedAt: options.signedAt } : {}),
    privateKey,
  );
  await writeManifest(dir, manifest);
  const bundlePath = options.bundlePath ?? join(dir, SIGNATURE_FILE);
  await writeFileAtomic(bundlePath, `${JSON.stringify(bundle, null, 2)}\n`);
  return { manifest, bundle, bundlePath };
}

/** What a verifier expects, to reject a validly signed but replayed older manifest. */
export interface ExpectedContent {
  /** The files root digest the catalogue holds for this version. */
  readonly rootDigest?: string;
  /** The record Merkle root the catalogue holds for this version. */
  readonly recordsRoot?: string;
  /** The exact manifest digest expected. */
  readonly manifestDigest?: string;
}

/** Options for {@link verifyDirectory}. */
export interface VerifyDirectoryOptions {
  readonly records?: Iterable<RecordInput>;
  readonly expected?: ExpectedContent;
  readonly bundlePath?: string;
}

/** Result of {@link verifyDirectory}. */
export interface DirectoryVerification {
  readonly statement: InTotoStatement<ModelSigningPredicate>;
  readonly signer: string;
  readonly problems: readonly IntegrityProblem[];
  readonly ok: boolean;
}

async function readText(path: string, what: string): Promise<Uint8Array> {
  return readBytes(path, { message: (e) => `${what} ${path} cannot be read: ${e.message}` });
}

/**
 * Verifies a signed directory: the bundle's signature (with `@sigstore/verify`, against
 * `publicKey`), the statement's shape and root digest, the expected content (replay check), then
 * re-hashes every file against the signed resources and, with `records`, every record against the
 * manifest (whose digest is signed). Signature problems throw `SIGNATURE_INVALID`; content
 * problems are returned, each naming the file or record.
 */
export async function verifyDirectory(
  dir: string,
  publicKey: KeyObject,
  options: VerifyDirectoryOptions = {},
): Promise<DirectoryVerification> {
  const bundlePath = options.bundlePath ?? join(dir, SIGNATURE_FILE);
  const bundle = parseBundle(await readText(bundlePath, 'signature'), bundlePath);
  const raw = verifyBundle(bundle, publicKey, {
    predicateType: MODEL_SIGNING_PREDICATE_V1,
    where: bundlePath,
  });
  const predicate = parseWith(modelSigningPredicateSchema, raw.predicate, bundlePath, {
    code: 'SIGNATURE_INVALID',
    head: `${bundlePath}: predicate is not model-signing v1.0`,
    root: '',
  });
  const statement = { ...raw, predicate } as InTotoStatement<ModelSigningPredicate>;
  const problems: IntegrityProblem[] = [];
  const subjectDigest = statement.subject[0]?.digest.sha256 ?? '';
  const signedRoot = rootDigestOf(predicate.resources);
  if (statement.subject.length !== 1 || !digestEquals(signedRoot, subjectDigest)) {
    problems.push({
      kind: 'manifest-inconsistent',
      message: 'signed subject digest does not match the signed resources',
    });
  }
  const exp = options.expected;
  if (exp?.rootDigest && !digestEquals(exp.rootDigest, signedRoot)) {
    throw new AntidoteError(
      'INTEGRITY_MISMATCH',
      `${bundlePath}: signed content ${signedRoot.slice(0, 16)}… is not the expected version ${exp.rootDigest.slice(0, 16)}… (replayed or stale signature)`,
      { path: bundlePath, expected: exp.rootDigest, actual: signedRoot },
    );
  }
  const signedRecords = predicate.antidote?.records?.merkleRoot;
  if (exp?.recordsRoot && (!signedRecords || !digestEquals(exp.recordsRoot, signedRecords))) {
    throw new AntidoteError(
      'INTEGRITY_MISMATCH',
      `${bundlePath}: signed records root is not the expected version's (replayed or stale signature)`,
      { path: bundlePath, expected: exp.recordsRoot, actual: signedRecords },
    );
  }
  const signedManifestDigest = predicate.antidote?.manifestDigest;
  if (
    exp?.manifestDigest &&
    (!signedManifestDigest || !digestEquals(exp.manifestDigest, signedManifestDigest))
  ) {
    throw new AntidoteError(
      'INTEGRITY_MISMATCH',
      `${bundlePath}: signed manifest is not the expected one (replayed or stale signature)`,
      { path: bundlePath, expected: exp.manifestDigest, actual: signedManifestDigest },
    );
  }
  // Files: the signed resources are authoritative.
  const ignore = predicate.serialization.ignore_paths;
  const paths = await listFiles(dir, ignore);
  const want = new Map(predicate.resources.map((r) => [r.name, r.digest]));
  const present = new Set(paths);
  for (const r of predicate.resources) {
    if (!present.has(r.name)) {
      problems.push({ kind: 'missing-file', path: r.name, message: `file ${r.name} is missing` });
    }
  }
  const toHash = paths.filter((p) => {
    if (want.has(p)) return true;
    problems.push({
      kind: 'extra-file',
      path: p,
      message: `file ${p} is not in the signed manifest`,
    });
    return false;
  });
  for (const f of await hashFiles(dir, toHash)) {
    const w = want.get(f.path)!;
    if (!digestEquals(w, f.digest)) {
      problems.push({
        kind: 'file-changed',
        path: f.path,
        expected: w,
        actual: f.digest,
        message: `file ${f.path} does not match its signed digest`,
      });
    }
  }
  // The manifest file carries the per-record digests; its digest is signed.
  let manifest: Manifest | undefined;
  let manifestOk = false;
  const manifestPath = join(dir, MANIFEST_FILE);
  if (signedManifestDigest && existsSync(manifestPath)) {
    try {
      manifest = parseManifest(await readFile(manifestPath), manifestPath);
      manifestOk =
        digestEquals(manifestDigest(manifest), signedManifestDigest) &&
        checkManifestConsistency(manifest).length === 0;
    } catch {
      manifestOk = false;
    }
    if (!manifestOk) {
      problems.push({
        kind: 'file-changed',
        path: MANIFEST_FILE,
        expected: signedManifestDigest,
        actual: manifest ? manifestDigest(manifest) : 'unparseable',
        message: `${MANIFEST_FILE} does not match the signed manifest digest`,
      });
    }
  }
  if (options.records) {
    const actual = hashRecords(options.records);
    if (!signedRecords) {
      problems.push({ kind: 'manifest-inconsistent', message: 'the signature covers no records' });
    } else if (!digestEquals(actual.merkleRoot, signedRecords)) {
      if (manifestOk && manifest?.records) {
        problems.push(...compareRecords(manifest.records.items, actual.items));
      } else {
        problems.push({
          kind: 'manifest-inconsistent',
          message: `records do not match the signed records root, and ${MANIFEST_FILE} (needed to name them) is missing or altered`,
        });
      }
    }
  }
  return {
    statement,
    signer: bundle.verificationMaterial.publicKey.hint,
    problems,
    ok: problems.length === 0,
  };
}
