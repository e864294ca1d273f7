/**
 * The Redis connection of the distributed jobs (issue 22, `../shared/DESIGN.md`): a `redis://` or
 * `rediss://` URL parsed into BullMQ's connection options, and the same URL with its password
 * hidden for messages (a queue URL may carry one: it is never printed or logged).
 */
import type { ConnectionOptions } from 'bullmq';
import { AntidoteError } from '../errors.js';

/** The default BullMQ queue name of `antidote worker` and the `--queue` commands. */
export const DEFAULT_QUEUE_NAME = 'antidote';

/** A queue to send jobs to or take them from: where Redis is and the queue's name. */
export interface QueueTarget {
  /** `redis://[user:password@]host:port[/db]` (or `rediss://` for TLS). */
  readonly url: string;
  /** BullMQ queue name; default {@link DEFAULT_QUEUE_NAME}. */
  readonly name?: string;
  /** BullMQ key prefix; default `bull`. Tests give each run its own. */
  readonly prefix?: string;
}

/** `url` with any password replaced by `***` (what messages and logs show). */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '<unparsable queue URL>';
  }
}

/**
 * BullMQ connection options of a queue URL. `INVALID_ARGUMENT` (the URL redacted) when it is not
 * a `redis://` / `rediss://` URL. Commands fail fast when Redis is unreachable
 * (`enableOfflineQueue` off for the coordinator's side).
 */
export function connectionOf(url: string, options: { worker?: boolean } = {}): ConnectionOptions {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new AntidoteError('INVALID_ARGUMENT', `--queue ${redactUrl(url)} is not a redis:// URL`, {
      field: 'queue',
    });
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `--queue ${redactUrl(url)} is not a redis:// or rediss:// URL`,
      { field: 'queue' },
    );
  }
  const db = u.pathname.length > 1 ? Number(u.pathname.slice(1)) : 0;
  if (!Number.isInteger(db) || db < 0) {
    throw new AntidoteError('INVALID_ARGUMENT', `--queue ${redactUrl(url)}: bad database number`, {
      field: 'queue',
    });
  }
  return {
    host: u.hostname || '127.0.0.1',
    port: u.port ? Number(u.port) : 6379,
    db,
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(u.protocol === 'rediss:' ? { tls: {} } : {}),
    // Workers block on Redis and must retry forever (BullMQ's requirement); a coordinator's
    // commands fail instead of queueing while Redis is down, so it can give a clear error.
    maxRetriesPerRequest: options.worker ? null : 1,
    ...(options.worker ? {} : { enableOfflineQueue: false }),
    connectTimeout: 5000,
    retryStrategy: (times: number) => Math.min(times * 200, 2000),
  };
}
