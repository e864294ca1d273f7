/**
 * `antidote scan --queue` (issue 22, `src/jobs/`): the coordinator's side of a distributed scan.
 * The workers run the forward pass in batch-aligned shards (the activations, and the class
 * probabilities of the same pass when `ln` runs), each reading and checking only its records;
 * then the per-class phase of the class-phased detectors (`ac`, `ss`, `tt`:
 * `defenses/class-phases.ts`), one job per class; their cross-class phase and the decision run
 * here, through `scanDataset` as for a local scan, so the report is the local one.
 *
 * When the cache of verified digests (`jobs/digest-cache.ts`) knows the data's files as they are
 * now, the shards are submitted before the data is read here: the model is loaded first, the
 * workers start at once, and this process reads the data while they run.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { type Dataset, numRecords } from '../../data/dataset.js';
import type { LoadedDataset } from '../../data/load.js';
import {
  type ClassPhaseRunner,
  classPhasedDetector,
  prepareClassPhases,
} from '../../defenses/class-phases.js';
import { rememberForwardPass } from '../../defenses/representations.js';
import type { Classifier } from '../../engine/classifier.js';
import { loadModel, type Model } from '../../engine/model.js';
import { AntidoteError } from '../../errors.js';
import type { QueueTarget } from '../../jobs/connection.js';
import {
  type CacheSubject,
  cachedRangeDigests,
  cacheSubject,
  filesIdentity,
  type RangeDigests,
  storeRangeDigests,
} from '../../jobs/digest-cache.js';
import { modelRef, sharedSpec } from '../../jobs/job-data.js';
import type { ModelRef } from '../../jobs/payloads.js';
import {
  classPhasesOnQueue,
  type ForwardShards,
  forwardPassOnQueue,
  type RepresentationsOnQueueOptions,
  readForwardShards,
  readShardProbabilities,
  scanShardRecords,
} from '../../jobs/scan-jobs.js';
import { type DataCliOptions, dataLoadOptions } from '../data-arg.js';
import { onnxLoadOptions } from '../onnx-flags.js';
import * as queueFlags from '../queue-flags.js';
import type { ScanCliOptions } from './scan.js';

/** A distributed scan, started before the coordinator reads the data. */
export interface QueuedScanStart {
  readonly queue: QueueTarget;
  /** The shared folder of the shard files (removed by {@link QueuedScanStart.cleanup}). */
  readonly workDir: string;
  /** The data's files and their identity before this process read them (cacheable specs). */
  readonly subject?: CacheSubject;
  /** A cache hit: the model, loaded first, and the forward pass, already submitted. */
  readonly early?: {
    readonly model: Model;
    readonly mref: ModelRef;
    readonly cached: RangeDigests;
    readonly forward: Promise<ForwardShards>;
  };
  /** Waits for a forward pass already submitted, then removes the shared folder. */
  cleanup(): Promise<void>;
}

/**
 * With `--queue` (or `$ANTIDOTE_QUEUE`): the queue, the shared work folder, the data files'
 * identity, and on a cache hit the model and the forward pass already submitted. Undefined
 * without a queue.
 */
export async function startQueuedScan(o: ScanCliOptions): Promise<QueuedScanStart | undefined> {
  const queue = queueFlags.queueTarget(o);
  if (!queue) return undefined;
  const out = resolve(o.out);
  const workDir = join(dirname(out), `.${basename(out)}.shards-${randomBytes(4).toString('hex')}`);
  const spec = sharedSpec(o.data, existsSync);
  const load = dataLoadOptions({
    ...(o as DataCliOptions),
    ...(o.source !== undefined ? { sourceColumn: o.source } : {}),
  });
  const subject = await cacheSubject(spec, { load });
  const cached = subject ? await cachedRangeDigests(subject) : undefined;
  const remove = () => rm(workDir, { recursive: true, force: true });
  if (!cached || cached.shard !== scanShardRecords(cached.records)) {
    return { queue, workDir, ...(subject ? { subject } : {}), cleanup: remove };
  }
  const model = await loadModel(o.model, onnxLoadOptions(o));
  let forward: Promise<ForwardShards>;
  try {
    const mref = await modelRef(o.model, model, onnxLoadOptions(o));
    const progress = queueFlags.queueProgress('scan forward pass', o);
    forward = forwardPassOnQueue(queue, {
      ...forwardOptions(o, mref, workDir),
      data: { spec, divideBy255: cached.divideBy255, cached },
      onProgress: progress.onProgress,
    }).finally(progress.stop);
    // Settled by its consumer; a failure before then is reported there (or by cleanup).
    forward.catch(() => {});
    return {
      queue,
      workDir,
      ...(subject ? { subject } : {}),
      early: { model, mref, cached, forward },
      cleanup: async () => {
        await forward.catch(() => {});
        await remove();
      },
    };
  } catch (e) {
    model.dispose();
    throw e;
  }
}

/** The forward pass's options from the scan's flags (the probabilities when `ln` may run). */
function forwardOptions(
  o: ScanCliOptions,
  mref: ModelRef,
  workDir: string,
): Omit<RepresentationsOnQueueOptions, 'data'> {
  const probabilities = o.method === undefined || o.method === 'all' || o.method.includes('ln');
  return {
    model: mref,
    ...(o.layer ? { layer: o.layer } : {}),
    probabilities,
    threads: o.threads,
    workDir,
  };
}

/**
 * The distributed part of a scan, once this process has read the data (`loaded`, divided by 255
 * when `divideBy255`) and loaded the model: the forward pass on the workers (submitted now, or
 * earlier on a cache hit, then checked against what was read here), remembered as the model's
 * (`rememberForwardPass`: `ln` and the detectors without a per-class phase read it instead of
 * running the model here; a trusted subset's records, which only this process holds, go through
 * the model), and the per-class phases' runner for `scanDataset`.
 */
export async function queuedScan(
  start: QueuedScanStart,
  target: { readonly ds: Dataset; readonly model: Classifier },
  methods: readonly string[],
  model: Model,
  loaded: LoadedDataset,
  divideBy255: boolean,
  o: ScanCliOptions,
): Promise<ClassPhaseRunner> {
  const { queue, workDir, subject, early } = start;
  // While the workers run the forward pass: the per-class phases' options (tt's plan reads every
  // input value), so the class jobs go out as soon as the forward pass ends.
  const prepare = () =>
    prepareClassPhases(target.ds, methods, {
      seed: o.seed,
      ...(o.layer ? { layer: o.layer } : {}),
    });
  let forward: ForwardShards;
  let mref: ModelRef;
  if (early) {
    // The shards were submitted with the cached digests of these files: what was read here is
    // theirs if the files kept their identity meanwhile and it reads the same way.
    const same =
      subject !== undefined &&
      (await filesIdentity(subject.files)) === subject.identity &&
      numRecords(loaded.dataset) === early.cached.records &&
      divideBy255 === early.cached.divideBy255;
    if (!same) {
      throw new AntidoteError(
        'INTEGRITY_MISMATCH',
        `${o.data} changed while the scan started: its shards were sent with the digests of the files as they were; run the scan again`,
        { path: o.data },
      );
    }
    const needs = methods.includes('ln');
    prepare();
    forward = await early.forward;
    if (needs && forward.classes < 1) {
      throw new AntidoteError('INVALID_STATE', 'the forward pass computed no probabilities');
    }
    mref = early.mref;
  } else {
    mref = await modelRef(o.model, model, onnxLoadOptions(o));
    const progress = queueFlags.queueProgress('scan forward pass', o);
    forward = await forwardPassOnQueue(queue, {
      ...forwardOptions(o, mref, workDir),
      probabilities: methods.includes('ln'),
      data: { spec: sharedSpec(o.data, existsSync), dataset: loaded.dataset, divideBy255 },
      onProgress: progress.onProgress,
      onSubmitted: prepare,
    }).finally(progress.stop);
    if (subject) {
      await storeRangeDigests(subject, {
        records: forward.records,
        divideBy255,
        shard: scanShardRecords(forward.records),
        digests: forward.shards.map((s) => s.recordDigest),
      });
    }
  }
  // Detectors that read activations here: those without a per-class phase, but ln.
  const activationsHere = methods.some((m) => !classPhasedDetector(m) && m !== 'ln');
  const probabilities = methods.includes('ln');
  rememberForwardPass(target.ds, target.model, {
    ...(o.layer ? { layer: o.layer } : {}),
    ...(activationsHere ? { representations: await readForwardShards(forward) } : {}),
    ...(probabilities ? { probabilities: await readShardProbabilities(forward) } : {}),
  });
  return async (requests, hooks) => {
    const bar = queueFlags.queueProgress('scan per class', o);
    try {
      return await classPhasesOnQueue(
        queue,
        {
          model: mref,
          forward,
          y: target.ds.y,
          classes: target.ds.classes.length,
          threads: o.threads,
          workDir: join(workDir, 'classes'),
          onProgress: bar.onProgress,
          ...(hooks?.onSubmitted ? { onSubmitted: hooks.onSubmitted } : {}),
        },
        requests,
      );
    } finally {
      bar.stop();
    }
  };
}
