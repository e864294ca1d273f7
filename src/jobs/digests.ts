/**
 * The digests a job carries so a worker can check it reads what the coordinator read (issue 22):
 * a dataset's records (the canonical feature encoding of `integrity/record-hash.ts` over every
 * record, labels, ids, classes) and a model's files. A worker that sees other bytes (a file
 * replaced on the shared filesystem, another version of a built-in dataset) fails the job with
 * `INTEGRITY_MISMATCH` before it works.
 */
import { basename } from 'node:path';
import { type Dataset, recordSize } from '../data/dataset.js';
import { AntidoteError } from '../errors.js';
import { canonicalJson } from '../integrity/canonical-json.js';
import { sha256File, sha256Hex } from '../integrity/hash.js';
import { featureDigest } from '../integrity/record-hash.js';

/**
 * Hex SHA-256 of a dataset's content: shape, classes, ids, sources, texts and labels (canonical
 * JSON) and the canonical float32 encoding of all features (`featureDigest`).
 */
export function datasetDigest(ds: Dataset): string {
  return sha256Hex(
    canonicalJson({
      shape: [...ds.shape],
      classes: [...ds.classes],
      ids: [...ds.ids],
      y: Array.from(ds.y),
      ...(ds.source ? { source: [...ds.source] } : {}),
      ...(ds.text ? { text: [...ds.text] } : {}),
      features: featureDigest(ds.x),
    }),
  );
}

/**
 * Hex SHA-256 of the records `[start, end)` of `ds` alone, as {@link datasetDigest} digests a
 * dataset (shape, classes, ids, sources, texts, labels, canonical float32 features): what a scan
 * shard's worker checks (`jobs/job-data.ts`), at the cost of its own records only. The
 * coordinator's digests of all shards together cost one pass over the data.
 */
export function recordRangeDigest(ds: Dataset, start: number, end: number): string {
  const size = recordSize(ds);
  return sha256Hex(
    canonicalJson({
      shape: [end - start, ...ds.shape.slice(1)],
      classes: [...ds.classes],
      ids: ds.ids.slice(start, end),
      y: Array.from(ds.y.subarray(start, end)),
      ...(ds.source ? { source: ds.source.slice(start, end) } : {}),
      ...(ds.text ? { text: ds.text.slice(start, end) } : {}),
      features: featureDigest(ds.x.subarray(start * size, end * size)),
    }),
  );
}

/** Hex SHA-256 over a model's files (`Model.files`): each file's name and content digest. */
export async function modelDigest(files: readonly string[]): Promise<string> {
  const parts: { name: string; digest: string }[] = [];
  for (const f of files) parts.push({ name: basename(f), digest: (await sha256File(f)).digest });
  parts.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return sha256Hex(canonicalJson(parts));
}

/** Throws `INTEGRITY_MISMATCH` unless `actual` is `expected` (what the job says it reads). */
export function checkDigest(what: string, expected: string, actual: string): void {
  if (expected !== actual) {
    throw new AntidoteError(
      'INTEGRITY_MISMATCH',
      `${what} does not match the job's digest (expected ${expected.slice(0, 12)}…, read ${actual.slice(0, 12)}…): it changed since the run was submitted, or this worker sees another file`,
      { expected, actual },
    );
  }
}
