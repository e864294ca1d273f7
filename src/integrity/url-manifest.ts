/**
 * The URL manifest: the SHA-256 of each URL's bytes at snapshot time (the integrity check Carlini
 * et al., IEEE S&P 2024, recommend for URL-list datasets against split-view poisoning). Written
 * atomically (temporary file, then rename) by `url-snapshot.ts`, read by `url-fetch.ts`. The
 * manifest carries a digest over its entries, so an edit that does not recompute it is caught
 * (`INTEGRITY_MISMATCH`); against an editor who does, pin the digest (`--manifest-digest`) or sign
 * the file (`antidote sign FILE`).
 */
import { z } from 'zod';
import { AntidoteError } from '../errors.js';
import { readJson, writeFileAtomic } from '../util/fs.js';
import { parseWith } from '../util/schema.js';
import { canonicalJson } from './canonical-json.js';
import { digestEquals, sha256Hex } from './hash.js';

/** `format` of a URL manifest. */
export const URL_MANIFEST_FORMAT = 'antidote-url-manifest';
/** File name of the manifest inside a snapshot directory. */
export const URL_MANIFEST_FILE = 'urls.manifest.json';

/** One URL of the manifest: its hash and size when the snapshot got it, else the error. */
export interface UrlManifestEntry {
  readonly id: string;
  readonly url: string;
  readonly host: string;
  /** SHA-256 (hex) of the bytes at snapshot time. */
  readonly sha256?: string;
  readonly size?: number;
  /** Why the snapshot did not get it (a re-run retries it). */
  readonly error?: string;
}

/** A URL manifest (see the module comment). */
export interface UrlManifest {
  readonly format: typeof URL_MANIFEST_FORMAT;
  readonly version: 1;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly entries: readonly UrlManifestEntry[];
  /** SHA-256 of the canonical JSON of `entries` (see {@link urlManifestDigest}). */
  readonly digest: string;
}

const entrySchema = z.strictObject({
  id: z.string().min(1),
  url: z.string().min(1),
  host: z.string(),
  sha256: z
    .string()
    .regex(/^[0-9a-f]{64}$/)
    .optional(),
  size: z.number().int().nonnegative().optional(),
  error: z.string().optional(),
});

const manifestSchema = z.strictObject({
  format: z.literal(URL_MANIFEST_FORMAT),
  version: z.literal(1),
  createdAt: z.string(),
  updatedAt: z.string(),
  entries: z.array(entrySchema),
  digest: z.string().regex(/^[0-9a-f]{64}$/),
});

/** The digest of a manifest's entries: SHA-256 of their RFC 8785 canonical JSON. */
export function urlManifestDigest(entries: readonly UrlManifestEntry[]): string {
  return sha256Hex(canonicalJson(entries));
}

/** A manifest of `entries` (sorted by id), its digest computed. */
export function buildUrlManifest(
  entries: readonly UrlManifestEntry[],
  createdAt: string,
  now = new Date(),
): UrlManifest {
  const sorted = [...entries].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return {
    format: URL_MANIFEST_FORMAT,
    version: 1,
    createdAt,
    updatedAt: now.toISOString(),
    entries: sorted,
    digest: urlManifestDigest(sorted),
  };
}

/** Writes `manifest` to `path` atomically (temporary sibling, then rename). */
export async function writeUrlManifest(path: string, manifest: UrlManifest): Promise<void> {
  await writeFileAtomic(path, `${JSON.stringify(manifest, null, 1)}\n`);
}

/**
 * Reads and checks the manifest at `path`: `INVALID_FORMAT` when it does not match the schema or
 * lists an id twice, `INTEGRITY_MISMATCH` when its entries do not match its digest or, with
 * `expectedDigest`, the digest is not the pinned one.
 */
export async function readUrlManifest(path: string, expectedDigest?: string): Promise<UrlManifest> {
  const m = parseWith(manifestSchema, await readJson(path), path) as UrlManifest;
  const ids = new Set<string>();
  for (const e of m.entries) {
    if (ids.has(e.id)) {
      throw new AntidoteError('INVALID_FORMAT', `${path}: id "${e.id}" appears twice`, { path });
    }
    ids.add(e.id);
  }
  const actual = urlManifestDigest(m.entries);
  if (!digestEquals(actual, m.digest)) {
    throw new AntidoteError(
      'INTEGRITY_MISMATCH',
      `${path}: the entries do not match the manifest's digest (edited after it was written)`,
      { path },
    );
  }
  if (expectedDigest !== undefined && !digestEquals(actual, expectedDigest.toLowerCase())) {
    throw new AntidoteError(
      'INTEGRITY_MISMATCH',
      `${path}: manifest digest ${actual} is not the pinned ${expectedDigest}`,
      { path },
    );
  }
  return m;
}
