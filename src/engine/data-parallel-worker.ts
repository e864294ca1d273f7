/**
 * The worker side of data-parallel training (see `data-parallel.ts`): its own TF.js engine and
 * model replica, gradients of one shard of every batch. Synchronised with the trainer through
 * `Atomics` on shared memory, so a step costs no message round trip.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { initEngine } from './backend.js';
import { CONTROL, type GradientWorkerData } from './data-parallel-protocol.js';
import { crossEntropySum } from './train.js';

const data = workerData as GradientWorkerData;

async function main(): Promise<void> {
  await initEngine({ backend: data.backend });
  // A replica of the architecture; its weights come from the trainer before the first step.
  const model = await tfl.models.modelFromJSON(
    data.modelTopology as Parameters<typeof tfl.models.modelFromJSON>[0],
  );
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const control = new Int32Array(data.control);
  const weights = new Float32Array(data.weights);
  const grads = new Float32Array(data.grads);
  const x = new Float32Array(data.x);
  const y = new Int32Array(data.y);
  const results = new Float64Array(data.results);
  const offsets = data.offsets;
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
      const out = tf.tidy(() => {
        const xb = tf.tensor(x.subarray(0, m * size), [m, ...data.inputShape]);
        const yb = tf.tensor1d(y.subarray(0, m), 'int32');
        let logits: tf.Tensor2D | undefined;
        const { value, grads: g } = tf.variableGrads(() => {
          logits = tf.keep(model.apply(xb, { training: true }) as tf.Tensor2D);
          return tf.mul(crossEntropySum(logits, yb, data.numClasses), scale) as tf.Scalar;
        }, vars);
        const hits = tf.sum(tf.cast(tf.equal(tf.argMax(logits!, 1), yb), 'int32'));
        vars.forEach((v, i) => {
          grads.set(g[v.name].dataSync() as Float32Array, offsets[i]);
        });
        const r = [value.dataSync()[0], hits.dataSync()[0]];
        logits!.dispose();
        return r;
      });
      results[0] = out[0];
      results[1] = out[1];
      Atomics.store(control, CONTROL.failed, 0);
    } catch (e) {
      Atomics.store(control, CONTROL.failed, 1);
      parentPort?.postMessage({ error: (e as Error).message });
    }
    Atomics.store(control, CONTROL.done, seen);
    Atomics.notify(control, CONTROL.done);
  }
  model.dispose();
}

main().catch((e) => {
  parentPort?.postMessage({ error: (e as Error).message });
});
