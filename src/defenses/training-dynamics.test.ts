import { describe, expect, it } from 'vitest';
import type { Dataset } from '../data/dataset.js';
import type { Classifier } from '../engine/classifier.js';
import { isAntidoteError } from '../errors.js';
import { evaluateDetection } from '../eval/detection.js';
import { Rng } from '../util/rng.js';
import { STRONG_EVIDENCE } from './detector.js';
import { detectorEntry } from './registry.js';
import { lowLossIsolation, trainingDynamics } from './training-dynamics.js';

/**
 * A dataset whose single feature is the record index, and a `trainLike` whose "fresh model" gives
 * each record the loss `loss[i]` (p(y|x) = e^−loss): planted records are learned faster.
 */
function lossWorld(options: { classes: number; perClass: number; planted: number; seed: number }) {
  const rng = new Rng(options.seed);
  const k = options.classes;
  const n = k * options.perClass + options.planted;
  const y = new Int32Array(n);
  const loss = new Float64Array(n);
  const poisoned = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const planted = i >= k * options.perClass;
    y[i] = planted ? 2 : i % k;
    // Clean records: log-normal losses around a class-dependent median (some classes are easier).
    loss[i] = planted
      ? Math.exp(rng.normal(Math.log(1e-5), 0.3))
      : Math.exp(rng.normal(Math.log(0.02 * (1 + (y[i]! % 4))), 0.8));
    poisoned[i] = planted ? 1 : 0;
  }
  const ds: Dataset = {
    x: Float32Array.from({ length: n }, (_, i) => i),
    shape: [n, 1],
    y,
    classes: Array.from({ length: k }, (_, c) => `c${c}`),
    ids: Array.from({ length: n }, (_, i) => `r${i}`),
  };
  const log = { trained: 0, disposed: 0, epochs: [] as Array<number | undefined> };
  const trainLike = async (
    train: Dataset,
    o: { seed: number; epochs?: number },
  ): Promise<Classifier> => {
    log.trained++;
    log.epochs.push(o.epochs);
    const kk = train.classes.length;
    const proba = async (x: Float32Array, m: number) => {
      const p = new Float32Array(m * kk);
      for (let r = 0; r < m; r++) {
        const i = x[r]!;
        const py = Math.exp(-loss[i]!);
        for (let c = 0; c < kk; c++) p[r * kk + c] = (1 - py) / (kk - 1);
        p[r * kk + y[i]!] = py;
      }
      return p;
    };
    return Object.assign(
      {
        inputShape: [1],
        numClasses: kk,
        layerNames: ['logits'],
        predictProba: proba,
        predict: async (_x: Float32Array, m: number) => new Int32Array(m),
        activations: async (x: Float32Array, m: number) => ({ data: x.slice(0, m), dim: 1 }),
      },
      { dispose: () => void log.disposed++ },
    );
  };
  return { ds, loss, poisoned, trainLike, log };
}

describe('training dynamics (ABL isolation, Li et al. 2021)', () => {
  it('flags the class whose planted records are learned fast, strongly, and isolates them', async () => {
    for (const seed of [1, 2, 3]) {
      const w = lossWorld({ classes: 10, perClass: 300, planted: 30, seed });
      const report = await trainingDynamics(w.ds, { trainLike: w.trainLike, seed: 7 });
      expect(report.method).toBe('training-dynamics');
      const target = report.perClass[2]!;
      expect(target.suspicious).toBe(true);
      expect(target.strength).toBeGreaterThanOrEqual(STRONG_EVIDENCE);
      expect(target.reason).toMatch(/learned unusually fast/);
      for (const f of report.perClass) if (f.classIndex !== 2) expect(f.flagged).toBe(0);
      const ev = evaluateDetection(report, { poisoned: w.poisoned, y: w.ds.y });
      expect(ev.f1).toBeGreaterThanOrEqual(0.9);
      expect(ev.auc).toBeGreaterThanOrEqual(0.99);
      expect(w.log).toEqual({ trained: 1, disposed: 1, epochs: [1] });
    }
  });

  it('finds no strong class and flags nothing when no record is learned unusually fast', async () => {
    for (const seed of [4, 5, 6]) {
      const w = lossWorld({ classes: 10, perClass: 300, planted: 0, seed });
      const report = await trainingDynamics(w.ds, { trainLike: w.trainLike, epochs: 2 });
      expect(w.log.epochs).toEqual([2]);
      expect(report.flagged.reduce((a, v) => a + v, 0)).toBe(0);
      for (const f of report.perClass) expect(f.strength).toBeLessThan(STRONG_EVIDENCE);
    }
  });

  it('judges the isolated share against the other classes, not the class’s difficulty', () => {
    // Class 0 is far easier than the others (all its losses tiny) but uniformly so.
    const y = Int32Array.from({ length: 400 }, (_, i) => i % 4);
    const rng = new Rng(3);
    const losses = Float64Array.from(y, (c) => Math.exp(rng.normal(c === 0 ? -12 : -3, 0.5)));
    const r = lowLossIsolation(losses, y, ['a', 'b', 'c', 'd']);
    expect(r.flagged.reduce((a, v) => a + v, 0)).toBe(0);
    expect(r.perClass[0]!.strength).toBeLessThan(STRONG_EVIDENCE);
  });

  it('without trainLike the registry entry reports "not run" in every class, ungraded', async () => {
    const w = lossWorld({ classes: 3, perClass: 10, planted: 0, seed: 1 });
    const entry = detectorEntry('abl');
    expect(entry.paper).toMatch(/NeurIPS/);
    const model = await w.trainLike(w.ds, { seed: 0 });
    const notRun = await entry.run(w.ds, model, { ablEpochs: 1 }, { seed: 0 });
    expect(notRun.params.ran).toBe(false);
    expect(notRun.flagged.reduce((a, v) => a + v, 0)).toBe(0);
    for (const f of notRun.perClass) {
      expect(f.reason).toMatch(/^not run: this model cannot be retrained/);
      expect(f.strength).toBeUndefined();
      expect(f.suspicious).toBe(false);
    }
    const report = await entry.run(
      w.ds,
      model,
      { ablEpochs: 3 },
      { seed: 0, trainLike: w.trainLike },
    );
    expect(report.params.epochs).toBe(3);
    expect(report.params.ran).toBe(true);
    expect(w.log.epochs).toEqual([undefined, 3]);
  });

  it('rejects bad options', async () => {
    const w = lossWorld({ classes: 3, perClass: 10, planted: 0, seed: 1 });
    for (const bad of [{ epochs: 0 }, { batchSize: 0 }, { isolationZ: 0 }]) {
      let err: unknown;
      try {
        await trainingDynamics(w.ds, { trainLike: w.trainLike, ...bad });
      } catch (e) {
        err = e;
      }
      expect(isAntidoteError(err, 'INVALID_ARGUMENT')).toBe(true);
    }
  });
});
