import {
  type Dataset,
  numRecords,
  recordShape,
  recordSize,
  selectRecords,
} from '../data/dataset.js';
import { type LoadedDataset, loadDataset } from '../data/load.js';
import { normalizeRange } from '../data/range.js';
import type { LoadModelOptions, Model } from '../engine/model.js';
import { AntidoteError } from '../errors.js';
import { checkDigest, datasetDigest, modelDigest, recordRangeDigest } from './digests.js';
import type { DataRef, ModelRef, RecordRangeRef, RecordSetRef } from './payloads.js';

export { modelRef, modelRefOf, sharedSpec } from './refs.js';

/** The first `limit` records of `ds` (all of them without a limit). */
export function firstRecords(ds: Dataset, limit: number | undefined): Dataset {
  const n = numRecords(ds);
  return limit === undefined || limit >= n
    ? ds
    : selectRecords(
        ds,
        Int32Array.from({ length: limit }, (_, i) => i),
      );
}

/** A {@link DataRef} of records the coordinator has read. */
export function dataRef(
  spec: string,
  dataset: Dataset,
  extra: { limit?: number; normalize?: boolean } = {},
): DataRef {
  return {
    spec,
    ...(extra.limit !== undefined ? { limit: extra.limit } : {}),
    ...(extra.normalize ? { normalize: true } : {}),
    digest: datasetDigest(dataset),
  };
}

let dataCache: { key: string; loaded: LoadedDataset } | undefined;
let modelCache: { key: string; model: Model } | undefined;

/**
 * The records `ref` names, read as the coordinator read them (first `limit` records; 0–255 images
 * scaled with `normalize`); `INTEGRITY_MISMATCH` when they are not the ones it digested.
 */
export async function loadJobData(ref: DataRef): Promise<LoadedDataset> {
  const key = JSON.stringify(ref);
  if (dataCache?.key === key) return dataCache.loaded;
  dataCache = undefined;
  const raw = await loadDataset(ref.spec);
  let dataset = firstRecords(raw.dataset, ref.limit);
  if (ref.normalize) dataset = normalizeRange(dataset, ref.spec).dataset;
  checkDigest(`dataset ${ref.spec}`, ref.digest, datasetDigest(dataset));
  const loaded = { ...raw, dataset };
  dataCache = { key, loaded };
  return loaded;
}

/**
 * The file a scan's records come from, as read by this worker, by spec, and divided by 255 where
 * the coordinator divided (`divideBy255`, once for the whole file: every shard's records and the
 * class jobs' samples are then views or rows of it, not copies divided anew). The shards of a scan
 * share it. Not trusted: every shard's records are checked against their own digest.
 */
let sourceCache: { spec: string; divideBy255: boolean; loaded: LoadedDataset } | undefined;

/**
 * The ranges of the kept file this worker has checked (`start:end:divideBy255:digest`): their
 * records, in memory, are those the coordinator digested. Emptied when the file is read again.
 */
let verifiedRanges = new Set<string>();

function rangeKey(r: { start: number; end: number; digest: string }, divideBy255: boolean): string {
  return `${r.start}:${r.end}:${divideBy255}:${r.digest}`;
}

/** `x / 255`, value by value, as `normalizeRange` divides 0–255 images (float32 each). */
function divided(ds: Dataset): Dataset {
  const x = new Float32Array(ds.x.length);
  for (let i = 0; i < x.length; i++) x[i] = ds.x[i]! / 255;
  return { ...ds, x };
}

/**
 * Records `[start, end)` of `ds`, as `selectRecords` gives them but without copying the values:
 * `x` and `y` are views of the kept file's arrays, which nothing writes.
 */
function recordsView(ds: Dataset, start: number, end: number): Dataset {
  const size = recordSize(ds);
  return {
    x: ds.x.subarray(start * size, end * size),
    shape: [end - start, ...recordShape(ds)],
    y: ds.y.subarray(start, end),
    classes: ds.classes,
    ids: ds.ids.slice(start, end),
    ...(ds.source ? { source: ds.source.slice(start, end) } : {}),
    ...(ds.text ? { text: ds.text.slice(start, end) } : {}),
  };
}

/** The kept file of `ref` (read, and divided where asked, afresh with `fresh` or another spec). */
async function keptSource(
  ref: { readonly spec: string; readonly divideBy255: boolean },
  fresh: boolean,
): Promise<LoadedDataset> {
  if (fresh || sourceCache?.spec !== ref.spec || sourceCache.divideBy255 !== ref.divideBy255) {
    sourceCache = undefined;
    verifiedRanges = new Set();
    const loaded = await loadDataset(ref.spec);
    sourceCache = {
      spec: ref.spec,
      divideBy255: ref.divideBy255,
      loaded: ref.divideBy255 ? { ...loaded, dataset: divided(loaded.dataset) } : loaded,
    };
  }
  return sourceCache.loaded;
}

/**
 * The records `ref` names, `[start, end)` of its dataset (divided by 255 where the coordinator
 * did), checked against the digest of those records alone (`INTEGRITY_MISMATCH`): a worker
 * checks what it works on, never skips it, and never digests the rest of the dataset. The
 * dataset's file is parsed once per worker and kept; records that do not match are read again
 * once from the file (it may have changed since), then refused.
 */
export async function loadJobRecords(ref: RecordRangeRef): Promise<LoadedDataset> {
  if (
    sourceCache?.spec === ref.spec &&
    sourceCache.divideBy255 === ref.divideBy255 &&
    verifiedRanges.has(rangeKey(ref, ref.divideBy255))
  ) {
    // Checked by an earlier job of this worker against this very digest, in the kept copy,
    // which nothing writes: the records are still those the coordinator digested.
    return (await recordRange(ref, false, false)).loaded;
  }
  const first = await recordRange(ref, false);
  if (first.digest === ref.digest) {
    verifiedRanges.add(rangeKey(ref, ref.divideBy255));
    return first.loaded;
  }
  const second = await recordRange(ref, true);
  checkDigest(`records ${ref.start}–${ref.end} of ${ref.spec}`, ref.digest, second.digest);
  verifiedRanges.add(rangeKey(ref, ref.divideBy255));
  return second.loaded;
}

/**
 * Scattered records of a scan's dataset (dataset `indices`, in that order; divided by 255 where
 * the coordinator did), from the kept file: every range of `ref` holding one of them is first
 * checked against its digest (`INTEGRITY_MISMATCH`), once per worker — ranges this worker's
 * forward shards checked are not digested again. A mismatch makes it read the file again once.
 */
export async function loadJobRecordsAt(
  ref: RecordSetRef,
  indices: Int32Array,
): Promise<LoadedDataset> {
  const loaded = await loadJobRecordsOf(ref, indices);
  return { ...loaded, dataset: selectRecords(loaded.dataset, indices) };
}

/**
 * The whole kept file of `ref` once the records at `indices` are checked as
 * {@link loadJobRecordsAt} checks them: only those records may be read from it (the other ranges
 * are not checked). No copy: a job that reads many records of its dataset (a per-class job's
 * transfer tests) takes them where they are.
 */
export async function loadJobRecordsOf(
  ref: RecordSetRef,
  indices: Int32Array,
): Promise<LoadedDataset> {
  const ranges = [...ref.ranges].sort((a, b) => a.start - b.start);
  const touched = new Set<(typeof ranges)[number]>();
  for (const i of indices) {
    let lo = 0;
    let hi = ranges.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (ranges[mid]!.start <= i) lo = mid;
      else hi = mid - 1;
    }
    const r = ranges[lo];
    if (!r || i < r.start || i >= r.end) {
      throw new AntidoteError('INVALID_ARGUMENT', `record ${i} is in none of the job's ranges`);
    }
    touched.add(r);
  }
  const check = async (fresh: boolean) => {
    for (const r of touched) {
      if (
        !fresh &&
        sourceCache?.spec === ref.spec &&
        sourceCache.divideBy255 === ref.divideBy255 &&
        verifiedRanges.has(rangeKey(r, ref.divideBy255))
      )
        continue;
      const got = await recordRange({ ...r, spec: ref.spec, divideBy255: ref.divideBy255 }, fresh);
      fresh = false;
      if (got.digest !== r.digest) return { r, actual: got.digest };
      verifiedRanges.add(rangeKey(r, ref.divideBy255));
    }
    return undefined;
  };
  if (await check(false)) {
    const bad = await check(true);
    if (bad) {
      checkDigest(`records ${bad.r.start}–${bad.r.end} of ${ref.spec}`, bad.r.digest, bad.actual);
    }
  }
  return keptSource(ref, false);
}

/**
 * The records of `ref` (a view of the kept file) and their digest (not computed, `''`, without
 * `digest`), from the kept file (or read afresh with `fresh`).
 */
async function recordRange(
  ref: RecordRangeRef,
  fresh: boolean,
  digest = true,
): Promise<{ loaded: LoadedDataset; digest: string }> {
  const loaded = await keptSource(ref, fresh);
  const n = numRecords(loaded.dataset);
  if (ref.end > n || ref.start >= ref.end) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `records ${ref.start}–${ref.end} are not a range of the ${n} records of ${ref.spec}`,
    );
  }
  const dataset = recordsView(loaded.dataset, ref.start, ref.end);
  return {
    loaded: { ...loaded, dataset },
    digest: digest ? recordRangeDigest(dataset, 0, ref.end - ref.start) : '',
  };
}

/** The model `ref` names, its files checked against the digest first (`INTEGRITY_MISMATCH`). */
export async function loadJobModel(ref: ModelRef): Promise<Model> {
  const key = JSON.stringify(ref);
  if (modelCache?.key === key) return modelCache.model;
  modelCache?.model.dispose();
  modelCache = undefined;
  const { loadModel } = await import('../engine/model.js');
  const model = await loadModel(ref.path, (ref.options ?? {}) as LoadModelOptions);
  try {
    checkDigest(`model ${ref.path}`, ref.digest, await modelDigest(model.files));
  } catch (e) {
    model.dispose();
    throw e;
  }
  modelCache = { key, model };
  return model;
}

/** Drops the worker's cached dataset and model (a worker that stops). */
export function clearJobCache(): void {
  modelCache?.model.dispose();
  modelCache = undefined;
  dataCache = undefined;
  sourceCache = undefined;
  verifiedRanges = new Set();
}
