import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { importsOf, sourceFiles } from '../testing/import-graph.js';
import { Job, Queue, QueueEvents, UnrecoverableError, Worker } from './bullmq.js';

describe('BullMQ, loaded with require', () => {
  it('is BullMQ’s own classes', () => {
    const bullmq = createRequire(import.meta.url)('bullmq');
    expect([Job, Queue, QueueEvents, Worker, UnrecoverableError]).toEqual([
      bullmq.Job,
      bullmq.Queue,
      bullmq.QueueEvents,
      bullmq.Worker,
      bullmq.UnrecoverableError,
    ]);
  });

  it('is imported for its values by jobs/bullmq.ts alone (no ES import lexes its files)', () => {
    const importers = sourceFiles()
      .filter((f) => !f.endsWith('.test.ts'))
      .flatMap((f) => importsOf(f))
      .filter((e) => e.specifier === 'bullmq' && !e.typeOnly)
      .map((e) => e.from);
    expect(importers).toEqual([]);
  });
});
