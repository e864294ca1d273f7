/**
 * The worker side of data-parallel training (see `data-parallel.ts`): its own TF.js engine,
 * model replica (started from the trainer's weights) and Adam optimizer. Each step it computes its shard's gradients, publishes them,
 * waits for everyone else's, and applies the same summed update as every other participant.
 * Synchronised through `Atomics` on shared memory: a step costs no message round trip.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { initEngine } from './backend.js';
import { CONTROL, type GradientWorkerData } from './data-parallel-protocol.js';
import {
  applySummed,
  awaitAll,
  type ExchangeViews,
  FusedAdam,
  publishGrads,
  shardGradients,
} from './data-parallel-step.js';

const data = workerData as GradientWorkerData;

async function main(): Promise<void> {
  await initEngine({ backend: data.backend });
  // A replica of the architecture; its weights come from the trainer before the first step.
  const model = await tfl.models.modelFromJSON(
    data.modelTopology as Parameters<typeof tfl.models.modelFromJSON>[0],
  );
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  tf.tidy(() => {
    vars.forEach((v, i) => {
      v.assign(tf.tensor(data.weights[i]!, v.shape));
    });
  });
  const optimizer = new FusedAdam(data.learningRate);
  const control = new Int32Array(data.control);
  const x = new Float32Array(data.x);
  const y = new Int32Array(data.y);
  const results = new Float64Array(data.results);
  const views: ExchangeViews = {
    participant: data.participant,
    participants: data.participants,
    allGrads: new Float32Array(data.allGrads),
    ready: new Int32Array(data.ready),
    offsets: data.offsets,
  };
  let step = 0;
  parentPort?.postMessage({ ready: true });
  for (;;) {
    Atomics.wait(control, CONTROL.go, step);
    step = Atomics.load(control, CONTROL.go);
    if (Atomics.load(control, CONTROL.command) === 2) break;
    try {
      tf.tidy(() => {
        const m = Atomics.load(control, CONTROL.records);
        const own = shardGradients(
          model,
          vars,
          x,
          y,
          m,
          data.inputShape,
          data.numClasses,
          results[2]!,
        );
        results[0] = own.loss;
        results[1] = own.hits;
        publishGrads(views, vars, own.grads, step);
        awaitAll(views, step, () => undefined);
        applySummed(views, optimizer, vars, own.grads, step);
      });
    } catch (e) {
      // A negative step tells every waiting participant that this one failed.
      Atomics.store(views.ready, views.participant, -1);
      Atomics.notify(views.ready, views.participant);
      parentPort?.postMessage({ error: (e as Error).message });
      break;
    }
  }
  optimizer.dispose();
  model.dispose();
}

main().catch((e) => {
  parentPort?.postMessage({ error: (e as Error).message });
});
