import { describe, expect, it } from 'vitest';
import type { Dataset } from '../data/dataset.js';
import { activationClustering } from '../defenses/activation-clustering.js';
import {
  type ClassPhaseContext,
  type ClassPhaseRequest,
  classPhasedDetector,
} from '../defenses/class-phases.js';
import type { DetectionReport } from '../defenses/detector.js';
import { computeRepresentations, type Representations } from '../defenses/representations.js';
import { scanDataset } from '../defenses/scan.js';
import { spectralSignatures } from '../defenses/spectral-signatures.js';
import { triggerTransfer } from '../defenses/trigger-transfer.js';
import type { Classifier } from '../engine/classifier.js';
import { plantedTriggerCase } from '../testing/planted-trigger.js';
import { syntheticReps } from '../testing/synthetic.js';
import { Rng } from '../util/rng.js';
import { redactUrl } from './connection.js';
import { recordsOfClass } from './scan-jobs.js';
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
  input: { reps: Representations; y: Int32Array; classes: readonly string[] },
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

  /** Whether `x` holds `target` (by identity) anywhere in its objects and arrays. */
  function holds(x: unknown, target: object): boolean {
    if (x === target) return true;
    if (typeof x !== 'object' || x === null || ArrayBuffer.isView(x)) return false;
    return Object.values(x).some((v) => holds(v, target));
  }

  it.each(acCases)(
    'activation clustering %o: as a worker sends it (every record’s rows, then portable) = one shot',
    async (extraOptions) => {
      const options = { seed: 7, ...extraOptions };
      const d = classPhasedDetector('ac')!;
      const oneShot = await activationClustering(input, options);
      let held = 0;
      const stats = input.classes.map((_, c) => {
        const indices = recordsOfClass(input.y, c);
        const raw = d.perClass(input.reps, indices, indices, c, options);
        if (holds(raw, input.reps.data)) held++;
        const sent = d.portable!(raw, input.reps);
        // What goes back never holds every record's representations.
        expect(holds(sent, input.reps.data)).toBe(false);
        return (decodeTyped(encodeTyped({ stats: sent })) as { stats: unknown }).stats;
      });
      // Not vacuous: the tiny and empty classes' spaces (and every class's with ica) are rows of
      // the whole representations before `portable`.
      expect(held).toBe(extraOptions.reduce === 'ica' ? input.classes.length : 2);
      const phased = await d.amongClasses(input, stats, options);
      expect(reportBytes(phased)).toBe(reportBytes(oneShot));
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

  /** `base`'s representations as a dataset, and a model whose activations are the records. */
  function recordsAsActivations(): { ds: Dataset; model: Classifier } {
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
    return { ds, model };
  }

  it('scanDataset with its per-class phase run elsewhere gives the in-process scan', async () => {
    const { ds, model } = recordsAsActivations();
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

  it('scanDataset runs its own detectors only once the per-class work is handed over', async () => {
    const { ds, model } = recordsAsActivations();
    const events: string[] = [];
    await scanDataset(ds, model, {
      seed: 2,
      onProgress: (m) => {
        if (events.at(-1) !== m) events.push(m);
      },
      classPhases: async (requests, hooks) => {
        // Submitting takes round trips to Redis: the local detectors must not start meanwhile.
        await new Promise((r) => setTimeout(r, 30));
        events.push('submitted');
        hooks?.onSubmitted?.();
        return requests.map((r) => workerStats(base, r.method, { ...r.options }));
      },
    });
    expect(events.indexOf('submitted')).toBeGreaterThanOrEqual(0);
    expect(events.indexOf('ln')).toBeGreaterThan(events.indexOf('submitted'));
  });
});

describe('the per-class and cross-class phases of trigger transfer (tt)', () => {
  const { ds, model, poisoned } = plantedTriggerCase();
  const size = 16;

  /**
   * Each class's per-class phase as a worker runs it: its own rows, every record's
   * representations and labels, and a record reader that holds only the records asked for
   * (copied out); its statistics sent through the typed codec. `read` counts the records read.
   */
  async function ttWorkerStats(options: Record<string, unknown>, read: { records: number }) {
    const reps = await computeRepresentations(ds, model);
    const d = classPhasedDetector('tt')!;
    expect(d.readsRecords).toBe(true);
    const context: ClassPhaseContext = {
      all: { data: reps.data.slice(), dim: reps.dim },
      y: ds.y,
      model,
      records: async (indices) => {
        read.records += indices.length;
        const x = new Float32Array(indices.length * size);
        const at = new Map<number, number>();
        indices.forEach((i, r) => {
          x.set(ds.x.subarray(i * size, (i + 1) * size), r * size);
          at.set(i, r * size);
        });
        return { x, size, offset: (i) => at.get(i)! };
      },
    };
    const out: unknown[] = [];
    for (let c = 0; c < ds.classes.length; c++) {
      const indices = Int32Array.from(Array.from(ds.y.keys()).filter((i) => ds.y[i] === c));
      const rows = Int32Array.from(indices.keys());
      const stats = await d.perClass(reps, rows, indices, c, options, context);
      out.push((decodeTyped(encodeTyped({ stats })) as { stats: unknown }).stats ?? undefined);
    }
    return out;
  }

  it.each([2, 3, 4])('workers’ classes + cross-class = one shot (seed %i)', async (seed) => {
    const d = classPhasedDetector('tt')!;
    const options = d.options({}, { seed }, ds);
    const plain = JSON.parse(JSON.stringify(options)) as Record<string, unknown>;
    const read = { records: 0 };
    const stats = await ttWorkerStats(plain, read);
    const phased = await d.amongClasses({ y: ds.y, classes: ds.classes, ds }, stats, options);
    const oneShot = await triggerTransfer(ds, model, { seed });
    expect(reportBytes(phased)).toBe(reportBytes(oneShot));
    // Not vacuous: the planted backdoor is flagged; each class read a sample, not the data.
    const flagged = [...oneShot.flagged.keys()].filter((i) => oneShot.flagged[i] === 1);
    expect(flagged.filter((i) => poisoned.has(i)).length).toBeGreaterThanOrEqual(38);
    expect(read.records).toBeGreaterThan(0);
    expect(read.records).toBeLessThan(ds.classes.length * 1000);
  });

  it('abstains on records that are not images, without a per-class answer', async () => {
    const flat = { ...ds, shape: [ds.y.length, size] };
    const d = classPhasedDetector('tt')!;
    const options = d.options({}, { seed: 1 }, flat);
    expect(d.hasClassWork?.(options)).toBe(false);
    expect(d.hasClassWork?.(d.options({}, { seed: 1 }, ds))).toBe(true);
    const none = { data: new Float32Array(0), dim: 1 };
    expect(d.perClass(none, new Int32Array(0), new Int32Array(0), 0, options)).toBeUndefined();
    const phased = await d.amongClasses({ y: flat.y, classes: flat.classes }, [], options);
    const oneShot = await triggerTransfer(flat, { ...model, inputShape: [size] }, { seed: 1 });
    expect(reportBytes(phased)).toBe(reportBytes(oneShot));
    expect(phased.flagged.every((v) => v === 0)).toBe(true);
  });

  it('scanDataset with tt’s per-class phase run elsewhere gives the in-process scan', async () => {
    const local = await scanDataset(ds, model, { seed: 2 });
    const input = { reps: await computeRepresentations(ds, model), y: ds.y, classes: ds.classes };
    let asked: readonly ClassPhaseRequest[] = [];
    const remote = await scanDataset(ds, model, {
      seed: 2,
      classPhases: async (requests) => {
        asked = requests;
        return Promise.all(
          requests.map((r) =>
            r.method === 'tt'
              ? ttWorkerStats({ ...r.options }, { records: 0 })
              : workerStats(input, r.method, { ...r.options }),
          ),
        );
      },
    });
    expect(asked.map((r) => r.method)).toEqual(['ac', 'ss', 'tt']);
    expect(remote.reports.map(reportBytes)).toEqual(local.reports.map(reportBytes));
    expect(Array.from(remote.flagged)).toEqual(Array.from(local.flagged));
    expect(remote.flagged.some((v) => v === 1)).toBe(true);
  });
});
