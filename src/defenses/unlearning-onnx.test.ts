import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Dataset } from '../data/dataset.js';
import { loadModel } from '../engine/model.js';
import type { OnnxModel } from '../engine/onnx/onnx-model.js';
import { ONNX_FIXTURES } from '../testing/onnx-fixtures.js';
import { unlearnBackdoor } from './unlearning.js';

/** The MNIST test images recorded with the ONNX fixtures (HWC, [0, 1]). */
async function records(): Promise<Dataset> {
  const e = JSON.parse(await readFile(join(ONNX_FIXTURES, 'expectations.json'), 'utf8')).cnn as {
    pixels: number[][];
    labels: number[];
  };
  return {
    x: Float32Array.from(e.pixels.flat(), (v) => v / 255),
    shape: [e.labels.length, 28, 28, 1],
    y: Int32Array.from(e.labels),
    classes: Array.from({ length: 10 }, (_, k) => String(k)),
    ids: e.labels.map((_, i) => `t${i}`),
  };
}

describe('backdoor unlearning on an ONNX model', () => {
  it('fine-tunes the imported graph on stamped records, featurized after stamping', async () => {
    const m = (await loadModel(join(ONNX_FIXTURES, 'cnn.onnx'))) as OnnxModel;
    try {
      const base = await m.importGraph();
      const tuned = base.clone();
      const mask = new Float32Array(784);
      for (const i of [0, 1, 28, 29]) mask[i] = 1;
      const history = await unlearnBackdoor(
        tuned,
        await records(),
        { mask, pattern: new Float32Array(784).fill(1) },
        { seed: 2, fraction: 0.5, epochs: 1, batchSize: 4, featurize: (ds) => m.featurize(ds) },
      );
      expect(history.epochs).toHaveLength(1);
      const w = tuned.graph.initializerValues().get('conv1.weight')!;
      const w0 = base.graph.initializerValues().get('conv1.weight')!;
      expect(w.some((v, i) => v !== w0[i])).toBe(true);
      tuned.dispose();
    } finally {
      m.dispose();
    }
  });
});
