/**
 * `antidote scan --queue` (issue 22, `src/jobs/`): the coordinator's side of a distributed scan.
 * The workers run the forward pass in batch-aligned shards (the activations, and the class
 * probabilities of the same pass when `ln` runs), each reading and checking only its records;
 * then the per-class phase of the class-phased detectors (`ac`, `ss`, `tt`:
 * `defenses/class-phases.ts`), one job per class; their cross-class phase and the decision run
 * here, through `scanDataset` as for a local scan, so the report is the local one.
 *
 * When the cache of verified digests (`jobs/digest-cache.ts`) knows the data's files as they are
 * now, the shards were submitted before the data is read here (`scan-start.ts`, before the scan
 * command's modules load when the cache knows the model too: `scan-early.ts`): the workers start
 * at once, and this process loads, reads the data and checks it while they run.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { type Dataset, numRecords } from '../../data/dataset.js';
import type { LoadedDataset } from '../../data/load.js';
import {
  type ClassPhaseRunner,
  classPhasedDetector,
  prepareClassPhases,
} from '../../defenses/class-phases.js';
import { rememberForwardPass } from '../../defenses/representations.js';
import type { Classifier } from '../../engine/classifier.js';
import type { Model } from '../../engine/model.js';
import { AntidoteError } from '../../errors.js';
import { filesIdentity, storeRangeDigests } from '../../jobs/digest-cache.js';
import { sharedSpec } from '../../jobs/job-data.js';
import type { ModelRef } from '../../jobs/payloads.js';
import {
  classPhasesOnQueue,
  type ForwardShards,
  forwardPassOnQueue,
  readForwardShards,
  readShardProbabilities,
  scanShardRecords,
} from '../../jobs/scan-jobs.js';
import { onnxLoadOptions } from '../onnx-flags.js';
import * as queueFlags from '../queue-flags.js';
import type { ScanCliOptions } from './scan.js';
import { scanStartInputs } from './scan-early.js';
import { digestedModelRef, forwardOptions, type QueuedScanStart } from './scan-start.js';

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
    // Named by its cached digest: the model loaded here reads those files, unchanged since.
    const known = early.modelDigest;
    const sameModel =
      known === undefined ||
      (model.files.length === known.files.length &&
        model.files.every((f, i) => f === known.files[i]) &&
        (await filesIdentity(known.files)) === known.identity);
    if (!sameModel) {
      throw new AntidoteError(
        'INTEGRITY_MISMATCH',
        `${o.model} changed while the scan started: its shards were sent with the digest of the model's files as they were; run the scan again`,
        { path: o.model },
      );
    }
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
    mref = await digestedModelRef(o.model, model, onnxLoadOptions(o));
    const progress = queueFlags.queueProgress('scan forward pass', o);
    forward = await forwardPassOnQueue(queue, {
      ...forwardOptions(scanStartInputs(o), mref, workDir),
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
