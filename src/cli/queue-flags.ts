import { DEFAULT_QUEUE_NAME, type QueueTarget } from '../jobs/connection.js';
import type { RunProgress } from '../jobs/run-jobs.js';
import { createProgressBar, progressEnabled } from './progress.js';

/** The `--queue` options of a command that can hand its work to `antidote worker`s. */
export interface QueueCliOptions {
  queue?: string;
  queueName?: string;
}

/** Help of `--queue`. */
export const QUEUE_HELP =
  'split the work into jobs for `antidote worker`s on this Redis (redis://[:password@]host:port); workers must see the same files at the same paths';
/** Help of `--queue-name`. */
export const QUEUE_NAME_HELP = 'BullMQ queue name of the workers';
export { DEFAULT_QUEUE_NAME };

/** The queue of `--queue`, if given. */
export function queueTarget(o: QueueCliOptions): QueueTarget | undefined {
  return o.queue ? { url: o.queue, name: o.queueName ?? DEFAULT_QUEUE_NAME } : undefined;
}

/** A progress bar over the workers' aggregated progress; `stop()` when the run ends. */
export function queueProgress(
  label: string,
  o: { quiet?: boolean; json?: boolean },
): { onProgress: (p: RunProgress) => void; stop: () => void } {
  const bar = createProgressBar(label, 1, progressEnabled(o));
  return {
    onProgress: (p) =>
      bar.update(Math.round(p.done), `${p.jobsDone}/${p.jobs} jobs`, Math.max(1, p.total)),
    stop: () => bar.stop(),
  };
}
