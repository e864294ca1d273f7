/**
 * The worker side of data-parallel training (see `data-parallel.ts`): its own TF.js engine,
 * model replica and Adam optimizer. Each step it computes its shard's gradients, publishes them,
 * waits for everyone else's, and applies the same summed update as every other participant.
 * Synchronised through `Atomics` on shared memory: a step costs no message round trip.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { initEngine } from './backend.js';
import { CONTROL, type GradientWorkerData } from './data-parallel-protocol.js';
import { applySummed, awaitAll, type ExchangeViews, publishGrads } from './data-parallel-step.js';
import { crossEntropySum } from './train.js';

const data = workerData as GradientWorkerData;

async function main(): Promise<void> {
  await initEngine({ backend: data.backend });
  // A replica of the architecture; its weights come from the trainer before the first step.
  const model = await tfl.models.modelFromJSON(
    data.modelTopology as Parameters<typeof tfl.models.modelFromJSON>[0],
  );
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const optimizer = tf.train.adam(data.learningRate);
  const control = new Int32Array(data.control);
  const weights = new Float32Array(data.weights);
  const x = new Float32Array(data.x);
  const y = new Int32Array(data.y);
  const results = new Float64Array(data.results);
  const offsets = data.offsets;
  const views: ExchangeViews = {
    participant: data.participant,
    participants: data.participants,
    allGrads: new Float32Array(data.allGrads),
    ready: new Int32Array(data.ready),
    offsets,
  };
  let weightsVersion = -1;
  let seen = 0;
  parentPort?.postMessage({ ready: true });
  for (;;) {
    Atomics.wait(control, CONTROL.go, seen);
    seen = Atomics.load(control, CONTROL.go);
    if (Atomics.load(control, CONTROL.command) === 2) break;
    try {
      const version = Atomics.load(control, CONTROL.weightsVersion);
      if (version !== weightsVersion) {
        tf.tidy(() => {
          vars.forEach((v, i) => {
            v.assign(tf.tensor(weights.subarray(offsets[i], offsets[i + 1]), v.shape));
          });
        });
        weightsVersion = version;
      }
      const m = Atomics.load(control, CONTROL.records);
      const scale = results[2];
      const size = data.recordSize;
      tf.tidy(() => {
        let grads: tf.NamedTensorMap;
        if (m === 0) {
          grads = Object.fromEntries(vars.map((v) => [v.name, tf.zerosLike(v)]));
          results[0] = 0;
          results[1] = 0;
        } else {
          const xb = tf.tensor(x.subarray(0, m * size), [m, ...data.inputShape]);
          const yb = tf.tensor1d(y.subarray(0, m), 'int32');
          let logits: tf.Tensor2D | undefined;
          const r = tf.variableGrads(() => {
            logits = tf.keep(model.apply(xb, { training: true }) as tf.Tensor2D);
            return tf.mul(crossEntropySum(logits, yb, data.numClasses), scale) as tf.Scalar;
          }, vars);
          grads = r.grads;
          const hits = tf.sum(tf.cast(tf.equal(tf.argMax(logits!, 1), yb), 'int32'));
          results[0] = r.value.dataSync()[0];
          results[1] = hits.dataSync()[0];
          logits!.dispose();
        }
        publishGrads(views, vars, grads, seen);
        awaitAll(views, seen, () => undefined);
        applySummed(views, optimizer, vars, grads, seen);
      });
    } catch (e) {
      Atomics.store(control, CONTROL.failed, 1);
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
