import { describe, expect, it } from 'vitest';
import type { Dataset } from '../data/dataset.js';
import type { Classifier } from '../engine/classifier.js';
import { isAntidoteError } from '../errors.js';
import { evaluateDetection } from '../eval/detection.js';
import { Rng } from '../util/rng.js';
import { confusionTraining } from './confusion-training.js';
import { STRONG_EVIDENCE } from './detector.js';
import { detectorEntry } from './registry.js';
import { scanDataset } from './scan.js';

const K = 10;
const DIM = 12; // 10 class directions, a nuisance feature, the trigger

/**
 * A record of class `c`: its class direction plus Gaussian noise, a nuisance feature, and the
 * trigger feature (1 when triggered, else 0).
 */
function record(rng: Rng, c: number, triggered: boolean): number[] {
  const v = Array.from({ length: DIM }, () => rng.normal(0, 0.6));
  v[c] = v[c]! + 1.5;
  v[DIM - 1] = triggered ? 3 : 0;
  return v;
}

/**
 * A planted-trigger world: `perClass` records per class; `planted` records carry the trigger and
 * the target label 2 (`cleanLabel`: drawn from class 2 itself, else from the other classes).
 */
function world(options: { perClass: number; planted: number; seed: number; cleanLabel?: boolean }) {
  const rng = new Rng(options.seed);
  const rows: number[][] = [];
  const y: number[] = [];
  const poisoned: number[] = [];
  for (let i = 0; i < K * options.perClass; i++) {
    rows.push(record(rng, i % K, false));
    y.push(i % K);
    poisoned.push(0);
  }
  for (let j = 0; j < options.planted; j++) {
    const from = options.cleanLabel ? 2 : [0, 1, 3, 4, 5, 6, 7, 8, 9][j % 9]!;
    rows.push(record(rng, from, true));
    y.push(2);
    poisoned.push(1);
  }
  return { ds: toDataset(rows, y, 'r'), poisoned: Uint8Array.from(poisoned) };
}

function toDataset(rows: number[][], y: number[], prefix: string): Dataset {
  return {
    x: Float32Array.from(rows.flat()),
    shape: [rows.length, DIM],
    y: Int32Array.from(y),
    classes: Array.from({ length: K }, (_, c) => `c${c}`),
    ids: rows.map((_, i) => `${prefix}${i}`),
  };
}

/** A clean trusted subset: `perClass` fresh records per class. */
function trustedSet(perClass: number, seed: number): Dataset {
  const rng = new Rng(seed);
  const rows: number[][] = [];
  const y: number[] = [];
  for (let i = 0; i < K * perClass; i++) {
    rows.push(record(rng, i % K, false));
    y.push(i % K);
  }
  return toDataset(rows, y, 't');
}

/**
 * `trainLike`: softmax regression trained from zero by mini-batch SGD (seeded shuffles), a real
 * learner whose only way to fit relabelled base records is to unlearn the class directions.
 * With `fineTunable`, the classifier also has `fit` (further SGD from its weights), as the zoo's
 * image models do. `log.trained` records the size of every training run, `log.fitted` of every
 * further one.
 */
function softmaxTrainer(log: { trained: number[]; fitted?: number[] }, fineTunable = false) {
  return async (train: Dataset, o: { seed: number; epochs?: number }): Promise<Classifier> => {
    const d = train.shape[1]!;
    const w = new Float64Array((d + 1) * K);
    const p = new Float64Array(K);
    const logits = (x: ArrayLike<number>, off: number, out: Float64Array) => {
      let max = -Infinity;
      for (let c = 0; c < K; c++) {
        let s = w[d * K + c]!;
        for (let j = 0; j < d; j++) s += x[off + j]! * w[j * K + c]!;
        out[c] = s;
        max = Math.max(max, s);
      }
      let z = 0;
      for (let c = 0; c < K; c++) {
        out[c] = Math.exp(out[c]! - max);
        z += out[c]!;
      }
      for (let c = 0; c < K; c++) out[c] = out[c]! / z;
    };
    const sgd = (ds: Dataset, seed: number, epochs: number, lr: number) => {
      const n = ds.y.length;
      const rng = new Rng(seed);
      const grad = new Float64Array(w.length);
      for (let e = 0; e < epochs; e++) {
        const order = rng.permutation(n);
        for (let b = 0; b < n; b += 16) {
          grad.fill(0);
          const m = Math.min(16, n - b);
          for (let t = b; t < b + m; t++) {
            const i = order[t]!;
            logits(ds.x, i * d, p);
            p[ds.y[i]!] = p[ds.y[i]!]! - 1;
            for (let c = 0; c < K; c++) {
              for (let j = 0; j < d; j++) {
                grad[j * K + c] = grad[j * K + c]! + ds.x[i * d + j]! * p[c]!;
              }
              grad[d * K + c] = grad[d * K + c]! + p[c]!;
            }
          }
          for (let q = 0; q < w.length; q++) w[q] = w[q]! - (lr * grad[q]!) / m;
        }
      }
    };
    sgd(train, o.seed, o.epochs ?? 8, 0.2);
    log.trained.push(train.y.length);
    const predictProba = async (x: Float32Array, m: number) => {
      const out = new Float32Array(m * K);
      for (let r = 0; r < m; r++) {
        logits(x, r * d, p);
        for (let c = 0; c < K; c++) out[r * K + c] = p[c]!;
      }
      return out;
    };
    const classifier: Classifier = {
      inputShape: [d],
      numClasses: K,
      layerNames: ['logits'],
      predictProba,
      predict: async (x: Float32Array, m: number) => {
        const q = await predictProba(x, m);
        return Int32Array.from({ length: m }, (_, r) => {
          let best = 0;
          for (let c = 1; c < K; c++) if (q[r * K + c]! > q[r * K + best]!) best = c;
          return best;
        });
      },
      activations: async (x: Float32Array, m: number) => ({ data: x.slice(0, m * d), dim: d }),
    };
    if (!fineTunable) return classifier;
    return Object.assign(classifier, {
      // The learning rate is scaled up from the zoo's Adam scale to this plain SGD's.
      fit: async (ds: Dataset, f: { seed: number; epochs?: number; learningRate?: number }) => {
        sgd(ds, f.seed, 4 * (f.epochs ?? 1), 1000 * (f.learningRate ?? 1e-3));
        log.fitted?.push(ds.y.length);
      },
    });
  };
}

describe('confusion training (Qi et al. 2023)', () => {
  it('finds planted trigger records (dirty- and clean-label) with a trusted base set', async () => {
    for (const [seed, cleanLabel, fineTunable] of [
      [1, false, true],
      [2, true, true],
      [3, false, false],
    ] as const) {
      const w = world({ perClass: 120, planted: 30, seed, cleanLabel });
      const log = { trained: [] as number[], fitted: [] as number[] };
      const report = await confusionTraining(w.ds, {
        trainLike: softmaxTrainer(log, fineTunable),
        base: trustedSet(20, seed + 50),
        distill: [1 / 3],
        seed,
      });
      expect(report.method).toBe('confusion-training');
      const target = report.perClass[2]!;
      expect(target.suspicious).toBe(true);
      expect(target.strength).toBeGreaterThanOrEqual(STRONG_EVIDENCE);
      for (const f of report.perClass) if (f.classIndex !== 2) expect(f.flagged).toBe(0);
      const ev = evaluateDetection(report, { poisoned: w.poisoned, y: w.ds.y });
      expect(ev.f1).toBeGreaterThanOrEqual(0.9);
      // Two rounds, each pretrained on its records then confused with them plus relabelled copies
      // of the 200 base records (λ 2): the 1,230 records + 12 copies, then the lowest-loss third
      // (410) + 4 copies. Without `fit`, the mixture is trained from scratch after the pretraining.
      const mixtures = [1230 + 2400, 410 + 800];
      if (fineTunable) {
        expect(log.trained).toEqual([1230, 410]);
        expect(log.fitted).toEqual(mixtures);
      } else {
        expect(log.trained).toEqual([1230, mixtures[0], 410, mixtures[1]]);
      }
      expect(report.params).toMatchObject({
        rounds: 2,
        baseRecords: 200,
        baseFromData: false,
        fineTuned: fineTunable,
      });
    }
  });

  it('flags nothing on clean data, with or without a trusted base set', async () => {
    for (const seed of [4, 5, 6]) {
      const w = world({ perClass: 120, planted: 0, seed });
      for (const base of [trustedSet(20, seed + 50), undefined]) {
        const report = await confusionTraining(w.ds, {
          trainLike: softmaxTrainer({ trained: [] }, true),
          ...(base ? { base } : {}),
          seed,
        });
        expect(report.flagged.reduce((a, v) => a + v, 0)).toBe(0);
        for (const f of report.perClass) expect(f.strength).toBeLessThan(STRONG_EVIDENCE);
      }
    }
  });

  it('without a trusted subset draws its base set from the data and says so', async () => {
    const w = world({ perClass: 120, planted: 30, seed: 7 });
    const report = await confusionTraining(w.ds, {
      trainLike: softmaxTrainer({ trained: [] }, true),
      baseSize: 20,
      seed: 7,
    });
    expect(report.params).toMatchObject({ baseRecords: 200, baseFromData: true });
    expect(report.perClass[2]!.reason).toMatch(/drawn from the slower-learned half of each class/);
    expect(report.perClass[2]!.suspicious).toBe(true);
    // Weaker than with a trusted base set (base records drawn from the data confuse the trigger
    // too): what it flags is poison, in the poisoned class only, but it misses more of it.
    const ev = evaluateDetection(report, { poisoned: w.poisoned, y: w.ds.y });
    expect(ev.precision).toBe(1);
    expect(ev.recall).toBeGreaterThan(0.2);
    for (const f of report.perClass) if (f.classIndex !== 2) expect(f.flagged).toBe(0);
  });

  it('runs in a scan with --trusted: the trusted records are its base set, not in the result', async () => {
    const w = world({ perClass: 120, planted: 30, seed: 8 });
    const log = { trained: [] as number[], fitted: [] as number[] };
    const trusted = trustedSet(20, 58);
    const scan = await scanDataset(w.ds, await softmaxTrainer({ trained: [] })(w.ds, { seed: 0 }), {
      methods: ['ct'],
      seed: 8,
      trusted,
      context: { trainLike: softmaxTrainer(log, true) },
    });
    const report = scan.reports[0]!;
    expect(report.flagged).toHaveLength(w.ds.y.length);
    expect(report.params).toMatchObject({ baseRecords: 200, baseFromData: false });
    // Pretrained on the 1,230 inspected records (not on the trusted ones too), confused with them
    // and 12 relabelled copies of the 200 trusted ones.
    expect(log).toEqual({ trained: [1230], fitted: [1230 + 2400] });
    const ev = evaluateDetection(report, { poisoned: w.poisoned, y: w.ds.y });
    expect(ev.f1).toBeGreaterThanOrEqual(0.9);
  });

  it('reports "not run" without trainLike, and rejects bad options', async () => {
    const w = world({ perClass: 10, planted: 0, seed: 1 });
    const entry = detectorEntry('ct');
    expect(entry.paper).toMatch(/USENIX Security/);
    const model = await softmaxTrainer({ trained: [] })(w.ds, { seed: 0 });
    const notRun = await entry.run(w.ds, model, { ctConfusion: 1, ctBasePerClass: 5 }, { seed: 0 });
    expect(notRun.params.ran).toBe(false);
    for (const f of notRun.perClass)
      expect(f.reason).toMatch(/^not run: this model cannot be retrained/);
    for (const bad of [{ confusion: 0 }, { distill: [1] }, { baseSize: 0 }, { epochs: 0 }]) {
      let err: unknown;
      try {
        await confusionTraining(w.ds, { trainLike: softmaxTrainer({ trained: [] }), ...bad });
      } catch (e) {
        err = e;
      }
      expect(isAntidoteError(err, 'INVALID_ARGUMENT')).toBe(true);
    }
  });
});
