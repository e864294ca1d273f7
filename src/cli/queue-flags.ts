import { readFileSync } from 'node:fs';
import { AntidoteError } from '../errors.js';
import { DEFAULT_QUEUE_NAME, type QueueTarget } from '../jobs/connection.js';
import type { RunProgress } from '../jobs/run-jobs.js';
import { fsError } from '../util/fs.js';
import { createProgressBar, progressEnabled } from './progress.js';

/** The `--queue` options of a command that can hand its work to `antidote worker`s. */
export interface QueueCliOptions {
  queue?: string;
  queueName?: string;
}

/**
 * The environment variable that names the queue when `--queue` is not given: a URL with a
 * password there (or in a file, `--queue @FILE`) stays out of the process list, where any user of
 * the machine reads a command line.
 */
export const QUEUE_ENV = 'ANTIDOTE_QUEUE';

/** Help of `--queue`. */
export const QUEUE_HELP = `split the work into jobs for \`antidote worker\`s on this Redis (redis://[:password@]host:port, or @FILE holding the URL; default $${QUEUE_ENV}); workers must see the same files at the same paths`;
/** Help of `--queue-name`. */
export const QUEUE_NAME_HELP = 'BullMQ queue name of the workers';
export { DEFAULT_QUEUE_NAME };

/**
 * The queue URL of a `--queue` value: `@FILE` reads it from the file's first line (`NOT_FOUND`,
 * `INVALID_ARGUMENT` when empty); no value, `$ANTIDOTE_QUEUE` when set; a URL given on the command
 * line that carries a password is used, with a warning through `warn` (the process list shows it).
 */
export function queueUrl(
  value: string | undefined,
  warn: (line: string) => void,
  env: Readonly<Record<string, string | undefined>> = process.env,
): string | undefined {
  if (value === undefined) return env[QUEUE_ENV] || undefined;
  if (value.startsWith('@')) {
    const path = value.slice(1);
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (e) {
      throw fsError(e, path);
    }
    const url = text.split(/\r?\n/, 1)[0]!.trim();
    if (!url) {
      throw new AntidoteError('INVALID_ARGUMENT', `--queue @${path}: the file holds no URL`, {
        field: 'queue',
      });
    }
    return url;
  }
  let password = false;
  try {
    password = new URL(value).password !== '';
  } catch {
    // Not a URL: the connection reports it.
  }
  if (password) {
    warn(
      `warning: the --queue URL carries a password, which every user of this machine can read in the process list; put the URL in $${QUEUE_ENV} or in a file (--queue @FILE)`,
    );
  }
  return value;
}

/** The queue of `--queue` (or `$ANTIDOTE_QUEUE`), if any; see {@link queueUrl}. */
export function queueTarget(o: QueueCliOptions & { quiet?: boolean }): QueueTarget | undefined {
  const url = queueUrl(o.queue, (line) => {
    if (!o.quiet) process.stderr.write(`${line}\n`);
  });
  return url ? { url, name: o.queueName ?? DEFAULT_QUEUE_NAME } : undefined;
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
