/**
 * How a distributed job names what it reads (issue 22): a dataset spec as the workers read it, and
 * a model by its path and the digest of its files. Light (no loaders), for the start of
 * `scan --queue` (`cli/commands/scan-start.ts`); `job-data.ts` re-exports them.
 */
import { isAbsolute, resolve } from 'node:path';
import type { LoadModelOptions, Model } from '../engine/model.js';
import { modelDigest } from './digests.js';
import type { ModelRef } from './payloads.js';

/**
 * A spec as a worker elsewhere reads it: a path that exists here becomes absolute (workers share
 * the filesystem, not the working directory); a built-in name stays as it is.
 */
export function sharedSpec(spec: string, exists: (p: string) => boolean): string {
  return !isAbsolute(spec) && exists(spec) ? resolve(spec) : spec;
}

/** A {@link ModelRef} of a model the coordinator has loaded. */
export async function modelRef(
  path: string,
  model: Model,
  options: LoadModelOptions = {},
): Promise<ModelRef> {
  return modelRefOf(path, await modelDigest(model.files), options);
}

/** The {@link ModelRef} of the model at `path` whose files' `modelDigest` is `digest`. */
export function modelRefOf(path: string, digest: string, options: LoadModelOptions = {}): ModelRef {
  return {
    path: resolve(path),
    digest,
    ...(Object.keys(options).length ? { options: options as Record<string, unknown> } : {}),
  };
}
