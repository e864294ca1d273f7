import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Dataset } from '../../data/dataset.js';
import { buildOnnx } from '../../testing/onnx-build.js';
import {
  expectedRecords,
  ONNX_FIXTURES,
  type OnnxExpected,
  readOnnxExpectations,
} from '../../testing/onnx-fixtures.js';
import { rejects } from '../../testing/rejects.js';
import { loadModel } from '../model.js';
import type { OnnxModel } from './onnx-model.js';
import { decodeOnnx } from './onnx-proto.js';
import { decodeWeights } from './onnx-tensors.js';

let expected: { mlp: OnnxExpected; cnn: OnnxExpected };
let root: string;

beforeAll(async () => {
  expected = await readOnnxExpectations();
  root = await mkdtemp(join(tmpdir(), 'antidote-onnx-tf-'));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const records = expectedRecords;

function maxAbs(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return worst;
}

/** Largest difference relative to the largest reference value. */
function maxRel(a: ArrayLike<number>, want: ArrayLike<number>): number {
  let top = 0;
  for (let i = 0; i < want.length; i++) top = Math.max(top, Math.abs(want[i]!));
  return maxAbs(a, want) / top;
}

/** ONNX Runtime's probabilities of the records `ds` by the model file `path`. */
async function runtimeProbabilities(path: string, ds: Dataset): Promise<Float32Array> {
  const model = (await loadModel(path)) as OnnxModel;
  try {
    return await model.classifier.predictProba(ds.x, ds.y.length);
  } finally {
    model.dispose();
  }
}

async function load(name: string): Promise<OnnxModel> {
  return (await loadModel(join(ONNX_FIXTURES, `${name}.onnx`))) as OnnxModel;
}

describe('ONNX fixtures imported into TF.js, against PyTorch', () => {
  for (const [name, which] of [
    ['cnn', 'cnn'],
    ['cnn-nhwc', 'cnn'],
    ['mlp', 'mlp'],
  ] as const) {
    it(`${name}: probabilities, logits, activations and input gradients`, async () => {
      const m = await load(name);
      const e = expected[which];
      expect(m.capabilities).toMatchObject({ gradients: true, training: true });
      const f = m.featurize(records(e));
      const n = e.labels.length;
      const c = await m.importGraph();
      expect(maxAbs(await c.predictProba(f.x, n), e.probabilities)).toBeLessThanOrEqual(1e-5);
      const logits = tf.tidy(() => c.graph.logits(tf.tensor(f.x, [...f.shape])).dataSync());
      expect(maxRel(logits, e.logits)).toBeLessThanOrEqual(1e-5);
      const act = await c.activations(f.x, n);
      expect(maxRel(act.data, e.lastGemmInput)).toBeLessThanOrEqual(1e-5);
      // The classifier's gradient (what PGD and the detectors get) is PyTorch's.
      const grad = await m.classifier.lossGradient!(f.x, f.y);
      expect(maxRel(grad, e.inputGradients)).toBeLessThanOrEqual(1e-4);
      // The same model as a function of the raw pixels: normalisation done in TF.js.
      const px = await m.differentiable();
      expect(px.inputShape).toEqual(which === 'mlp' ? [784] : [28, 28, 1]);
      const pixelLogits = tf.tidy(() =>
        (px.model.apply(tf.tensor(records(e).x, [n, ...px.inputShape])) as tf.Tensor).dataSync(),
      );
      expect(maxRel(pixelLogits, e.logits)).toBeLessThanOrEqual(1e-5);
      m.dispose();
    });
  }
});

/** What scripts/make-onnx-fixtures.py recorded of PyTorch fine-tuning cnn.onnx (cnn-train-steps.json). */
interface TrainSteps {
  readonly learningRate: number;
  readonly steps: number;
  readonly train: StepsOfMode;
  readonly frozen: StepsOfMode;
}

interface StepsOfMode {
  readonly losses: number[];
  readonly weights: Record<string, { size: number; head: number[] }>;
}

describe('batch normalization while fine-tuning, against PyTorch', () => {
  let steps: TrainSteps;
  beforeAll(async () => {
    steps = JSON.parse(await readFile(join(ONNX_FIXTURES, 'cnn-train-steps.json'), 'utf8'));
  });

  for (const mode of ['train', 'frozen'] as const) {
    it(`${mode}: SGD steps give PyTorch's losses, weights and running statistics`, async () => {
      const m = await load('cnn');
      const ds = m.featurize(records(expected.cnn));
      const want = steps[mode];
      const c = (await m.importGraph()).clone();
      const before = c.graph.initializerValues();
      // One batch of all 8 records: every step sees the batch PyTorch saw (order aside).
      const h = await c.fit(ds, {
        seed: 1,
        epochs: steps.steps,
        batchSize: ds.y.length,
        learningRate: steps.learningRate,
        optimizer: 'sgd',
        batchNorm: mode,
      });
      expect(h.epochs.map((e) => e.loss)).toHaveLength(want.losses.length);
      h.epochs.forEach((e, i) => {
        expect(Math.abs(e.loss - want.losses[i]!) / want.losses[i]!).toBeLessThanOrEqual(1e-4);
      });
      const after = c.graph.initializerValues();
      expect([...after.keys()].sort()).toEqual(Object.keys(want.weights).sort());
      for (const [name, w] of Object.entries(want.weights)) {
        const got = after.get(name)!;
        expect(got.length, name).toBe(w.size);
        expect(maxRel(got.subarray(0, w.head.length), w.head), name).toBeLessThanOrEqual(1e-4);
      }
      // The comparison can tell: the steps moved the weights, and the modes differ.
      const other = steps[mode === 'train' ? 'frozen' : 'train'].weights;
      const moved = (name: string) =>
        maxRel(
          before.get(name)!.subarray(0, want.weights[name]!.head.length),
          want.weights[name]!.head,
        );
      expect(moved('conv1.weight')).toBeGreaterThan(1e-3);
      expect(
        maxRel(other['conv1.weight']!.head, want.weights['conv1.weight']!.head),
      ).toBeGreaterThan(1e-3);
      // Running statistics: updated in training mode only.
      if (mode === 'train') expect(moved('bn2.running_var')).toBeGreaterThan(1e-3);
      else expect(moved('bn2.running_var')).toBe(0);
      c.dispose();
      m.dispose();
    });
  }
});

describe('fine-tuning and writing back', () => {
  it('fine-tunes a copy of the imported weights, seeded, and writes them back as ONNX', async () => {
    const m = await load('cnn');
    const ds = m.featurize(records(expected.cnn));
    const frozen = {
      seed: 3,
      epochs: 1,
      batchSize: 4,
      learningRate: 0.01,
      batchNorm: 'frozen',
    } as const;
    const a = await m.trainLike(ds, frozen);
    const b = await m.trainLike(ds, frozen);
    const wa = a.graph.initializerValues();
    const wb = b.graph.initializerValues();
    const before = (await m.importGraph()).graph.initializerValues();
    // Trained weights moved; frozen running statistics did not; the same seed gives the same weights.
    expect(maxAbs(wa.get('fc1.weight')!, before.get('fc1.weight')!)).toBeGreaterThan(1e-4);
    expect(maxAbs(wa.get('bn1.running_mean')!, before.get('bn1.running_mean')!)).toBe(0);
    for (const [k, v] of wa) expect(maxAbs(v, wb.get(k)!), k).toBe(0);
    b.dispose();

    const out = join(root, 'tuned.onnx');
    await a.saveOnnx(out, { sidecar: JSON.stringify({ classes: m.classes }) });
    await rejects(a.saveOnnx(out), 'ALREADY_EXISTS', /tuned\.onnx already exists/);
    const bytes = new Uint8Array(await readFile(out));
    const original = new Uint8Array(await readFile(join(ONNX_FIXTURES, 'cnn.onnx')));
    // Same size, same graph: only the weights' bytes differ.
    expect(bytes.length).toBe(original.length);
    expect(decodeOnnx(bytes, out)).toEqual(decodeOnnx(original, 'cnn.onnx'));
    const written = decodeWeights(bytes, out).initializers;
    for (const [k, v] of wa) expect(maxAbs(written.get(k)!.data as Float32Array, v), k).toBe(0);

    // ONNX Runtime runs the written model as the engine runs the fine-tuned graph.
    const n = expected.cnn.labels.length;
    const fromRuntime = await runtimeProbabilities(out, ds);
    expect(maxAbs(fromRuntime, await a.predictProba(ds.x, n))).toBeLessThanOrEqual(1e-5);
    expect(maxAbs(fromRuntime, expected.cnn.probabilities)).toBeGreaterThan(1e-4);
    a.dispose();
    m.dispose();
  });

  it('updates the running statistics by default, writes them back, and ONNX Runtime reads them', async () => {
    const m = await load('cnn');
    const ds = m.featurize(records(expected.cnn));
    const options = { seed: 3, epochs: 1, batchSize: 4, learningRate: 0.01 };
    const t = await m.trainLike(ds, options);
    const again = await m.trainLike(ds, options);
    const before = (await m.importGraph()).graph.initializerValues();
    const wt = t.graph.initializerValues();
    for (const name of [
      'bn1.running_mean',
      'bn1.running_var',
      'bn2.running_mean',
      'bn2.running_var',
    ]) {
      expect(maxAbs(wt.get(name)!, before.get(name)!), name).toBeGreaterThan(1e-4);
    }
    // Seeded: the same result bit for bit, running statistics included.
    for (const [k, v] of again.graph.initializerValues()) expect(maxAbs(v, wt.get(k)!), k).toBe(0);
    again.dispose();
    const out = join(root, 'tuned-train.onnx');
    await t.saveOnnx(out);
    const written = decodeWeights(new Uint8Array(await readFile(out)), out).initializers;
    for (const [k, v] of wt) expect(maxAbs(written.get(k)!.data as Float32Array, v), k).toBe(0);
    // Inference of the fine-tuned graph uses the new running statistics, as ONNX Runtime does.
    const engine = await t.predictProba(ds.x, ds.y.length);
    expect(maxAbs(await runtimeProbabilities(out, ds), engine)).toBeLessThanOrEqual(1e-5);
    for (const c of [t, m]) c.dispose();
  });

  it('refuses an unknown batch-norm mode or optimizer', async () => {
    const m = await load('cnn');
    const ds = m.featurize(records(expected.cnn));
    const c = (await m.importGraph()).clone();
    await rejects(
      c.fit(ds, { seed: 1, batchNorm: 'eval' as 'train' }),
      'INVALID_ARGUMENT',
      /batchNorm 'train' or 'frozen'/,
    );
    await rejects(
      c.fit(ds, { seed: 1, optimizer: 'rmsprop' as 'sgd' }),
      'INVALID_ARGUMENT',
      /optimizer 'adam' or 'sgd'/,
    );
    c.dispose();
    m.dispose();
  });

  it('keeps inference-only behaviour for a model with an op it cannot import', async () => {
    const path = join(root, 'einsum.onnx');
    const bytes = buildOnnx({
      input: { name: 'input', shape: ['n', 4] },
      outputs: [{ name: 'output', shape: ['n', 4] }],
      nodes: [
        {
          op: 'Einsum',
          name: 'mix',
          inputs: ['input'],
          outputs: ['output'],
          attrs: { equation: 'ij->ij' },
        },
      ],
      opset: 13,
    });
    await import('node:fs/promises').then((fs) => fs.writeFile(path, bytes));
    const m = (await loadModel(path)) as OnnxModel;
    expect(m.capabilities).toMatchObject({ gradients: false, training: false });
    expect(m.classifier.lossGradient).toBeUndefined();
    const x = Float32Array.from([1, 2, 3, 4]);
    expect(Array.from(await m.classifier.predictProba(x, 1))).toHaveLength(4);
    await rejects(
      m.trainLike(
        { x, y: Int32Array.of(0), shape: [1, 4], classes: ['a', 'b', 'c', 'd'], ids: ['r'] },
        { seed: 1 },
      ),
      'INVALID_STATE',
      /uses op Einsum \(node mix\), which Antidote cannot import/,
    );
    m.dispose();
  });
});
