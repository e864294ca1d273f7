/**
 * How a job reads the dataset and model its payload names, checked against the payload's digests,
 * and how the coordinator makes those references. A worker keeps the last dataset and model it
 * read (by digest): the shards of one scan share them, so a worker reads 60,000 records once, not
 * once per shard.
 */
import { isAbsolute, resolve } from 'node:path';
import { type Dataset, numRecords, selectRecords } from '../data/dataset.js';
import { type LoadedDataset, loadDataset } from '../data/load.js';
import { normalizeRange } from '../data/range.js';
import type { LoadModelOptions, Model } from '../engine/model.js';
import { checkDigest, datasetDigest, modelDigest } from './digests.js';
import type { DataRef, ModelRef } from './payloads.js';

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

/**
 * A spec as a worker elsewhere reads it: a path that exists here becomes absolute (workers share
 * the filesystem, not the working directory); a built-in name stays as it is.
 */
export function sharedSpec(spec: string, exists: (p: string) => boolean): string {
  return !isAbsolute(spec) && exists(spec) ? resolve(spec) : spec;
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

/** A {@link ModelRef} of a model the coordinator has loaded. */
export async function modelRef(
  path: string,
  model: Model,
  options: LoadModelOptions = {},
): Promise<ModelRef> {
  return {
    path: resolve(path),
    digest: await modelDigest(model.files),
    ...(Object.keys(options).length ? { options: options as Record<string, unknown> } : {}),
  };
}

/** Drops the worker's cached dataset and model (a worker that stops). */
export function clearJobCache(): void {
  modelCache?.model.dispose();
  modelCache = undefined;
  dataCache = undefined;
}
