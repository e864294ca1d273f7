import { describe, expect, it } from 'vitest';
import { activationClustering } from '../defenses/activation-clustering.js';
import { type ClassPhaseRequest, classPhasedDetector } from '../defenses/class-phases.js';
import type { DetectionReport } from '../defenses/detector.js';
import { scanDataset } from '../defenses/scan.js';
import { spectralSignatures } from '../defenses/spectral-signatures.js';
import type { Classifier } from '../engine/classifier.js';
import { syntheticReps } from '../testing/synthetic.js';
import { Rng } from '../util/rng.js';
import { redactUrl } from './connection.js';
import { decodeTyped, encodeTyped } from './typed-codec.js';

describe('redactUrl', () => {
  it('hides the password of a queue URL', () => {
    expect(redactUrl('redis://:hunter2@10.0.0.1:6379/2')).toBe('redis://:***@10.0.0.1:6379/2');
    expect(redactUrl('redis://u:p%40ss@h:1')).not.toContain('p%40ss');
    expect(redactUrl('redis://h:1')).toBe('redis://h:1');
  });
});

/** The records of `s`, in a shuffled order (so each class's rows are scattered). */
function shuffled(s: ReturnType<typeof syntheticReps>) {
  const perm = new Rng(3).permutation(s.y.length);
  const data = new Float32Array(s.data.length);
  perm.forEach((from, to) => {
    data.set(s.data.subarray(from * s.dim, (from + 1) * s.dim), to * s.dim);
  });
  return {
    reps: { data, dim: s.dim },
    y: Int32Array.from(perm, (i) => s.y[i]!),
    classes: s.classes,
  };
}

/**
 * Each class's per-class phase as a worker runs it: on that class's rows alone (copied out, rows
 * 0..m-1), its statistics sent through the typed codec.
 */
function workerStats(
  input: ReturnType<typeof shuffled>,
  method: string,
  options: Record<string, unknown>,
): unknown[] {
  const d = classPhasedDetector(method)!;
  return input.classes.map((_, c) => {
    const indices = Int32Array.from(Array.from(input.y.keys()).filter((i) => input.y[i] === c));
    const data = new Float32Array(indices.length * input.reps.dim);
    indices.forEach((i, r) => {
      data.set(
        input.reps.data.subarray(i * input.reps.dim, (i + 1) * input.reps.dim),
        r * input.reps.dim,
      );
    });
    const rows = Int32Array.from({ length: indices.length }, (_, r) => r);
    const stats = d.perClass({ data, dim: input.reps.dim }, rows, indices, c, options);
    return (decodeTyped(encodeTyped({ stats })) as { stats: unknown }).stats ?? undefined;
  });
}

/** A report as bytes: scores' bits, flags and every class finding. */
function reportBytes(r: DetectionReport): string {
  return JSON.stringify({
    scores: Array.from(new Uint8Array(r.scores.buffer, r.scores.byteOffset, r.scores.byteLength)),
    flagged: Array.from(r.flagged),
    perClass: r.perClass,
    params: r.params,
  });
}

describe('the per-class and cross-class phases of the default detectors', () => {
  // Class 0 holds a planted cluster; a tiny class 4 (3 records) and an empty class 5 too.
  const s = syntheticReps({ classes: 4, perClass: 150, dim: 12, poison: 24, seed: 5 });
  const base = shuffled(s);
  const extra = 3;
  const input = {
    reps: {
      data: Float32Array.from([
        ...base.reps.data,
        ...new Float32Array(extra * 12).map((_, i) => i % 7),
      ]),
      dim: 12,
    },
    y: Int32Array.from([...base.y, ...Array.from({ length: extra }, () => 4)]),
    classes: [...base.classes, 'tiny', 'empty'],
  };

  const acCases: Record<string, unknown>[] = [
    {},
    { reduce: 'whitened' },
    { reduce: 'pca' },
    { reduce: 'ica' },
    { analysis: 'distance' },
    { analysis: 'separated', reduce: 'pca' },
  ];
  it.each(acCases)(
    'activation clustering %o: workers’ classes + cross-class = one shot',
    async (extraOptions) => {
      const options = { seed: 7, ...extraOptions };
      const oneShot = await activationClustering(input, options);
      const stats = workerStats(input, 'ac', options);
      const phased = await classPhasedDetector('ac')!.amongClasses(input, stats, options);
      expect(reportBytes(phased)).toBe(reportBytes(oneShot));
      // The default went through both spaces (four classes of 150 records: a real re-split null).
      if (Object.keys(extraOptions).length === 0)
        expect(oneShot.params.reduce).toBe('whitened+pca');
      // Not a vacuous equality: the planted cluster is found (the distance analysis grades only).
      if (extraOptions.analysis === 'distance')
        expect(oneShot.scores.some((v) => v > 0)).toBe(true);
      else expect(oneShot.perClass[0]!.flagged).toBeGreaterThan(0);
    },
  );

  it('spectral signatures: workers’ classes + cross-class = one shot', async () => {
    const options = { seed: 7 };
    const oneShot = spectralSignatures(input, options);
    const stats = workerStats(input, 'ss', options);
    expect(stats[5]).toBeUndefined();
    const phased = await classPhasedDetector('ss')!.amongClasses(input, stats, options);
    expect(reportBytes(phased)).toBe(reportBytes(oneShot));
    expect(oneShot.perClass[0]!.flagged).toBeGreaterThan(0);
  });

  it('scanDataset with its per-class phase run elsewhere gives the in-process scan', async () => {
    const n = base.y.length;
    const ds = {
      x: base.reps.data,
      shape: [n, base.reps.dim],
      y: base.y,
      classes: base.classes,
      ids: Array.from({ length: n }, (_, i) => `r${i}`),
    };
    // Activations of every layer: the records themselves.
    const model: Classifier = {
      inputShape: [base.reps.dim],
      numClasses: base.classes.length,
      layerNames: ['features', 'out'],
      predictProba: async (_x, m) => new Float32Array(m * base.classes.length),
      predict: async (_x, m) => new Int32Array(m),
      activations: async (x, m) => ({ data: x.slice(0, m * base.reps.dim), dim: base.reps.dim }),
    };
    const local = await scanDataset(ds, model, { seed: 2 });
    let asked: readonly ClassPhaseRequest[] = [];
    const remote = await scanDataset(ds, model, {
      seed: 2,
      classPhases: async (requests) => {
        asked = requests;
        return requests.map((r) => workerStats(base, r.method, { ...r.options }));
      },
    });
    expect(asked.map((r) => r.method)).toEqual(['ac', 'ss']);
    expect(asked[0]!.options).toEqual({ seed: 2, reduce: 'whitened+pca' });
    expect(remote.reports.map(reportBytes)).toEqual(local.reports.map(reportBytes));
    expect(Array.from(remote.flagged)).toEqual(Array.from(local.flagged));
    expect(remote.verdict).toEqual(local.verdict);
  });
});
