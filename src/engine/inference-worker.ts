/**
 * The worker side of parallel inference (see `inference-pool.ts`): its own TF.js engine and a
 * replica of the model, answering shards of `predictProba` / `activations` / `lossGradient`.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { initEngine } from './backend.js';
import { type InferenceRequest, runInference } from './inference-ops.js';
import type { InferenceMessage, InferenceWorkerData } from './inference-pool.js';

const data = workerData as InferenceWorkerData;

async function main(): Promise<void> {
  await initEngine({ backend: data.backend });
  const model = await tfl.models.modelFromJSON(
    data.modelTopology as Parameters<typeof tfl.models.modelFromJSON>[0],
  );
  const subModels = new Map<string, tfl.LayersModel>();
  const port = parentPort!;
  port.on('message', (m: InferenceMessage) => {
    try {
      if (m.type === 'weights') {
        tf.tidy(() => {
          model.weights.forEach((w, i) => {
            w.write(tf.tensor(m.weights[i]!, w.read().shape));
          });
        });
        port.postMessage({ id: m.id, ok: true });
        return;
      }
      let target = model;
      if (m.layer !== undefined) {
        let sub = subModels.get(m.layer);
        if (!sub) {
          sub = tfl.model({
            inputs: model.inputs,
            outputs: model.getLayer(m.layer).output as tfl.SymbolicTensor,
          });
          subModels.set(m.layer, sub);
        }
        target = sub;
      }
      const req: InferenceRequest = { ...m.request };
      const out = runInference(target, req, data.numClasses);
      port.postMessage({ id: m.id, ok: true, data: out }, [out.buffer as ArrayBuffer]);
    } catch (e) {
      port.postMessage({ id: m.id, ok: false, error: (e as Error).message });
    }
  });
  port.postMessage({ id: 0, ok: true, ready: true });
}

main().catch((e) => {
  parentPort?.postMessage({ id: 0, ok: false, error: (e as Error).message });
});
