import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Dataset } from '../data/dataset.js';
import { Rng } from '../util/rng.js';
import { initEngine } from './backend.js';
import { TfClassifier, trainClassifier } from './tf-classifier.js';

/** Two classes of noisy 8×8 images: a bright left half vs a bright right half. */
function halves(n: number, seed: number): Dataset {
  const rng = new Rng(seed);
  const x = new Float32Array(n * 64);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    y[i] = i % 2;
    for (let r = 0; r < 8; r++) {
      for (let c = 0; c < 8; c++) {
        const bright = c < 4 === (y[i] === 0);
        x[i * 64 + r * 8 + c] = (bright ? 0.7 : 0.2) + 0.2 * rng.next();
      }
    }
  }
  return {
    x,
    shape: [n, 8, 8, 1],
    y,
    classes: ['left', 'right'],
    ids: Array.from({ length: n }, (_, i) => `r${i}`),
  };
}

async function weightsOf(c: TfClassifier): Promise<Float32Array[]> {
  return c.model.getWeights().map((w) => w.dataSync() as Float32Array);
}

describe.each(['wasm', 'cpu'] as const)('TfClassifier on the %s backend', (backend) => {
  beforeAll(async () => {
    await initEngine({ backend });
  });

  it.each(['logistic', 'mlp', 'cnn'] as const)(
    '%s learns a separable task and is bit-for-bit reproducible',
    async (arch) => {
      const train = halves(128, 1);
      const a = await trainClassifier(train, {
        model: arch,
        seed: 7,
        epochs: 3,
        batchSize: 16,
        learningRate: 0.01,
      });
      const b = await trainClassifier(train, {
        model: arch,
        seed: 7,
        epochs: 3,
        batchSize: 16,
        learningRate: 0.01,
      });
      const c = await trainClassifier(train, {
        model: arch,
        seed: 8,
        epochs: 3,
        batchSize: 16,
        learningRate: 0.01,
      });
      const [wa, wb, wc] = await Promise.all([weightsOf(a), weightsOf(b), weightsOf(c)]);
      expect(wa.length).toBe(wb.length);
      wa.forEach((w, i) => {
        expect(Buffer.from(w.buffer).equals(Buffer.from(wb[i]!.buffer))).toBe(true);
      });
      expect(wa.some((w, i) => !Buffer.from(w.buffer).equals(Buffer.from(wc[i]!.buffer)))).toBe(
        true,
      );
      const test = halves(64, 2);
      const pred = await a.predict(test.x, 64);
      const acc = pred.reduce((s, p, i) => s + (p === test.y[i] ? 1 : 0), 0) / 64;
      expect(acc).toBeGreaterThan(0.95);
      for (const m of [a, b, c]) m.dispose();
    },
  );

  it('data-parallel training (threads: 3) learns, is bit-for-bit reproducible and matches one thread closely', async () => {
    const train = halves(150, 1); // 10 batches of 16, the last of 6: uneven shards included
    const opts = { model: 'cnn', seed: 7, epochs: 2, batchSize: 16, learningRate: 0.01 } as const;
    const a = await trainClassifier(train, { ...opts, threads: 3 });
    const b = await trainClassifier(train, { ...opts, threads: 3 });
    const one = await trainClassifier(train, opts);
    const [wa, wb, w1] = await Promise.all([weightsOf(a), weightsOf(b), weightsOf(one)]);
    wa.forEach((w, i) => {
      expect(Buffer.from(w.buffer).equals(Buffer.from(wb[i]!.buffer))).toBe(true);
      // The same mathematics summed in another order: equal up to float rounding.
      for (let j = 0; j < w.length; j += 7) expect(w[j]).toBeCloseTo(w1[i]![j]!, 3);
    });
    expect(a.lastHistory?.samples).toBe(300);
    const test = halves(64, 2);
    const pred = await a.predict(test.x, 64);
    expect(pred.reduce((s, p, i) => s + (p === test.y[i] ? 1 : 0), 0) / 64).toBeGreaterThan(0.95);
    for (const m of [a, b, one]) m.dispose();
    await expect(trainClassifier(train, { ...opts, threads: 0 })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
  });

  it('inference split over threads agrees with one thread and follows weight updates', async () => {
    const ds = halves(150, 5);
    const m = await trainClassifier(ds, { model: 'cnn', seed: 3, epochs: 1, batchSize: 16 });
    const one = {
      p: await m.predictProba(ds.x, 150),
      a: await m.activations(ds.x, 150, 'conv2'),
      g: await m.lossGradient(ds.x, ds.y),
    };
    m.useThreads(3);
    expect(m.threads).toBe(3);
    const three = {
      p: await m.predictProba(ds.x, 150),
      a: await m.activations(ds.x, 150, 'conv2'),
      g: await m.lossGradient(ds.x, ds.y),
    };
    const close = (u: Float32Array, v: Float32Array) => {
      expect(u.length).toBe(v.length);
      let worst = 0;
      for (let i = 0; i < u.length; i++) worst = Math.max(worst, Math.abs(u[i]! - v[i]!));
      expect(worst).toBeLessThan(1e-5);
    };
    close(one.p, three.p);
    close(one.a.data, three.a.data);
    expect(three.a.dim).toBe(one.a.dim);
    close(one.g, three.g);
    // After more training the replicas pick up the new weights.
    await m.fit(ds, { seed: 4, epochs: 1, batchSize: 16, learningRate: 0.05 });
    const after = await m.predictProba(ds.x, 150);
    m.useThreads(1);
    close(await m.predictProba(ds.x, 150), after);
    expect(after.some((v, i) => Math.abs(v - three.p[i]!) > 1e-3)).toBe(true);
    expect(() => m.useThreads(0)).toThrow(/threads/);
    m.dispose();
  });

  it('predictProba rows are distributions and agree with predict; activations and gradients have the right shapes', async () => {
    const ds = halves(40, 3);
    const m = await trainClassifier(ds, { model: 'cnn', seed: 1, epochs: 1, batchSize: 8 });
    const p = await m.predictProba(ds.x, 40);
    const labels = await m.predict(ds.x, 40);
    for (let i = 0; i < 40; i++) {
      expect(p[2 * i]! + p[2 * i + 1]!).toBeCloseTo(1, 5);
      expect(labels[i]).toBe(p[2 * i + 1]! > p[2 * i]! ? 1 : 0);
    }
    expect(m.layerNames).toEqual(['conv1', 'pool1', 'conv2', 'flatten', 'features', 'logits']);
    const feats = await m.activations(ds.x, 40);
    expect(feats.dim).toBe(128);
    expect(feats.data.length).toBe(40 * 128);
    const conv1 = await m.activations(ds.x, 40, 'conv1');
    expect(conv1.dim).toBe(8 * 8 * 16);
    await expect(m.activations(ds.x, 40, 'nope')).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    const g = await m.lossGradient(ds.x, ds.y);
    expect(g.length).toBe(ds.x.length);
    expect(g.some((v) => v !== 0)).toBe(true);
    m.dispose();
  });

  it('activationsAndProba gives the values of activations and predictProba bit for bit, in ONNX Runtime and TF.js', async () => {
    const ds = halves(70, 6);
    const m = await trainClassifier(ds, { model: 'cnn', seed: 2, epochs: 1, batchSize: 16 });
    const bits = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
    for (const engine of ['onnx', 'tfjs'] as const) {
      m.useInference(engine);
      const p = await m.predictProba(ds.x, 70);
      for (const layer of [undefined, 'flatten', 'conv2']) {
        const a = await m.activations(ds.x, 70, layer);
        const both = await m.activationsAndProba(ds.x, 70, layer);
        expect(both.dim).toBe(a.dim);
        expect(bits(both.data).equals(bits(a.data))).toBe(true);
        expect(bits(both.probabilities).equals(bits(p))).toBe(true);
      }
    }
    expect(await m.inferenceRuntime()).toBe('tfjs');
    m.dispose();
  });

  it('input gradients match finite differences', async () => {
    const ds = halves(4, 4);
    const m = await trainClassifier(ds, { model: 'mlp', seed: 2, epochs: 1, batchSize: 4 });
    const g = await m.lossGradient(ds.x, ds.y);
    const loss = async (x: Float32Array) => {
      const p = await m.predictProba(x, 4);
      let s = 0;
      for (let i = 0; i < 4; i++) s -= Math.log(p[2 * i + ds.y[i]!]!);
      return s;
    };
    const eps = 1e-2;
    for (const j of [0, 5, 70, 200]) {
      const up = ds.x.slice();
      const down = ds.x.slice();
      up[j]! += eps;
      down[j]! -= eps;
      const numeric = ((await loss(up)) - (await loss(down))) / (2 * eps);
      expect(g[j]).toBeCloseTo(numeric, 2);
    }
    m.dispose();
  });

  it('leaks no tensors in fit, predict, activations or gradients', async () => {
    const ds = halves(50, 5);
    const m = await trainClassifier(ds, { model: 'cnn', seed: 3, epochs: 1, batchSize: 16 });
    const before = tf.memory().numTensors;
    await m.fit(ds, {
      seed: 4,
      epochs: 2,
      batchSize: 16,
      validationSplit: 0.2,
      earlyStoppingPatience: 1,
    });
    await m.predictProba(ds.x, 50);
    await m.predict(ds.x, 50);
    await m.activations(ds.x, 50);
    await m.activations(ds.x, 50, 'conv2');
    await m.lossGradient(ds.x, ds.y);
    expect(tf.memory().numTensors).toBe(before);
    m.dispose();
  });

  it('save and load give identical predictions; corrupt files are rejected', async () => {
    const ds = halves(30, 6);
    const m = await trainClassifier(ds, { model: 'mlp', seed: 5, epochs: 1, batchSize: 10 });
    const dir = join(mkdtempSync(join(tmpdir(), 'antidote-model-')), 'model');
    await m.save(dir);
    await expect(m.save(dir)).rejects.toMatchObject({ code: 'ALREADY_EXISTS' });
    const loaded = await TfClassifier.load(dir);
    expect(loaded.classes).toEqual(['left', 'right']);
    expect(loaded.spec).toEqual({ arch: 'mlp', hidden: [256] });
    expect(loaded.metadata.training).toHaveLength(1);
    const p1 = await m.predictProba(ds.x, 30);
    const p2 = await loaded.predictProba(ds.x, 30);
    expect(Buffer.from(p1.buffer).equals(Buffer.from(p2.buffer))).toBe(true);
    loaded.dispose();

    const weights = readFileSync(join(dir, 'weights.bin'));
    writeFileSync(join(dir, 'weights.bin'), weights.subarray(0, weights.length - 4));
    await expect(TfClassifier.load(dir)).rejects.toMatchObject({ code: 'INVALID_FORMAT' });
    writeFileSync(join(dir, 'weights.bin'), weights);
    writeFileSync(join(dir, 'model.json'), '{"format": "layers-model"');
    await expect(TfClassifier.load(dir)).rejects.toMatchObject({ code: 'INVALID_FORMAT' });
    await expect(TfClassifier.load(join(dir, 'missing'))).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
    m.dispose();
  });

  it('rejects data that does not fit the model and bad options', async () => {
    const ds = halves(10, 7);
    await expect(trainClassifier(ds, { model: 'cnn', seed: 1, epochs: 0 })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    await expect(trainClassifier(ds, { model: 'resnet' as 'cnn', seed: 1 })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    const m = await trainClassifier(ds, { model: 'logistic', seed: 1, epochs: 1 });
    const wide: Dataset = { ...ds, x: new Float32Array(10 * 81), shape: [10, 9, 9, 1] };
    await expect(m.fit(wide, { seed: 1 })).rejects.toMatchObject({ code: 'SHAPE_MISMATCH' });
    await expect(m.predict(new Float32Array(10), 1)).rejects.toMatchObject({
      code: 'SHAPE_MISMATCH',
    });
    m.dispose();
  });
});

describe('flat (tabular) inputs', () => {
  it.each(['logistic', 'mlp'] as const)('%s trains on [N, D] records', async (arch) => {
    await initEngine({ backend: 'wasm' });
    const rng = new Rng(11);
    const n = 120;
    const x = Float32Array.from({ length: n * 5 }, () => rng.normal());
    const y = Int32Array.from({ length: n }, (_, i) => (x[i * 5]! + x[i * 5 + 1]! > 0 ? 1 : 0));
    const ds: Dataset = {
      x,
      shape: [n, 5],
      y,
      classes: ['no', 'yes'],
      ids: Array.from({ length: n }, (_, i) => `t${i}`),
    };
    const m = await trainClassifier(ds, {
      model: arch,
      seed: 1,
      epochs: 20,
      batchSize: 16,
      learningRate: 0.02,
    });
    expect(m.layerNames[0]).not.toBe('flatten');
    const pred = await m.predict(x, n);
    expect(pred.reduce((s, p, i) => s + (p === y[i] ? 1 : 0), 0) / n).toBeGreaterThan(0.9);
    m.dispose();
  });
});
