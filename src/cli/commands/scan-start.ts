/**
 * The start of `antidote scan --queue` (issue 22): the queue, the shared work folder, the data
 * files' identity, and, when the cache of verified digests (`jobs/digest-cache.ts`) knows the
 * data's files as they are now, the forward pass's shards on the queue before the data is read.
 * When the cache knows the model's files too, the shards name it by its cached digest and the
 * model is not loaded here first. Light modules only (no engine, no detectors): `scan-early.ts`
 * runs this before the scan command's modules load.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type { LoadModelOptions, Model } from '../../engine/model.js';
import type { QueueTarget } from '../../jobs/connection.js';
import {
  type CacheSubject,
  cachedModelDigest,
  cachedRangeDigests,
  cacheSubject,
  filesIdentity,
  type ModelDigest,
  type RangeDigests,
  storeModelDigest,
} from '../../jobs/digest-cache.js';
import type { ModelRef } from '../../jobs/payloads.js';
import { modelRef, modelRefOf, sharedSpec } from '../../jobs/refs.js';
import {
  type ForwardShards,
  forwardPassOnQueue,
  type RepresentationsOnQueueOptions,
  scanShardRecords,
} from '../../jobs/scan-forward.js';
import * as queueFlags from '../queue-flags.js';
import type { ScanStartInputs } from './scan-early.js';

/** A distributed scan, started before the coordinator reads the data. */
export interface QueuedScanStart {
  readonly queue: QueueTarget;
  /** The shared folder of the shard files (removed by {@link QueuedScanStart.cleanup}). */
  readonly workDir: string;
  /** The data's files and their identity before this process read them (cacheable specs). */
  readonly subject?: CacheSubject;
  /** A cache hit: the forward pass, already submitted. */
  readonly early?: {
    /** The model, loaded first when the cache did not know its digest. */
    readonly model?: Model;
    /** The model's cached digest the shards name it by (its files, not loaded here yet). */
    readonly modelDigest?: ModelDigest;
    readonly mref: ModelRef;
    readonly cached: RangeDigests;
    readonly forward: Promise<ForwardShards>;
    /** Settles once every shard is on the queue (or the forward pass failed). */
    readonly submitted: Promise<void>;
  };
  /** Waits for a forward pass already submitted, then removes the shared folder. */
  cleanup(): Promise<void>;
}

/**
 * The {@link ModelRef} of a loaded `model` (its files digested), kept in the digest cache when
 * its files did not change while digested: the next scan names it without loading it first.
 */
export async function digestedModelRef(
  path: string,
  model: Model,
  options: LoadModelOptions,
): Promise<ModelRef> {
  const identity = await filesIdentity(model.files);
  const ref = await modelRef(path, model, options);
  if (identity !== undefined) {
    await storeModelDigest(ref.path, options, { files: model.files, identity, digest: ref.digest });
  }
  return ref;
}

/** The forward pass's options from the scan's start inputs. */
export function forwardOptions(
  inputs: ScanStartInputs,
  mref: ModelRef,
  workDir: string,
): Omit<RepresentationsOnQueueOptions, 'data'> {
  return {
    model: mref,
    ...(inputs.layer ? { layer: inputs.layer } : {}),
    probabilities: inputs.probabilities,
    threads: inputs.threads,
    workDir,
  };
}

/**
 * With a queue: the queue, the shared work folder, the data files' identity, and on a cache hit
 * the forward pass already submitted (with the model's cached digest, or the model loaded
 * first). Undefined without a queue.
 */
export async function startQueuedScan(
  inputs: ScanStartInputs,
): Promise<QueuedScanStart | undefined> {
  const { queue } = inputs;
  if (!queue) return undefined;
  const out = inputs.out;
  const workDir = join(dirname(out), `.${basename(out)}.shards-${randomBytes(4).toString('hex')}`);
  const spec = sharedSpec(inputs.data, existsSync);
  const subject = await cacheSubject(spec, { load: inputs.load });
  const cached = subject ? await cachedRangeDigests(subject) : undefined;
  const remove = () => rm(workDir, { recursive: true, force: true });
  if (!cached || cached.shard !== scanShardRecords(cached.records)) {
    return { queue, workDir, ...(subject ? { subject } : {}), cleanup: remove };
  }
  const known = await cachedModelDigest(resolve(inputs.model), inputs.onnx);
  let model: Model | undefined;
  let forward: Promise<ForwardShards>;
  let submitted!: () => void;
  const sent = new Promise<void>((r) => {
    submitted = r;
  });
  try {
    let mref: ModelRef;
    if (known) mref = modelRefOf(inputs.model, known.digest, inputs.onnx);
    else {
      const { loadModel } = await import('../../engine/model.js');
      model = await loadModel(inputs.model, inputs.onnx);
      mref = await digestedModelRef(inputs.model, model, inputs.onnx);
    }
    const progress = queueFlags.queueProgress('scan forward pass', inputs.progress);
    forward = forwardPassOnQueue(queue, {
      ...forwardOptions(inputs, mref, workDir),
      data: { spec, divideBy255: cached.divideBy255, cached },
      onProgress: progress.onProgress,
      onSubmitted: submitted,
    }).finally(progress.stop);
    // Settled by its consumer; a failure before then is reported there (or by cleanup).
    forward.catch(() => {});
    return {
      queue,
      workDir,
      ...(subject ? { subject } : {}),
      early: {
        ...(model ? { model } : {}),
        ...(known ? { modelDigest: known } : {}),
        mref,
        cached,
        forward,
        submitted: Promise.race([sent, forward.then(() => {})]),
      },
      cleanup: async () => {
        await forward.catch(() => {});
        await remove();
      },
    };
  } catch (e) {
    model?.dispose();
    throw e;
  }
}
