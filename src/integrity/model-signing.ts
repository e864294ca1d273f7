/**
 * Signing and verifying models and datasets in the OpenSSF model-signing (OMS) v1.0 format
 * (ossf/model-signing-spec; reference implementation sigstore/model-transparency): a Sigstore
 * bundle holding a DSSE envelope over an in-toto Statement v1 whose predicate lists every file
 * (or shard) of the model with its digest. A model is a directory or a single file.
 *
 * Coverage: every file of a directory is signed except the OMS default exclusions (`.git`,
 * `.gitignore`, `.gitattributes`, `.github`), the signature file itself and the paths the signer
 * names with `ignorePaths` (recorded in the signature). Antidote's own files are covered like any
 * other: the manifest (`antidote.manifest.json`, which carries the per-record digests of a
 * dataset), the provenance (`antidote.provenance.json`) and its signature, and `.antidote/`.
 *
 * Bundles written before this format (Ed25519 keys, an `antidote` extension inside the predicate
 * and Antidote's files left out) still verify, with a note that they are not OMS-conformant.
 */
import { KeyObject, type X509Certificate } from 'node:crypto';
import { lstat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { AntidoteError } from '../errors.js';
import { readBytes, writeFileAtomic } from '../util/fs.js';
import { parseWith } from '../util/schema.js';
import type { JsonValue } from './canonical-json.js';
import { digestEquals } from './hash.js';
import {
  checkManifestConsistency,
  compareRecords,
  createManifest,
  DEFAULT_IGNORE,
  hashRecords,
  type IntegrityProblem,
  MANIFEST_FILE,
  type Manifest,
  manifestDigest,
  parseManifest,
  rootDigestOf,
  SIGNATURE_FILE,
  writeManifest,
} from './manifest.js';
import {
  checkModel,
  OMS_PREDICATE_TYPE,
  type OmsHashType,
  type OmsPredicate,
  omsPredicateSchema,
  relativeInside,
  serializeModel,
} from './oms-manifest.js';
import type { RecordInput } from './record-hash.js';
import {
  type BundleTrust,
  IN_TOTO_STATEMENT_V1,
  type InTotoStatement,
  parseBundle,
  type SigningMethod,
  type SigstoreBundleJson,
  signStatement,
  statementOf,
  verifyBundleSignature,
} from './sigstore-bundle.js';

/** Predicate type of the OpenSSF model-signing v1.0 format (OMS). */
export const MODEL_SIGNING_PREDICATE_V1 = OMS_PREDICATE_TYPE;

/** Zod schema of the model-signing v1.0 predicate (see `omsPredicateSchema`). */
export const modelSigningPredicateSchema = omsPredicateSchema;

/** The model-signing v1.0 predicate. */
export type ModelSigningPredicate = OmsPredicate;

/** The default signature path of a model: `DIR/antidote.sig`, or `FILE.sig` for a single file. */
export async function defaultSignaturePath(modelPath: string): Promise<string> {
  const st = await lstat(modelPath).catch(() => undefined);
  if (!st) throw new AntidoteError('NOT_FOUND', `no model at ${modelPath}`, { path: modelPath });
  return st.isDirectory() ? join(modelPath, SIGNATURE_FILE) : `${modelPath}.sig`;
}

/** Options for {@link signModel}. */
export interface SignModelOptions {
  /** Where to write the bundle; default {@link defaultSignaturePath}. */
  readonly signaturePath?: string;
  /** Certificate method: the signing certificate then its intermediates (key method otherwise). */
  readonly certificateChain?: readonly X509Certificate[];
  /** `sha256` (default) or `blake2b`. */
  readonly hashType?: OmsHashType;
  /** Shard serialization with this shard size in bytes; file serialization when omitted. */
  readonly shardSize?: number;
  /** Paths relative to the model root to leave out (recorded in the signature). */
  readonly ignorePaths?: readonly string[];
  /** Follow symbolic links (default false: a link is an error). */
  readonly allowSymlinks?: boolean;
  /** Hashing worker threads; default one per core for large models. */
  readonly threads?: number;
  /** Subject name; default the model's base name. */
  readonly name?: string;
  /** Dataset records (directories only): hashed into `antidote.manifest.json`, which is signed. */
  readonly records?: Iterable<RecordInput>;
  /** Context written in the manifest (directories only). */
  readonly meta?: { readonly [key: string]: JsonValue };
  /** Write `antidote.manifest.json` into a directory before signing it (default true). */
  readonly writeManifest?: boolean;
}

/** Result of {@link signModel}. */
export interface SignedModel {
  readonly bundle: SigstoreBundleJson;
  readonly bundlePath: string;
  readonly statement: InTotoStatement<OmsPredicate>;
  /** The Antidote manifest written into a directory (absent for a single file). */
  readonly manifest?: Manifest;
  /** The OMS root digest (subject digest). */
  readonly rootDigest: string;
  readonly notes: readonly string[];
}

/**
 * Signs a model (directory or single file) in the OMS v1.0 format with `privateKey` (ECDSA
 * P-256/384/521; Ed25519 still signs, but the result is not OMS-conformant and a note says so),
 * by the key method or, with `certificateChain`, the certificate method. A directory first gets
 * its `antidote.manifest.json` (file digests and, for a dataset, record digests), which the
 * signature then covers like every other file.
 */
export async function signModel(
  modelPath: string,
  privateKey: KeyObject,
  options: SignModelOptions = {},
): Promise<SignedModel> {
  const st = await lstat(modelPath).catch(() => undefined);
  if (!st) throw new AntidoteError('NOT_FOUND', `no model at ${modelPath}`, { path: modelPath });
  const isDir = st.isDirectory();
  const bundlePath = options.signaturePath ?? (await defaultSignaturePath(modelPath));
  if (!isDir && resolve(bundlePath) === resolve(modelPath)) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `the signature cannot overwrite the model ${modelPath}`,
    );
  }
  if (!isDir && (options.records || options.meta)) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      'records and meta need a directory (a manifest is written into it)',
    );
  }
  let manifest: Manifest | undefined;
  if (isDir && options.writeManifest !== false) {
    manifest = await createManifest(modelPath, {
      ...(options.name ? { name: options.name } : {}),
      ...(options.records ? { records: options.records } : {}),
      ...(options.meta ? { meta: options.meta } : {}),
    });
    await writeManifest(modelPath, manifest);
  }
  const inside = isDir ? relativeInside(modelPath, bundlePath) : undefined;
  const { resources, serialization, notes } = await serializeModel(modelPath, {
    ...(options.hashType ? { hashType: options.hashType } : {}),
    ...(options.shardSize !== undefined ? { shardSize: options.shardSize } : {}),
    ignorePaths: [...(options.ignorePaths ?? []), ...(inside ? [inside] : [])],
    allowSymlinks: !!options.allowSymlinks,
    ...(options.threads !== undefined ? { threads: options.threads } : {}),
  });
  const rootDigest = rootDigestOf(resources);
  const statement: InTotoStatement<OmsPredicate> = {
    _type: IN_TOTO_STATEMENT_V1,
    subject: [
      {
        name: options.name ?? (basename(resolve(modelPath)) || 'model'),
        digest: { sha256: rootDigest },
      },
    ],
    predicateType: OMS_PREDICATE_TYPE,
    predicate: { resources, serialization },
  };
  const bundle = await signStatement(statement, privateKey, {
    ...(options.certificateChain ? { certificateChain: options.certificateChain } : {}),
  });
  await writeFileAtomic(bundlePath, `${JSON.stringify(bundle, null, 2)}\n`);
  const extra =
    privateKey.asymmetricKeyType === 'ed25519'
      ? [
          'signed with an Ed25519 key: not OMS v1.0-conformant (other OMS verifiers reject it); new keys from `antidote keys generate` are ECDSA P-256',
        ]
      : [];
  return {
    bundle,
    bundlePath,
    statement,
    ...(manifest ? { manifest } : {}),
    rootDigest,
    notes: [...notes, ...extra],
  };
}

/** What a verifier expects, to reject a validly signed but replayed older version. */
export interface ExpectedContent {
  /**
   * The root digest the catalogue holds for this version: the SHA-256 root over the content
   * files (Antidote's own files left out, as the catalogue hashes them), or the OMS subject digest.
   */
  readonly rootDigest?: string;
  /** The record Merkle root the catalogue holds for this version. */
  readonly recordsRoot?: string;
  /** The exact manifest digest expected. */
  readonly manifestDigest?: string;
}

/** Options for {@link verifyModel}. */
export interface VerifyModelOptions {
  /** The bundle; default {@link defaultSignaturePath}. */
  readonly signaturePath?: string;
  /** Dataset records to check against the signed manifest's record digests. */
  readonly records?: Iterable<RecordInput>;
  /** Replay defence: the content the catalogue says this must be. */
  readonly expected?: ExpectedContent;
  /** Extra paths (relative to the model root) left out of the check. */
  readonly ignorePaths?: readonly string[];
  /** Do not fail for files present but not signed (OMS spec §8.5). */
  readonly ignoreUnsignedFiles?: boolean;
  /** Hashing worker threads; default one per core for large models (see `checkModel`). */
  readonly threads?: number;
}

/** Result of {@link verifyModel}. */
export interface ModelVerification {
  readonly statement: InTotoStatement<OmsPredicate>;
  readonly method: SigningMethod;
  /** Who signed (key fingerprint, certificate subject or Sigstore identity). */
  readonly signer: string;
  /** The model that was checked (a single file's folder when the signature covers the folder). */
  readonly modelPath: string;
  readonly kind: 'directory' | 'file';
  /** The OMS subject digest. */
  readonly rootDigest: string;
  /** Root over the content files, as the catalogue records it (when it could be derived). */
  readonly contentRoot?: string;
  readonly problems: readonly IntegrityProblem[];
  readonly notes: readonly string[];
  readonly ok: boolean;
}

function replay(
  where: string,
  what: string,
  expected: string,
  actual: string | undefined,
): AntidoteError {
  return new AntidoteError(
    'INTEGRITY_MISMATCH',
    `${where}: signed ${what} ${actual ? `${actual.slice(0, 16)}… ` : ''}is not the expected version's ${expected.slice(0, 16)}… (replayed or stale signature)`,
    { path: where, expected, actual },
  );
}

function isSingleFileOf(predicate: OmsPredicate, file: string): boolean {
  const name = basename(file);
  return predicate.resources.every(
    (r) =>
      r.name === name ||
      r.name === '.' ||
      (predicate.serialization.method === 'shards' &&
        r.name.startsWith(`${name}:`) &&
        !r.name.slice(name.length + 1).includes('/')),
  );
}

/** Root over the signed content files, Antidote's own files left out (what the catalogue records). */
function contentRootOf(predicate: OmsPredicate): string | undefined {
  const s = predicate.serialization;
  if (s.method !== 'files' || s.hash_type !== 'sha256') return undefined;
  const own = new Set(DEFAULT_IGNORE);
  return rootDigestOf(predicate.resources.filter((r) => !own.has(r.name.split('/')[0]!)));
}

/**
 * Verifies a signed model (directory or single file) in the OMS v1.0 format: the bundle's
 * signature against `trust` (a public key — also a bare `KeyObject` —, CA certificates, or a
 * Sigstore trusted root), the statement and predicate (OMS schema), the expected content (replay
 * check), then every file against the signed digests (serialization `files` or `shards`,
 * `sha256` or `blake2b`) and, with `records`, every record against the signed manifest. A file
 * path whose signature covers its folder verifies the folder. Signature problems throw
 * `SIGNATURE_INVALID`, a replay `INTEGRITY_MISMATCH`; content problems are returned, each naming
 * the file or record.
 */
export async function verifyModel(
  modelPath: string,
  trust: BundleTrust | KeyObject,
  options: VerifyModelOptions = {},
): Promise<ModelVerification> {
  const bundlePath = options.signaturePath ?? (await defaultSignaturePath(modelPath));
  const bundle = parseBundle(
    await readBytes(bundlePath, {
      message: (e) => `signature ${bundlePath} cannot be read: ${e.message}`,
    }),
    bundlePath,
  );
  const t: BundleTrust = trust instanceof KeyObject ? { kind: 'key', keys: [trust] } : trust;
  const sig = verifyBundleSignature(bundle, t, bundlePath);
  const raw = statementOf(sig.payload, { predicateType: OMS_PREDICATE_TYPE, where: bundlePath });
  const predicate = parseWith(omsPredicateSchema, raw.predicate, bundlePath, {
    code: 'SIGNATURE_INVALID',
    head: `${bundlePath}: the predicate is not OMS v1.0`,
    root: '',
  });
  const statement = { ...raw, predicate } as InTotoStatement<OmsPredicate>;
  const notes = [...sig.notes];
  if (predicate.antidote) {
    notes.push(
      'the signature uses the pre-OMS Antidote layout (an `antidote` field in the predicate; Antidote files not covered): re-sign to cover them',
    );
  }
  const problems: IntegrityProblem[] = [];
  const rootDigest = rootDigestOf(predicate.resources);
  const subjectDigest = statement.subject[0]?.digest.sha256;
  if (statement.subject.length !== 1 || !subjectDigest) {
    problems.push({
      kind: 'manifest-inconsistent',
      message: 'the statement must have exactly one subject with a sha256 digest',
    });
  } else if (!digestEquals(rootDigest, subjectDigest)) {
    notes.push(
      'the subject digest is not the root over the signed resources (informational, OMS §6.5.1)',
    );
  }
  if (predicate.resources.length === 0) {
    problems.push({ kind: 'manifest-inconsistent', message: 'the signature lists no file' });
  }
  // A file whose signature covers its folder: verify the folder.
  let target = modelPath;
  const st = await lstat(modelPath).catch(() => undefined);
  if (!st) throw new AntidoteError('NOT_FOUND', `no model at ${modelPath}`, { path: modelPath });
  if (!st.isDirectory() && !isSingleFileOf(predicate, modelPath)) target = dirname(modelPath);
  let contentRoot = contentRootOf(predicate);
  const exp = options.expected;
  if (
    exp?.rootDigest &&
    contentRoot &&
    !digestEquals(exp.rootDigest, contentRoot) &&
    !digestEquals(exp.rootDigest, rootDigest)
  ) {
    throw replay(bundlePath, 'content', exp.rootDigest, contentRoot);
  }
  const inside = (await lstat(target)).isDirectory()
    ? relativeInside(target, bundlePath)
    : undefined;
  const check = await checkModel(target, predicate, {
    ignorePaths: [...(options.ignorePaths ?? []), ...(inside ? [inside] : [])],
    ...(options.ignoreUnsignedFiles ? { ignoreUnsignedFiles: true } : {}),
    ...(options.threads !== undefined ? { threads: options.threads } : {}),
  });
  problems.push(...check.problems);
  notes.push(...check.notes);
  // The Antidote manifest: signed as a file (OMS layout) or by digest (legacy layout).
  let manifest: Manifest | undefined;
  let manifestOk = false;
  const manifestPath = join(target, MANIFEST_FILE);
  const legacyDigest = predicate.antidote?.manifestDigest;
  const signedAsFile = predicate.resources.some((r) => r.name === MANIFEST_FILE);
  if (check.kind === 'directory' && (signedAsFile || legacyDigest)) {
    try {
      manifest = parseManifest(await readBytes(manifestPath), manifestPath);
      manifestOk =
        (signedAsFile
          ? check.verified.has(MANIFEST_FILE)
          : digestEquals(manifestDigest(manifest), legacyDigest!)) &&
        checkManifestConsistency(manifest).length === 0;
    } catch {
      manifestOk = false;
    }
    if (!manifestOk && legacyDigest) {
      problems.push({
        kind: 'file-changed',
        path: MANIFEST_FILE,
        expected: legacyDigest,
        actual: manifest ? manifestDigest(manifest) : 'unparseable',
        message: `${MANIFEST_FILE} does not match the signed manifest digest`,
      });
    }
  }
  const signedRecords = manifestOk
    ? manifest?.records?.merkleRoot
    : predicate.antidote?.records?.merkleRoot;
  if (exp?.recordsRoot && (!signedRecords || !digestEquals(exp.recordsRoot, signedRecords))) {
    throw replay(bundlePath, 'records root', exp.recordsRoot, signedRecords);
  }
  if (exp?.manifestDigest) {
    const signedManifest =
      legacyDigest ?? (manifestOk && manifest ? manifestDigest(manifest) : undefined);
    if (!signedManifest || !digestEquals(exp.manifestDigest, signedManifest)) {
      throw replay(bundlePath, 'manifest', exp.manifestDigest, signedManifest);
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
  // Content root for a replay check the signed digests alone cannot answer (shards, blake2b).
  if (exp?.rootDigest && !contentRoot) {
    if (problems.length === 0 && check.kind === 'directory') {
      contentRoot = (await createManifest(target)).rootDigest;
      if (!digestEquals(exp.rootDigest, contentRoot) && !digestEquals(exp.rootDigest, rootDigest)) {
        throw replay(bundlePath, 'content', exp.rootDigest, contentRoot);
      }
    } else if (!digestEquals(exp.rootDigest, rootDigest)) {
      throw replay(bundlePath, 'content', exp.rootDigest, rootDigest);
    }
  }
  return {
    statement,
    method: sig.method,
    signer: sig.signer,
    modelPath: target,
    kind: check.kind,
    rootDigest,
    ...(contentRoot ? { contentRoot } : {}),
    problems,
    notes,
    ok: problems.length === 0,
  };
}

/** Options for {@link signDirectory}. */
export interface SignDirectoryOptions {
  /** Dataset records (from the data layer), hashed into the manifest. */
  readonly records?: Iterable<RecordInput>;
  readonly name?: string;
  readonly meta?: { readonly [key: string]: JsonValue };
  /** Where to write the bundle; default `DIR/antidote.sig`. */
  readonly bundlePath?: string;
  /** Certificate method: the signing certificate then its intermediates. */
  readonly certificateChain?: readonly X509Certificate[];
}

/**
 * Hashes `dir`, writes its manifest (`antidote.manifest.json`) and an OMS v1.0 bundle over every
 * file (`antidote.sig` by default). {@link signModel} for a directory, with the manifest returned.
 */
export async function signDirectory(
  dir: string,
  privateKey: KeyObject,
  options: SignDirectoryOptions = {},
): Promise<{
  manifest: Manifest;
  bundle: SigstoreBundleJson;
  bundlePath: string;
  rootDigest: string;
}> {
  const r = await signModel(dir, privateKey, {
    ...(options.name ? { name: options.name } : {}),
    ...(options.records ? { records: options.records } : {}),
    ...(options.meta ? { meta: options.meta } : {}),
    ...(options.bundlePath ? { signaturePath: options.bundlePath } : {}),
    ...(options.certificateChain ? { certificateChain: options.certificateChain } : {}),
  });
  return {
    manifest: r.manifest!,
    bundle: r.bundle,
    bundlePath: r.bundlePath,
    rootDigest: r.rootDigest,
  };
}

/** Options for {@link verifyDirectory}. */
export interface VerifyDirectoryOptions {
  readonly records?: Iterable<RecordInput>;
  readonly expected?: ExpectedContent;
  readonly bundlePath?: string;
}

/** Result of {@link verifyDirectory}. */
export type DirectoryVerification = ModelVerification;

/** {@link verifyModel} of a directory against one trusted public key (or other trust). */
export function verifyDirectory(
  dir: string,
  trust: KeyObject | BundleTrust,
  options: VerifyDirectoryOptions = {},
): Promise<DirectoryVerification> {
  return verifyModel(dir, trust, {
    ...(options.records ? { records: options.records } : {}),
    ...(options.expected ? { expected: options.expected } : {}),
    ...(options.bundlePath ? { signaturePath: options.bundlePath } : {}),
  });
}
