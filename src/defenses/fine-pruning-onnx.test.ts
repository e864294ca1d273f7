import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Dataset } from '../data/dataset.js';
import { loadModel } from '../engine/model.js';
import type { OnnxModel } from '../engine/onnx/onnx-model.js';
import { buildOnnx } from '../testing/onnx-build.js';
import { rejects } from '../testing/rejects.js';
import { Rng } from '../util/rng.js';
import { finePrune } from './fine-pruning.js';

let root: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'antidote-fine-prune-onnx-'));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/**
 * A backdoored MLP as PyTorch exports `Linear` layers (Gemm, transB = 1): 4 inputs, 6 hidden ReLU
 * units, 2 classes; class 0 when x0 > x1. Units 0 and 2 read x0 − x1, units 1 and 3 read x1 − x0
 * (each pair redundant), unit 4 is the backdoor (10·x3 − 5: dormant on clean records, where
 * x3 = 0; the trigger x3 = 1 drives it to 5 and class 0), unit 5 reads x2 and votes for no class;
 * class 0 needs evidence (its bias is below class 1's).
 */
function backdoored(): Uint8Array {
  const w1 = [
    [1, -1, 0, 0],
    [-1.5, 1.5, 0, 0],
    [1, -1, 0, 0],
    [-1.5, 1.5, 0, 0],
    [0, 0, 0, 10],
    [0, 0, 0.5, 0],
  ];
  const w2 = [
    [2, 0, 2, 0, 10, 0],
    [0, 2, 0, 2, 0, 0],
  ];
  return buildOnnx({
    input: { name: 'input', shape: ['n', 4] },
    outputs: [{ name: 'logits', shape: ['n', 2] }],
    nodes: [
      {
        op: 'Gemm',
        name: 'fc1',
        inputs: ['input', 'w1', 'b1'],
        outputs: ['h'],
        attrs: { transB: 1 },
      },
      { op: 'Relu', name: 'relu', inputs: ['h'], outputs: ['hidden'] },
      {
        op: 'Gemm',
        name: 'fc2',
        inputs: ['hidden', 'w2', 'b2'],
        outputs: ['logits'],
        attrs: { transB: 1 },
      },
    ],
    initializers: [
      { name: 'w1', dims: [6, 4], values: w1.flat() },
      { name: 'b1', dims: [6], values: [0, 0, 0, 0, -5, 0] },
      { name: 'w2', dims: [2, 6], values: w2.flat() },
      { name: 'b2', dims: [2], values: [-0.01, 0] },
    ],
  });
}

/** `n` records (x0, x1, x2 uniform in [0, 1]; x3 = `trigger`), labelled by x0 > x1. */
function records(n: number, seed: number, trigger: 0 | 1): Dataset {
  const rng = new Rng(seed);
  const x = new Float32Array(n * 4);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const [a, b, c] = [rng.next(), rng.next(), rng.next()];
    x.set([a, b, c, trigger], i * 4);
    y[i] = a > b ? 0 : 1;
  }
  return {
    x,
    y,
    shape: [n, 4],
    classes: ['0', '1'],
    ids: Array.from({ length: n }, (_, i) => `r${i}`),
  };
}

/** Share of the class-1 records of `ds` predicted as the backdoor target 0. */
function attackSuccess(pred: Int32Array, ds: Dataset): number {
  let hit = 0;
  let total = 0;
  ds.y.forEach((label, i) => {
    if (label !== 1) return;
    total++;
    if (pred[i] === 0) hit++;
  });
  return hit / total;
}

describe('fine-pruning of an ONNX model (imported graph)', () => {
  it('prunes the dormant backdoor unit of the last Gemm input, keeps it zero while fine-tuning, writes ONNX', async () => {
    const path = join(root, 'backdoored.onnx');
    await writeFile(path, backdoored());
    const m = (await loadModel(path)) as OnnxModel;
    try {
      const base = await m.importGraph();
      expect(base.defaultLayer).toBe('hidden');
      const clean = records(400, 1, 0);
      const validation = records(200, 2, 0);
      const triggered = records(200, 3, 1);
      const tuned = base.clone();
      expect(attackSuccess(await tuned.predict(triggered.x, 200), triggered)).toBe(1);
      const r = await finePrune(tuned, clean, validation, {
        seed: 1,
        fineTuneEpochs: 2,
        learningRate: 0.01,
      });
      expect(r.layer).toBe('hidden');
      // Dormant first: the backdoor unit 4 (mean 0), then unit 0; pruning its twin 2 as well
      // would leave class 0 without evidence, so that step is undone.
      expect(r.pruned).toEqual([4, 0]);
      expect(r.meanActivation[4]).toBe(0);
      expect(r.accuracyBefore).toBeGreaterThan(0.98);
      expect(r.steps.at(-1)!.accuracy).toBeLessThan(r.accuracyBefore - 0.04);
      expect(r.accuracyAfter).toBeGreaterThan(0.95);
      // The pruned units' weights in the last Gemm (columns of w2) are zero after fine-tuning,
      // though units 0 and 1 are active on clean records (their gradients are not zero).
      const w2 = tuned.graph.initializerValues().get('w2')!;
      const w2Before = base.graph.initializerValues().get('w2')!;
      for (const unit of r.pruned)
        for (const row of [0, 1]) expect(Math.abs(w2[row * 6 + unit]!)).toBe(0);
      expect(Array.from(w2).some((v, i) => v !== 0 && v !== w2Before[i])).toBe(true);
      // The backdoor is gone; the clean model still answers (the original is unchanged).
      expect(attackSuccess(await tuned.predict(triggered.x, 200), triggered)).toBe(0);
      expect(attackSuccess(await base.predict(triggered.x, 200), triggered)).toBe(1);
      // Written back as ONNX: ONNX Runtime predicts the written file as the TF graph does.
      const out = join(root, 'pruned.onnx');
      await tuned.saveOnnx(out);
      const written = (await loadModel(out)) as OnnxModel;
      try {
        const p = await written.predictProba(triggered);
        const q = await tuned.predictProba(triggered.x, 200);
        let worst = 0;
        for (let i = 0; i < q.length; i++) worst = Math.max(worst, Math.abs(p[i]! - q[i]!));
        expect(worst).toBeLessThan(1e-5);
      } finally {
        written.dispose();
      }
      tuned.dispose();
    } finally {
      m.dispose();
    }
  });

  it('refuses a layer that a Gemm does not read alone', async () => {
    const path = join(root, 'layers.onnx');
    await writeFile(path, backdoored());
    const m = (await loadModel(path)) as OnnxModel;
    try {
      const g = (await m.importGraph()).clone();
      const clean = records(20, 1, 0);
      await rejects(
        finePrune(g, clean, clean, { seed: 1, layer: 'h' }),
        'INVALID_ARGUMENT',
        /cannot prune the units of h: it is read by Relu relu, not as the data input of a Gemm or MatMul/,
      );
      g.dispose();
    } finally {
      m.dispose();
    }
  });
});
