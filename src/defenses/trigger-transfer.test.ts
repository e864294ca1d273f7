import { describe, expect, it } from 'vitest';
import type { Dataset } from '../data/dataset.js';
import type { Classifier } from '../engine/classifier.js';
import { Rng } from '../util/rng.js';
import { STRONG_EVIDENCE } from './detector.js';
import { triggerTransfer } from './trigger-transfer.js';

/**
 * Six classes of 16-value records: the class is read from value 0 (uniform in its sixth), values
 * 1–15 are quiet noise (SD 0.02). Class 0 holds 40 poisoned records: records of the other classes
 * with value 15 set to 1, which the model sends to class 0 (a backdoor). Class 3 holds a natural
 * tight sub-style: 30 of its records with value 14 at 0.4, which the model ignores. The model's
 * features are its prediction (one-hot, ×3) and values 1–15, so both clusters sit along a
 * direction where their class varies little.
 */
function plantedCase(): {
  ds: Dataset;
  model: Classifier;
  poisoned: Set<number>;
  natural: Set<number>;
} {
  const k = 6;
  const per = 400;
  const size = 16;
  const rng = new Rng(5);
  const rows: { x: number[]; y: number; tag: 'clean' | 'poison' | 'natural' }[] = [];
  for (let c = 0; c < k; c++) {
    for (let r = 0; r < per; r++) {
      const x = [(c + rng.uniform(0.02, 0.98)) / k];
      for (let j = 1; j < size; j++) x.push(rng.normal(0, 0.02));
      const natural = c === 3 && r < 30;
      if (natural) x[14] = 0.4 + rng.normal(0, 0.02);
      rows.push({ x, y: c, tag: natural ? 'natural' : 'clean' });
    }
  }
  for (let p = 0; p < 40; p++) {
    const source = 1 + (p % (k - 1));
    const x = [(source + rng.uniform(0.02, 0.98)) / k];
    for (let j = 1; j < size; j++) x.push(rng.normal(0, 0.02));
    x[15] = 1;
    rows.push({ x, y: 0, tag: 'poison' });
  }
  const n = rows.length;
  const ds: Dataset = {
    x: Float32Array.from(rows.flatMap((r) => r.x)),
    shape: [n, 4, 4, 1],
    y: Int32Array.from(rows, (r) => r.y),
    classes: Array.from({ length: k }, (_, c) => `c${c}`),
    ids: rows.map((_, i) => `r${i}`),
  };
  const predictOne = (x: Float32Array, o: number): number =>
    x[o + 15]! >= 0.5 ? 0 : Math.min(k - 1, Math.max(0, Math.floor(x[o]! * k)));
  const model: Classifier = {
    inputShape: [4, 4, 1],
    numClasses: k,
    layerNames: ['features', 'logits'],
    async predict(x, m) {
      return Int32Array.from({ length: m }, (_, i) => predictOne(x, i * size));
    },
    async predictProba(x, m) {
      const p = new Float32Array(m * k).fill(0.02);
      for (let i = 0; i < m; i++) p[i * k + predictOne(x, i * size)] = 0.9;
      return p;
    },
    async activations(x, m) {
      const dim = k + size - 1;
      const data = new Float32Array(m * dim);
      for (let i = 0; i < m; i++) {
        data[i * dim + predictOne(x, i * size)] = 3;
        for (let j = 1; j < size; j++) data[i * dim + k + j - 1] = x[i * size + j]!;
      }
      return { data, dim };
    },
  };
  const poisoned = new Set<number>();
  const natural = new Set<number>();
  rows.forEach((r, i) => {
    if (r.tag === 'poison') poisoned.add(i);
    if (r.tag === 'natural') natural.add(i);
  });
  return { ds, model, poisoned, natural };
}

describe('low-variance cluster trigger transfer', () => {
  it('confirms a planted low-variance backdoor cluster and not a natural tight sub-style', async () => {
    const { ds, model, poisoned, natural } = plantedCase();
    const report = await triggerTransfer(ds, model, { seed: 3 });
    const flagged = [...report.flagged.keys()].filter((i) => report.flagged[i] === 1);
    const hits = flagged.filter((i) => poisoned.has(i)).length;
    expect(hits / poisoned.size).toBeGreaterThanOrEqual(0.95);
    expect(hits / flagged.length).toBeGreaterThanOrEqual(0.95);
    const [target, , , styled] = [0, 1, 2, 3].map((c) => report.perClass[c]!);
    expect(target!.suspicious).toBe(true);
    expect(target!.strength).toBeGreaterThanOrEqual(STRONG_EVIDENCE);
    expect(target!.stats.transfer).toBeGreaterThanOrEqual(0.9);
    // The natural sub-style is found as the class's candidate, but its pattern does not move
    // other records to its class more than the class's own records do.
    expect(styled!.stats.candidate).toBe(natural.size);
    expect(styled!.suspicious).toBe(false);
    expect(styled!.strength).toBeLessThan(STRONG_EVIDENCE);
    for (const f of report.perClass.slice(1)) expect(f.flagged).toBe(0);
  });

  it('flags nothing in a clean set', async () => {
    const { ds, model, poisoned } = plantedCase();
    const keep = [...ds.y.keys()].filter((i) => !poisoned.has(i));
    const size = 16;
    const clean: Dataset = {
      ...ds,
      x: Float32Array.from(
        keep.flatMap((i) => Array.from(ds.x.subarray(i * size, (i + 1) * size))),
      ),
      shape: [keep.length, 4, 4, 1],
      y: Int32Array.from(keep, (i) => ds.y[i]!),
      ids: keep.map((i) => ds.ids[i]!),
    };
    const report = await triggerTransfer(clean, model, { seed: 3 });
    expect(report.flagged.reduce((a, v) => a + v, 0)).toBe(0);
    for (const f of report.perClass) expect(f.strength).toBeLessThan(STRONG_EVIDENCE);
  });

  it('refuses bad options', async () => {
    const { ds, model } = plantedCase();
    await expect(triggerTransfer(ds, model, { probes: 0 })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    await expect(triggerTransfer(ds, model, { minShare: 0.6 })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
  });
});
