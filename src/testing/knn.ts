import type { TrainedModel, Trainer } from '../eval/experiment.js';

export { rowImages } from './row-images.js';

/** A real (if tiny) learner for harness tests: 1-nearest-neighbour in Euclidean distance. */
export function knnTrainer(log: { trained: number; disposed: number; seeds: number[] }): Trainer {
  return async (ds, options) => {
    log.trained++;
    log.seeds.push(options.seed);
    options.onProgress?.({ epoch: 1, epochs: 1, batch: 1, batches: 1, loss: 0 });
    const n = ds.shape[0]!;
    const size = ds.x.length / Math.max(n, 1);
    const k = ds.classes.length;
    const x = ds.x.slice();
    const y = ds.y.slice();
    const predict = async (q: Float32Array, m: number) => {
      const out = new Int32Array(m);
      for (let i = 0; i < m; i++) {
        let best = Number.POSITIVE_INFINITY;
        for (let j = 0; j < n; j++) {
          let d = 0;
          for (let t = 0; t < size; t++) {
            const e = q[i * size + t]! - x[j * size + t]!;
            d += e * e;
          }
          if (d < best) {
            best = d;
            out[i] = y[j]!;
          }
        }
      }
      return out;
    };
    const model: TrainedModel = {
      inputShape: ds.shape.slice(1),
      numClasses: k,
      layerNames: [],
      predict,
      async predictProba(q, m) {
        const pred = await predict(q, m);
        const p = new Float32Array(m * k).fill(0.2 / (k - 1));
        for (let i = 0; i < m; i++) p[i * k + pred[i]!] = 0.8;
        return p;
      },
      async activations(q, m) {
        return { data: q.slice(0, m * size), dim: size };
      },
      dispose() {
        log.disposed++;
      },
    };
    return model;
  };
}
