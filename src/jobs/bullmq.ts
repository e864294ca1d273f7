/**
 * BullMQ's classes, loaded with `require` (issue 22). BullMQ ships CommonJS; imported from an ES
 * module, Node's loader lexes each of the ≈ 100 files its index re-exports to find their named
 * exports, which took ≈ 0.08 s of CPU (0.25 s instead of 0.16 s to load it, measured alone) at
 * the start of every `scan --queue`, while the workers waited for their first shard. `require`
 * runs the same files without that pass. The types are BullMQ's own.
 */
import { createRequire } from 'node:module';
import type * as BullMQ from 'bullmq';

const bullmq = createRequire(import.meta.url)('bullmq') as typeof BullMQ;

/** BullMQ's `Job` (`Job.fromId` reads a job of a queue). */
export const Job = bullmq.Job;
/** A BullMQ job. */
// biome-ignore lint/suspicious/noExplicitAny: BullMQ's own defaults
export type Job<D = any, R = any, N extends string = string> = BullMQ.Job<D, R, N>;
/** BullMQ's `Queue`: where jobs are added. */
export const Queue = bullmq.Queue;
/** A BullMQ queue. */
export type Queue = BullMQ.Queue;
/** BullMQ's `QueueEvents`: a queue's completion and progress events. */
export const QueueEvents = bullmq.QueueEvents;
/** A BullMQ queue's event stream. */
export type QueueEvents = BullMQ.QueueEvents;
/** BullMQ's `Worker`: runs a queue's jobs. */
export const Worker = bullmq.Worker;
/** A BullMQ worker. */
export type Worker = BullMQ.Worker;
/** BullMQ's error for a job that must not be retried. */
export const UnrecoverableError = bullmq.UnrecoverableError;
