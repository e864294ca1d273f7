/**
 * The distributed attack sweep (issue 22): one job per training run (seed, trigger, rate), run by
 * `runExperiment` on a worker, merged in the order `sweep` runs them, into the same table and
 * results. Each job trains its own clean model (same data, victim and seed: the same clean model
 * `sweep` shares among a seed's runs), so a run costs two trainings on a worker where `sweep`
 * costs one and a fraction; `seconds.cleanTraining`, which `sweep` does not report, is dropped.
 */
import type { Dataset } from '../data/dataset.js';
import type { ExperimentResult } from '../eval/experiment.js';
import {
  planSweep,
  type SweepResult,
  type SweepRun,
  type SweepSpec,
  sweepRowOf,
} from '../eval/sweep.js';
import type { QueueTarget } from './connection.js';
import { loadJobData } from './job-data.js';
import type { DataRef, JobPayload } from './payloads.js';
import { SweepRunResultSchema } from './payloads.js';
import { type RunProgress, runJobs } from './run-jobs.js';

/** Options of {@link sweepOnQueue}. */
export interface SweepOnQueueOptions {
  /** Where workers read the train and test records (specs and digests of `spec.train`/`test`). */
  readonly refs: { readonly train: DataRef; readonly test: DataRef };
  readonly onProgress?: (p: RunProgress) => void;
  /** See `RunJobsOptions.unreachableMs`. */
  readonly unreachableMs?: number;
}

/**
 * Runs the sweep `spec` on the workers of `target`: the same checks before any training, the same
 * runs in the same order, the same rows and results as {@link sweep} (bar the timings).
 */
export async function sweepOnQueue(
  target: QueueTarget,
  spec: SweepSpec,
  options: SweepOnQueueOptions,
): Promise<SweepResult> {
  const { runs } = await planSweep(spec);
  const payload = (run: SweepRun): JobPayload => ({
    kind: 'sweep-run',
    ...(spec.name !== undefined ? { name: spec.name } : {}),
    train: options.refs.train,
    test: options.refs.test,
    attack: run.attack as Extract<JobPayload, { kind: 'sweep-run' }>['attack'],
    victim: spec.victim as unknown as Record<string, unknown>,
    seed: run.seed,
  });
  const raw = await runJobs(
    target,
    runs.map((r) => ({ payload: payload(r) })),
    SweepRunResultSchema,
    {
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
      ...(options.unreachableMs !== undefined ? { unreachableMs: options.unreachableMs } : {}),
    },
  );
  const results = raw.map((r) => withoutCleanTiming(r as unknown as ExperimentResult));
  return {
    ...(spec.name !== undefined ? { name: spec.name } : {}),
    attack: spec.attack,
    victim: spec.victim,
    rows: runs.map((run, i) => sweepRowOf(run, results[i]!)),
    results,
  };
}

function withoutCleanTiming(r: ExperimentResult): ExperimentResult {
  const { cleanTraining: _, ...seconds } = r.seconds;
  return { ...r, seconds };
}

/** A worker's side of a sweep run: the experiment, on the records the payload pins. */
export async function runSweepJob(
  p: Extract<JobPayload, { kind: 'sweep-run' }>,
  progress: (done: number, total: number, stage: string) => void,
): Promise<ExperimentResult> {
  const train: Dataset = (await loadJobData(p.train)).dataset;
  const test: Dataset = (await loadJobData(p.test)).dataset;
  const { runExperiment } = await import('../eval/experiment.js');
  const stages = ['train-clean', 'poison', 'train-victim', 'evaluate', 'done'];
  return runExperiment(
    {
      ...(p.name !== undefined ? { name: p.name } : {}),
      train,
      test,
      attack: p.attack as never,
      victim: p.victim as never,
      seed: p.seed,
    },
    {
      onProgress: (e) => {
        const k = Math.max(0, stages.indexOf(e.stage));
        const t = e.training;
        const within = t ? (t.epoch - 1 + t.batch / Math.max(1, t.batches)) / t.epochs : 0;
        progress(Math.min(stages.length - 1, k + within), stages.length - 1, e.stage);
      },
    },
  );
}
