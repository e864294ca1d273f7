import { mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { type Dataset, selectRecords } from '../data/dataset.js';
import { writeDatasetDir } from '../data/dataset-dir.js';
import { normalizeRange } from '../data/range.js';
import { rowImages } from '../testing/knn.js';
import { recordRangeDigest } from './digests.js';
import { clearJobCache, loadJobRecords, loadJobRecordsAt, loadJobRecordsOf } from './job-data.js';

const root = mkdtempSync(join(tmpdir(), 'antidote-job-data-'));
afterAll(() => rm(root, { recursive: true, force: true }));
afterEach(() => clearJobCache());

/** `ds` with record `i`'s first value moved by `by`. */
function changed(ds: Dataset, i: number, by: number): Dataset {
  const x = ds.x.slice();
  x[i * (x.length / ds.y.length)]! += by;
  return { ...ds, x };
}

const range = (start: number, end: number) =>
  Int32Array.from({ length: end - start }, (_, i) => start + i);

describe('a scan shard’s records (loadJobRecords)', () => {
  it('reads the records of its range, checked against their own digest', async () => {
    const ds = rowImages(40, 3, 1);
    const dir = join(root, 'plain');
    await writeDatasetDir(dir, ds);
    const ref = { spec: dir, divideBy255: false, start: 8, end: 20 };
    const got = await loadJobRecords({ ...ref, digest: recordRangeDigest(ds, 8, 20) });
    expect(got.dataset).toEqual(selectRecords(ds, range(8, 20)));
    // A record outside the range may differ: the shard checks only its own records.
    const other = changed(ds, 30, 0.5);
    expect(recordRangeDigest(other, 8, 20)).toBe(recordRangeDigest(ds, 8, 20));
    expect(recordRangeDigest(other, 20, 40)).not.toBe(recordRangeDigest(ds, 20, 40));
  });

  it('refuses records that are not the ones the coordinator read (INTEGRITY_MISMATCH), even from its kept copy', async () => {
    const ds = rowImages(40, 3, 2);
    const dir = join(root, 'tampered');
    await writeDatasetDir(dir, ds);
    const digest = recordRangeDigest(ds, 0, 16);
    await loadJobRecords({ spec: dir, divideBy255: false, start: 0, end: 16, digest });
    // The file changes after the coordinator read it: the kept copy still matches (it is what the
    // coordinator read), a fresh coordinator digest of the new file makes the worker read it again.
    await rm(dir, { recursive: true });
    const now = changed(ds, 3, 0.25);
    await writeDatasetDir(dir, now);
    const again = await loadJobRecords({
      spec: dir,
      divideBy255: false,
      start: 0,
      end: 16,
      digest: recordRangeDigest(now, 0, 16),
    });
    expect(again.dataset.x).toEqual(selectRecords(now, range(0, 16)).x);
    // Records that match neither copy: refused.
    await expect(
      loadJobRecords({ spec: dir, divideBy255: false, start: 0, end: 16, digest }),
    ).rejects.toMatchObject({ code: 'INTEGRITY_MISMATCH' });
    await expect(
      loadJobRecords({ spec: dir, divideBy255: false, start: 32, end: 48, digest }),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('divides 0–255 images by 255 as the coordinator did, on its records only', async () => {
    const base = rowImages(24, 3, 3);
    const ds = { ...base, x: base.x.map((v) => Math.round(Math.abs(v) * 200) + 2) };
    const dir = join(root, 'bytes');
    await writeDatasetDir(dir, ds);
    const seen = normalizeRange(ds, 'bytes');
    expect(seen.notice).toBeDefined();
    const digest = recordRangeDigest(seen.dataset, 12, 24);
    const got = await loadJobRecords({ spec: dir, divideBy255: true, start: 12, end: 24, digest });
    expect(got.dataset.x).toEqual(selectRecords(seen.dataset, range(12, 24)).x);
    await expect(
      loadJobRecords({ spec: dir, divideBy255: false, start: 12, end: 24, digest }),
    ).rejects.toMatchObject({ code: 'INTEGRITY_MISMATCH' });
  });

  it('reads scattered records from the kept copy, divided once, after checking only their ranges', async () => {
    const base = rowImages(30, 3, 4);
    const ds = { ...base, x: base.x.map((v) => Math.round(Math.abs(v) * 200) + 2) };
    const dir = join(root, 'scattered');
    await writeDatasetDir(dir, ds);
    const seen = normalizeRange(ds, 'scattered').dataset;
    const ranges = [0, 10, 20].map((start) => ({
      start,
      end: start + 10,
      digest: recordRangeDigest(seen, start, start + 10),
    }));
    const ref = { spec: dir, divideBy255: true, ranges };
    const at = Int32Array.from([25, 3, 7]);
    // The shard's view and the scattered rows are the coordinator's records, divided as it did.
    const shard = await loadJobRecords({ spec: dir, divideBy255: true, ...ranges[1]! });
    expect(shard.dataset).toEqual(selectRecords(seen, range(10, 20)));
    expect((await loadJobRecordsAt(ref, at)).dataset).toEqual(selectRecords(seen, at));
    const kept = await loadJobRecordsOf(ref, at);
    expect(kept.dataset.x).toEqual(seen.x);
    // A range whose records are not the coordinator's is refused, even read afresh; the others
    // were not touched, so not checked.
    const wrong = {
      ...ref,
      ranges: [ranges[0]!, { ...ranges[1]!, digest: ranges[2]!.digest }, ranges[2]!],
    };
    await expect(loadJobRecordsOf(wrong, Int32Array.from([12]))).rejects.toMatchObject({
      code: 'INTEGRITY_MISMATCH',
    });
    expect((await loadJobRecordsOf(wrong, Int32Array.from([2, 27]))).dataset.x).toEqual(seen.x);
  });
});
