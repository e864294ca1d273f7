import { MessageChannel, Worker } from 'node:worker_threads';
import { afterAll, describe, expect, it } from 'vitest';
import { waitForAnswer } from './pg-database.js';

/**
 * A worker thread that answers request `seq` with `seq * 2`, after waking the caller once before
 * the answer exists: the late wake-up of an earlier answer, which a loaded machine produces
 * rarely and this worker produces on every request.
 */
const HOSTILE = `
const { parentPort, workerData } = require('node:worker_threads');
const flag = new Int32Array(workerData.shared);
parentPort.on('message', (seq) => {
  Atomics.notify(flag, 0);
  const until = Date.now() + 5;
  while (Date.now() < until) {}
  workerData.port.postMessage({ seq, reply: seq * 2 });
  Atomics.store(flag, 0, seq);
  Atomics.notify(flag, 0);
});
`;

describe('waitForAnswer (the synchronous bridge to the pg worker thread)', () => {
  const shared = new SharedArrayBuffer(4);
  const flag = new Int32Array(shared);
  const { port1, port2 } = new MessageChannel();
  const worker = new Worker(HOSTILE, {
    eval: true,
    workerData: { shared, port: port2 },
    transferList: [port2],
  });
  afterAll(async () => {
    port1.close();
    await worker.terminate();
  });

  it('waits for the answer to its own request, whatever wakes it before', () => {
    for (let seq = 1; seq <= 20; seq++) {
      worker.postMessage(seq);
      expect(waitForAnswer(flag, port1, seq, 10_000)).toBe(seq * 2);
    }
  });

  it('gives up after the timeout when no answer comes', () => {
    const t = performance.now();
    expect(waitForAnswer(flag, port1, 999, 50)).toBeUndefined();
    expect(performance.now() - t).toBeGreaterThanOrEqual(45);
  });
});
