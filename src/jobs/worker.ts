/**
 * The worker of the distributed jobs (issue 22, `antidote worker`): takes jobs from a BullMQ
 * queue, validates each payload (zod) before use, checks the digests of what it reads, runs the
 * job and reports progress (`job.updateProgress`, aggregated by the coordinator). A failed job
 * carries its `AntidoteError` code (`[CODE] message`); nothing is retried on error, since the
 * same inputs would fail the same way, but a job whose worker died (SIGKILL, lost machine) loses
 * its lock and BullMQ's stalled-job check hands it to another worker, which computes the same
 * result.
 */

import { isAntidoteError } from '../errors.js';
import { parseWith } from '../util/schema.js';
import { type Job, UnrecoverableError, Worker } from './bullmq.js';
import { connectionOf, DEFAULT_QUEUE_NAME, type QueueTarget, redactUrl } from './connection.js';
import { clearJobCache } from './job-data.js';
import { runManifestFilesJob, runManifestRecordsJob } from './manifest-jobs.js';
import { type JobPayload, JobPayloadSchema } from './payloads.js';
import { clearScanCache, runScanClassJob, runScanShardJob } from './scan-jobs.js';
import { runSweepJob } from './sweep-jobs.js';

/** What a worker tells its host (the CLI prints it; the library never prints). */
export type WorkerEvent =
  | { readonly type: 'ready'; readonly queue: string; readonly url: string }
  | { readonly type: 'start'; readonly job: string; readonly kind: string }
  | {
      readonly type: 'done';
      readonly job: string;
      readonly kind: string;
      readonly seconds: number;
      /**
       * CPU seconds (user + system) this process used while the job ran: the job's own work
       * where a worker runs one job at a time (`concurrency` 1), less sensitive to the load of
       * the machine than `seconds`.
       */
      readonly cpuSeconds: number;
    }
  | {
      readonly type: 'failed';
      readonly job: string;
      readonly kind: string;
      readonly reason: string;
    }
  | { readonly type: 'error'; readonly message: string };

/** The default job lock of a worker (ms): see {@link JobWorkerOptions.lockDuration}. */
export const DEFAULT_LOCK_MS = 300_000;

/** Options of {@link startWorker}. */
export interface JobWorkerOptions {
  /** Jobs run at once in this process; default 1 (a job uses the engine's threads). */
  readonly concurrency?: number;
  /**
   * How long a job's lock lasts without renewal (ms; default 300,000): a worker that dies is
   * noticed after about this long, and its job handed to another. The lock is renewed from the
   * worker's event loop, which the engine holds for long synchronous stretches (training,
   * featurizing): it must outlast the longest of them, or a live worker loses its job (measured:
   * 30 s was too short for a 10,000-record MNIST training on a loaded 2-core machine).
   */
  readonly lockDuration?: number;
  /** How often stalled jobs are looked for (ms); default half the lock duration. */
  readonly stalledInterval?: number;
  /** Times a job may stall (its worker died) before it fails; default 2. */
  readonly maxStalledCount?: number;
  readonly onEvent?: (e: WorkerEvent) => void;
}

/** A running worker. */
export interface JobWorker {
  /** Finishes the jobs in hand, then stops taking jobs and disconnects. */
  close(): Promise<void>;
}

/** Runs one validated payload. */
async function runPayload(
  p: JobPayload,
  progress: (done: number, total: number, stage: string) => void,
): Promise<unknown> {
  switch (p.kind) {
    case 'sweep-run':
      return runSweepJob(p, progress);
    case 'scan-representations':
      return runScanShardJob(p, progress);
    case 'scan-classes':
      return runScanClassJob(p, progress);
    case 'manifest-files':
      return runManifestFilesJob(p, progress);
    case 'manifest-records':
      return runManifestRecordsJob(p, progress);
  }
}

/** Starts a worker on `target`'s queue; it runs until {@link JobWorker.close}. */
export async function startWorker(
  target: QueueTarget,
  options: JobWorkerOptions = {},
): Promise<JobWorker> {
  const name = target.name ?? DEFAULT_QUEUE_NAME;
  const emit = options.onEvent ?? (() => {});
  const lockDuration = options.lockDuration ?? DEFAULT_LOCK_MS;
  const processor = async (job: Job): Promise<unknown> => {
    const kind = typeof job.data?.kind === 'string' ? job.data.kind : 'unknown';
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    emit({ type: 'start', job: String(job.id), kind });
    try {
      // Validated, then used as sent (zod would reorder the keys of loose objects).
      parseWith(JobPayloadSchema, job.data, `the payload of job ${job.id}`, {
        code: 'INVALID_FORMAT',
      });
      let last = 0;
      const progress = (done: number, total: number, stage: string) => {
        const now = performance.now();
        if (now - last < 200 && done < total) return;
        last = now;
        job.updateProgress({ done, total, stage }).catch(() => {});
      };
      const result = await runPayload(job.data as JobPayload, progress);
      const cpu = process.cpuUsage(cpu0);
      emit({
        type: 'done',
        job: String(job.id),
        kind,
        seconds: (performance.now() - t0) / 1000,
        cpuSeconds: (cpu.user + cpu.system) / 1e6,
      });
      return result;
    } catch (e) {
      const reason = isAntidoteError(e) ? `[${e.code}] ${e.message}` : `${(e as Error).message}`;
      emit({ type: 'failed', job: String(job.id), kind, reason });
      throw new UnrecoverableError(reason);
    }
  };
  const worker = new Worker(name, processor, {
    connection: connectionOf(target.url, { worker: true }),
    ...(target.prefix ? { prefix: target.prefix } : {}),
    concurrency: options.concurrency ?? 1,
    lockDuration,
    stalledInterval: options.stalledInterval ?? Math.max(1000, Math.floor(lockDuration / 2)),
    maxStalledCount: options.maxStalledCount ?? 2,
    removeOnComplete: { age: 24 * 3600 },
    removeOnFail: { age: 24 * 3600 },
  });
  worker.on('error', (e) =>
    emit({ type: 'error', message: e.message.replaceAll(target.url, redactUrl(target.url)) }),
  );
  await worker.waitUntilReady();
  emit({ type: 'ready', queue: name, url: redactUrl(target.url) });
  return {
    close: async () => {
      await worker.close();
      clearJobCache();
      clearScanCache();
    },
  };
}
