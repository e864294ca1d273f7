import { setPriority } from 'node:os';
import type { Command } from 'commander';
import { AntidoteError } from '../../errors.js';
import { DEFAULT_QUEUE_NAME, redactUrl } from '../../jobs/connection.js';
import { DEFAULT_LOCK_MS, startWorker, type WorkerEvent } from '../../jobs/worker.js';
import { parseInteger } from '../options.js';
import { QUEUE_ENV, queueUrl } from '../queue-flags.js';

interface WorkerCliOptions {
  queue?: string;
  queueName: string;
  concurrency: number;
  lockDuration: number;
  warmUp: boolean;
  nice?: number;
  json?: boolean;
  quiet?: boolean;
}

/** One line per worker event (JSON lines with `--json`); the queue URL's password never shows. */
function eventLine(e: WorkerEvent, json: boolean): string {
  if (json) return JSON.stringify(e);
  switch (e.type) {
    case 'ready':
      return `worker ready on queue ${e.queue} at ${e.url}`;
    case 'start':
      return `job ${e.job} (${e.kind}) started`;
    case 'done':
      return `job ${e.job} (${e.kind}) done in ${e.seconds.toFixed(1)} s (cpu ${e.cpuSeconds.toFixed(2)} s)`;
    case 'failed':
      return `job ${e.job} (${e.kind}) failed: ${e.reason}`;
    case 'error':
      return `worker error: ${e.message}`;
  }
}

/** Sets this process's nice value to `n` (0–19); `INVALID_ARGUMENT` outside it, or if refused. */
function lowerPriority(n: number): void {
  if (n < 0 || n > 19) {
    throw new AntidoteError('INVALID_ARGUMENT', `--nice must be 0–19, got ${n}`, {
      field: 'nice',
    });
  }
  try {
    setPriority(0, n);
  } catch (e) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `cannot set this worker's nice value to ${n}: ${(e as Error).message}`,
      { field: 'nice' },
      { cause: e },
    );
  }
}

/**
 * `antidote worker --queue redis://…`: takes the distributed jobs of `sweep --queue`,
 * `scan --queue` and `manifest create --queue` from a BullMQ queue until SIGINT or SIGTERM (then
 * finishes the job in hand). Workers and the coordinator share a filesystem: jobs name datasets,
 * models and shard files by path, with digests the worker checks before it works.
 */
export function registerWorkerCommand(program: Command): void {
  program
    .command('worker')
    .description(
      'process distributed jobs (sweep, scan and manifest shards) from a BullMQ queue on Redis',
    )
    .option(
      '--queue <url>',
      `Redis URL, redis://[:password@]host:port[/db], or @FILE holding it (default $${QUEUE_ENV}: keeps a password out of the process list)`,
    )
    .option('--queue-name <name>', 'BullMQ queue name', DEFAULT_QUEUE_NAME)
    .option('--concurrency <n>', 'jobs run at once by this worker', parseInteger, 1)
    .option(
      '--lock-duration <ms>',
      "job lock duration (ms): a worker that dies is noticed after about this long; must outlast the engine's longest synchronous stretch (a training epoch)",
      parseInteger,
      DEFAULT_LOCK_MS,
    )
    .option(
      '--nice <n>',
      "run at nice value n (0–19, as nice(1); default: as started): on a host shared with a coordinator (scan --queue on the same machine), the coordinator's reading and decision then go first",
      parseInteger,
    )
    .option(
      '--no-warm-up',
      'report ready without first running the per-class phases of ac and ss on synthetic data (a fresh process runs them slowly once: the first scan would pay it)',
    )
    .option('--json', 'print events as JSON lines')
    .option('--quiet', 'print nothing but errors')
    .action(async (o: WorkerCliOptions) => {
      if (o.nice !== undefined) lowerPriority(o.nice);
      // The engine starts before the first job (seconds of wasm set-up), not inside it.
      await (await import('../../engine/backend.js')).initEngine();
      // So do the detectors' numeric loops (compiled as they get hot), on synthetic data.
      if (o.warmUp) await (await import('../../jobs/warm-up.js')).warmUpClassPhases();
      const url = queueUrl(o.queue, (line) => {
        if (!o.quiet) process.stderr.write(`${line}\n`);
      });
      if (!url) {
        throw new AntidoteError('INVALID_ARGUMENT', `--queue (or $${QUEUE_ENV}) is required`, {
          field: 'queue',
        });
      }
      const worker = await startWorker(
        { url, name: o.queueName },
        {
          concurrency: o.concurrency,
          lockDuration: o.lockDuration,
          onEvent: (e) => {
            if (o.quiet && e.type !== 'error' && e.type !== 'failed') return;
            const text = eventLine(e, o.json ?? false).replaceAll(url, redactUrl(url));
            (e.type === 'error' || e.type === 'failed' ? process.stderr : process.stdout).write(
              `${text}\n`,
            );
          },
        },
      );
      await new Promise<void>((resolve) => {
        const stop = () => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          resolve();
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
      await worker.close();
    });
}
