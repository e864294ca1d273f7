import { existsSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { LoadedDataset } from '../data/load.js';
import { recordViews } from '../data/record-view.js';
import { loadPublicKey } from '../integrity/keys.js';
import {
  createManifest,
  diffManifests,
  type Manifest,
  type ManifestDiff,
  SIGNATURE_FILE,
} from '../integrity/manifest.js';
import { verifyDirectory } from '../integrity/model-signing.js';
import { loadVersionManifest, type VersionRecord } from '../integrity/versioning.js';
import { SqliteCatalogueStore } from '../registry/sqlite-store.js';
import { findProjectDir } from '../registry/store.js';

/** What the audit's integrity check found about a dataset. */
export interface IntegrityFindings {
  /** Root digest of the dataset directory's manifest (directories only). */
  rootDigest?: string;
  records: number;
  /** Merkle root over the records. */
  recordsRoot?: string;
  signature: {
    present: boolean;
    verified?: boolean;
    signer?: string;
    problems?: string[];
    note?: string;
  };
  /** The last committed version of the dataset in the catalogue, and the diff against it. */
  previous?: { version: VersionRecord; diff: ManifestDiff };
}

/** Options of {@link checkIntegrity}. */
export interface IntegrityCheckOptions {
  /** Public key to check the dataset's signature with. */
  readonly publicKeyPath?: string | undefined;
  /** Project folder holding the catalogue (default: found from the data directory upwards). */
  readonly project?: string | undefined;
}

/** Checks the signature of a dataset directory with the given public key, if any. */
async function checkSignature(
  data: LoadedDataset,
  publicKeyPath: string | undefined,
): Promise<IntegrityFindings['signature']> {
  if (!existsSync(join(data.spec, SIGNATURE_FILE))) return { present: false };
  if (!publicKeyPath) {
    return {
      present: true,
      note: 'a signature is present but no public key was given to check it (--key)',
    };
  }
  try {
    const v = await verifyDirectory(data.spec, await loadPublicKey(publicKeyPath), {
      records: recordViews(data.dataset),
    });
    return {
      present: true,
      verified: v.ok,
      signer: v.signer,
      problems: v.problems.map((p) => p.message),
    };
  } catch (e) {
    return { present: true, verified: false, problems: [(e as Error).message] };
  }
}

/** The diff against the last version of the dataset committed to the project's catalogue. */
async function diffAgainstCatalogue(
  spec: string,
  manifest: Manifest,
  project: string | undefined,
): Promise<IntegrityFindings['previous']> {
  const dir = project ?? findProjectDir(dirname(spec));
  if (!dir) return undefined;
  const store = SqliteCatalogueStore.open(dir);
  try {
    const head = store.latestVersion('dataset', basename(spec));
    if (!head) return undefined;
    const previous = await loadVersionManifest(head, store.objects);
    return { version: head, diff: diffManifests(previous, manifest) };
  } finally {
    store.close();
  }
}

/**
 * The audit's integrity stage: the manifest of a dataset directory (root digest, Merkle root over
 * its records), its signature checked with `publicKeyPath`, and the record-level diff against
 * the last committed version of the dataset (label changes apart). Data that is not a directory
 * has nothing to sign or verify.
 */
export async function checkIntegrity(
  data: LoadedDataset,
  options: IntegrityCheckOptions = {},
): Promise<IntegrityFindings> {
  const spec = data.spec;
  const records = data.dataset.y.length;
  if (!(existsSync(spec) && statSync(spec).isDirectory())) {
    return {
      records,
      signature: { present: false, note: 'not a directory: nothing to sign or verify' },
    };
  }
  const manifest = await createManifest(spec, { records: recordViews(data.dataset) });
  const previous = await diffAgainstCatalogue(spec, manifest, options.project);
  return {
    rootDigest: manifest.rootDigest,
    records,
    ...(manifest.records ? { recordsRoot: manifest.records.merkleRoot } : {}),
    signature: await checkSignature(data, options.publicKeyPath),
    ...(previous ? { previous } : {}),
  };
}
