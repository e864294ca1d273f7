/**
 * The coordinator's side of the distributed jobs (issue 22): submits a run's jobs to a BullMQ
 * queue, follows their progress (QueueEvents), and collects their results in submission order, so
 * the caller merges them exactly as the single-process code would. Faults end in a clear
 * `AntidoteError`, never a wrong result: a failed job fails the run with the worker's error code
 * (e.g. `INTEGRITY_MISMATCH`); a job that vanished (Redis restarted without persistence) is
 * `INVALID_STATE`; Redis unreachable for longer than `unreachableMs` is `IO_ERROR`. A Redis that
 * restarts with its data (AOF/RDB) loses nothing: polling resumes and the run completes.
 */
import { randomBytes } from 'node:crypto';
import type { z } from 'zod';
import { AntidoteError, type AntidoteErrorCode, ERROR_CODES } from '../errors.js';
import { parseWith } from '../util/schema.js';
import { Job, Queue, QueueEvents } from './bullmq.js';
import { connectionOf, DEFAULT_QUEUE_NAME, type QueueTarget, redactUrl } from './connection.js';
import { type JobPayload, type JobProgress, JobProgressSchema } from './payloads.js';

/**
 * One job of a run: its payload and its expected amount of work (for the progress bar). A payload
 * given as a function is made when its job is submitted: {@link runJobs} submits the first jobs
 * before it makes the rest, so workers start while the coordinator prepares (a scan's per-shard
 * digests).
 */
export interface JobRequest {
  readonly payload: JobPayload | (() => JobPayload);
  /** Units of work (records, files, training runs); default 1. */
  readonly weight?: number;
}

/** The aggregated progress of a run's jobs. */
export interface RunProgress {
  /** Work done over every job, in the jobs' units (see {@link JobRequest.weight}). */
  readonly done: number;
  readonly total: number;
  readonly jobsDone: number;
  readonly jobs: number;
}

/** Options of {@link runJobs}. */
export interface RunJobsOptions {
  readonly onProgress?: (p: RunProgress) => void;
  /** How often the jobs that QueueEvents reports finished are read; default 100 ms. */
  readonly pollMs?: number;
  /**
   * How often pending jobs are read whatever the events say (missed events, vanished jobs), up to
   * 256 of them each time, in turn; default 2 s.
   */
  readonly fullPollMs?: number;
  /** How long Redis may stay unreachable before the run fails (`IO_ERROR`); default 30 s. */
  readonly unreachableMs?: number;
  /**
   * Called once every job is on the queue, while the workers run them: the caller's own work
   * that should not delay the submission (it is awaited before the results are read).
   */
  readonly onSubmitted?: () => void | Promise<void>;
  /**
   * Called with each job's validated result as it comes in (index in `requests`), before the run
   * ends: the caller's reading of what the job wrote starts while the others run.
   */
  readonly onResult?: (index: number, result: unknown) => void;
}

/** Pending jobs read by one full poll (see `RunJobsOptions.fullPollMs`). */
const FULL_WINDOW = 256;

/** A failed job's reason as the worker writes it: `[CODE] message`. */
const REASON = /^\[([A-Z_]+)\] ([\s\S]*)$/;

/** The worker's error, back as an `AntidoteError` with its code (`ENGINE_ERROR` when it had none). */
function jobError(id: string, reason: string | undefined): AntidoteError {
  const m = REASON.exec(reason ?? '');
  const code = m && m[1]! in ERROR_CODES ? (m[1] as AntidoteErrorCode) : 'ENGINE_ERROR';
  return new AntidoteError(code, `job ${id} failed on a worker: ${m ? m[2] : reason}`, {
    job: id,
  });
}

const TIMEOUT: unique symbol = Symbol('timeout');

/** `promise`, or {@link TIMEOUT} after `ms` (a Redis call that hangs counts as unreachable). */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | typeof TIMEOUT> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<typeof TIMEOUT>((resolve) => {
        timer = setTimeout(() => resolve(TIMEOUT), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Runs `requests` on the workers of `target`'s queue and returns each job's result, parsed with
 * `schema` (zod: results are validated like payloads), in the order of `requests`. The jobs are
 * removed from Redis once read.
 */
export async function runJobs<S extends z.ZodType>(
  target: QueueTarget,
  requests: readonly JobRequest[],
  schema: S,
  options: RunJobsOptions = {},
): Promise<z.output<S>[]> {
  const name = target.name ?? DEFAULT_QUEUE_NAME;
  const where = redactUrl(target.url);
  const pollMs = options.pollMs ?? 100;
  const fullPollMs = options.fullPollMs ?? 2000;
  const unreachableMs = options.unreachableMs ?? 30_000;
  const prefix = target.prefix ? { prefix: target.prefix } : {};
  const queue = new Queue(name, { connection: connectionOf(target.url), ...prefix });
  const events = new QueueEvents(name, {
    connection: connectionOf(target.url, { worker: true }),
    ...prefix,
  });
  // ioredis reports connection errors as events; the polling below turns them into one error.
  queue.on('error', () => {});
  events.on('error', () => {});
  const run = randomBytes(8).toString('hex');
  const ids = requests.map((_, i) => `${run}-${i}`);
  const index = new Map(ids.map((id, i) => [id, i]));
  const weights = requests.map((r) => r.weight ?? 1);
  const total = weights.reduce((a, b) => a + b, 0);
  const partial = new Map<number, JobProgress>();
  const results: (z.output<S> | undefined)[] = requests.map(() => undefined);
  let jobsDone = 0;
  const report = () => {
    let done = 0;
    for (let i = 0; i < requests.length; i++) {
      if (results[i] !== undefined) done += weights[i]!;
      else {
        const p = partial.get(i);
        if (p && p.total > 0) done += (weights[i]! * Math.min(p.done, p.total)) / p.total;
      }
    }
    options.onProgress?.({ done, total, jobsDone, jobs: requests.length });
  };
  const finished = new Set<number>();
  /** Ends the wait for the next poll (set while it waits). */
  let wake: (() => void) | undefined;
  const onFinished = ({ jobId }: { jobId: string }) => {
    const i = index.get(jobId);
    if (i !== undefined) finished.add(i);
    // The events cover every job left: read them now, not at the next poll (the run's last
    // job is often what the caller's next step waits for).
    if (wake && jobsDone + finished.size >= requests.length) wake();
  };
  events.on('completed', onFinished);
  events.on('failed', onFinished);
  events.on('progress', ({ jobId, data }) => {
    const i = index.get(jobId);
    const p = JobProgressSchema.safeParse(data);
    if (i === undefined || !p.success || results[i] !== undefined) return;
    partial.set(i, p.data);
    report();
  });
  try {
    await within(events.waitUntilReady(), Math.min(5000, unreachableMs)).catch(() => undefined);
    // Jobs whose payloads are made on submission go in small batches (the first ones at once);
    // ready payloads all together.
    const lazy = requests.some((r) => typeof r.payload === 'function');
    for (let from = 0; from < requests.length; ) {
      const to = lazy ? Math.min(requests.length, from + (from === 0 ? 2 : 8)) : requests.length;
      const batch = requests.slice(from, to).map((r, j) => {
        const payload = typeof r.payload === 'function' ? r.payload() : r.payload;
        return {
          name: payload.kind,
          data: payload,
          opts: {
            jobId: ids[from + j]!,
            attempts: 1,
            removeOnComplete: false,
            removeOnFail: false,
          },
        };
      });
      const added = await within(queue.addBulk(batch), unreachableMs).catch(
        (): typeof TIMEOUT => TIMEOUT,
      );
      if (added === TIMEOUT) {
        throw new AntidoteError('IO_ERROR', `cannot reach Redis at ${where} to submit jobs`, {
          queue: name,
        });
      }
      from = to;
    }
    await options.onSubmitted?.();
    report();
    let lastContact = Date.now();
    let lastFull = 0;
    let rotation = 0;
    while (jobsDone < requests.length) {
      if (jobsDone + finished.size < requests.length) {
        await new Promise<void>((r) => {
          const timer = setTimeout(r, pollMs);
          wake = () => {
            clearTimeout(timer);
            r();
          };
        });
        wake = undefined;
      }
      // Jobs the events say finished are read at once; every job still pending is read every
      // `fullPollMs` too (an event can be missed while the connection is down; a job can vanish).
      // The full read covers at most FULL_WINDOW jobs, in turn: a run of 100,000 jobs costs
      // Redis a bounded number of reads per interval, not one per job.
      const full = Date.now() - lastFull >= fullPollMs;
      const unfinished = full
        ? requests.flatMap((_, i) => (results[i] === undefined ? [i] : []))
        : [];
      const window =
        unfinished.length <= FULL_WINDOW
          ? unfinished
          : Array.from(
              { length: FULL_WINDOW },
              (_, k) => unfinished[(rotation + k) % unfinished.length]!,
            );
      rotation += FULL_WINDOW;
      const pending = [
        ...new Set([...window, ...[...finished].filter((i) => results[i] === undefined)]),
      ];
      finished.clear();
      if (pending.length === 0) continue;
      const jobs = await within(
        Promise.all(pending.map((i) => Job.fromId(queue, ids[i]!))),
        Math.min(5000, unreachableMs),
      ).catch((): typeof TIMEOUT => TIMEOUT);
      if (jobs === TIMEOUT) {
        for (const i of pending) finished.add(i);
        if (Date.now() - lastContact > unreachableMs) {
          throw new AntidoteError(
            'IO_ERROR',
            `Redis at ${where} has been unreachable for ${Math.round(unreachableMs / 1000)} s; ${jobsDone} of ${requests.length} jobs had finished; no result was written (rerun when Redis is back)`,
            { queue: name },
          );
        }
        continue;
      }
      lastContact = Date.now();
      if (full) lastFull = lastContact;
      for (const [k, job] of jobs.entries()) {
        const i = pending[k]!;
        const id = ids[i]!;
        if (!job) {
          throw new AntidoteError(
            'INVALID_STATE',
            `job ${id} is no longer in queue ${name} at ${where} (Redis restarted without its data, or the queue was emptied); no result was written: rerun`,
            { job: id, queue: name },
          );
        }
        if (!job.finishedOn) continue;
        if (job.failedReason) throw jobError(id, job.failedReason);
        // Validated, then kept as sent: zod would reorder the keys of loose objects, and the
        // merged output must be byte-identical to the single-process run's.
        parseWith(schema, job.returnvalue, `the result of job ${id}`, { code: 'INVALID_FORMAT' });
        results[i] = job.returnvalue as z.output<S>;
        jobsDone++;
        options.onResult?.(i, results[i]);
      }
      report();
    }
    await within(
      Promise.all(ids.map((id) => queue.remove(id))),
      Math.min(5000, unreachableMs),
    ).catch(() => undefined);
    return results as z.output<S>[];
  } catch (e) {
    // The run is abandoned: take its jobs that have not started off the queue.
    await within(Promise.all(ids.map((id) => queue.remove(id).catch(() => 0))), 2000).catch(
      () => undefined,
    );
    throw e;
  } finally {
    await within(Promise.all([queue.close(), events.close()]), 2000).catch(() => undefined);
  }
}
