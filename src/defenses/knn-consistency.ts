import { z } from 'zod';
import { AntidoteError } from '../errors.js';
import { principalComponents, projectRows } from '../numeric/pca.js';
import { Rng } from '../util/rng.js';
import { withShareStrength } from './calibration.js';
import { type ClassFinding, type DetectionReport, fmt, type PoisonDetector } from './detector.js';
import { commonDetectorOptions, defineDetector } from './detector-entry.js';
import {
  checkRepresentations,
  computeRepresentations,
  type RepresentationOptions,
  type Representations,
} from './representations.js';

/**
 * k-NN label consistency (Paudice, Muñoz-González & Lupu 2018, "Label Sanitization against Label
 * Flipping Poisoning Attacks", ECML PKDD workshops): a record whose k nearest neighbours (in
 * representation space) mostly carry another label is probably flipped. A record is flagged when
 * the most common label among its neighbours differs from its own and holds at least a share η
 * of them; that label is suggested as the relabelling. Score = share of neighbours that disagree
 * with the record's label.
 *
 * Search: exact brute force after PCA to `dims` (default 16) dimensions, against a seeded sample
 * of at most `maxReference` records (default 10,000; all records when fewer): O(n·m·dims) time,
 * a few seconds for MNIST, with no index structure to get wrong.
 */
export interface KnnConsistencyOptions extends RepresentationOptions {
  /** Neighbours consulted. Default 10. */
  readonly k?: number;
  /** Share of neighbours the majority label needs for a flag (η). Default 0.6. */
  readonly eta?: number;
  /** PCA dimensions before the search (0 = none). Default 16. */
  readonly dims?: number;
  /** Records neighbours are searched among. Default 10,000. */
  readonly maxReference?: number;
  /** Seed of the reference sample and PCA. Default 0. */
  readonly seed?: number;
}

/** k-NN label consistency on precomputed representations; see {@link KnnConsistencyOptions}. */
export function knnConsistency(
  input: { reps: Representations; y: Int32Array; classes: readonly string[] },
  options: KnnConsistencyOptions = {},
): DetectionReport {
  const n = input.y.length;
  checkRepresentations(input.reps, n);
  const kk = options.k ?? 10;
  const eta = options.eta ?? 0.6;
  const maxReference = options.maxReference ?? 10_000;
  const seed = options.seed ?? 0;
  if (!Number.isInteger(kk) || kk < 1) {
    throw new AntidoteError('INVALID_ARGUMENT', `k must be a positive integer, got ${kk}`);
  }
  if (!(eta > 0 && eta <= 1)) {
    throw new AntidoteError('INVALID_ARGUMENT', `eta must lie in (0, 1], got ${eta}`);
  }
  if (n <= kk) {
    throw new AntidoteError('INVALID_ARGUMENT', `${n} records are too few for ${kk} neighbours`);
  }
  const rng = new Rng(seed);
  const { reps } = input;
  const all = Int32Array.from({ length: n }, (_, i) => i);
  let pts: Float64Array;
  let d: number;
  const dims = options.dims ?? 16;
  if (dims > 0 && dims < reps.dim) {
    const pcs = principalComponents(reps.data, reps.dim, all, dims, rng.fork('pca'));
    pts = projectRows(reps.data, reps.dim, all, pcs.mean, pcs.vectors, dims);
    d = dims;
  } else {
    pts = Float64Array.from(reps.data);
    d = reps.dim;
  }
  const refIdx = n > maxReference ? rng.fork('reference').sample(n, maxReference).sort() : all;
  const m = refIdx.length;
  const ref = new Float64Array(m * d);
  const refNorm = new Float64Array(m);
  for (let r = 0; r < m; r++) {
    let s = 0;
    for (let j = 0; j < d; j++) {
      const v = pts[refIdx[r]! * d + j]!;
      ref[r * d + j] = v;
      s += v * v;
    }
    refNorm[r] = s;
  }
  const k = input.classes.length;
  const scores = new Float32Array(n);
  const flagged = new Uint8Array(n);
  const suggested = new Int32Array(n).fill(-1);
  const bestD = new Float64Array(kk);
  const bestL = new Int32Array(kk);
  const votes = new Int32Array(k);
  for (let i = 0; i < n; i++) {
    bestD.fill(Number.POSITIVE_INFINITY);
    let qn = 0;
    for (let j = 0; j < d; j++) qn += pts[i * d + j]! * pts[i * d + j]!;
    const qo = i * d;
    for (let r = 0; r < m; r++) {
      if (refIdx[r] === i) continue; // a record is not its own neighbour
      let dot = 0;
      const ro = r * d;
      for (let j = 0; j < d; j++) dot += pts[qo + j]! * ref[ro + j]!;
      const dist = qn + refNorm[r]! - 2 * dot;
      if (dist >= bestD[kk - 1]!) continue;
      let p = kk - 1;
      while (p > 0 && bestD[p - 1]! > dist) {
        bestD[p] = bestD[p - 1]!;
        bestL[p] = bestL[p - 1]!;
        p--;
      }
      bestD[p] = dist;
      bestL[p] = input.y[refIdx[r]!]!;
    }
    votes.fill(0);
    for (let t = 0; t < kk; t++) votes[bestL[t]!]!++;
    let top = 0;
    for (let c = 1; c < k; c++) if (votes[c]! > votes[top]!) top = c;
    scores[i] = 1 - votes[input.y[i]!]! / kk;
    if (top !== input.y[i] && votes[top]! / kk >= eta) {
      flagged[i] = 1;
      suggested[i] = top;
    }
  }
  const perClass: ClassFinding[] = [];
  for (let c = 0; c < k; c++) {
    let count = 0;
    let f = 0;
    let disagreement = 0;
    for (let i = 0; i < n; i++) {
      if (input.y[i] !== c) continue;
      count++;
      f += flagged[i]!;
      disagreement += scores[i]!;
    }
    perClass.push({
      classIndex: c,
      className: input.classes[c]!,
      count,
      flagged: f,
      suspicious: f > 0,
      reason:
        f > 0
          ? `${f} of ${count} records have ≥ ${eta} of their ${kk} nearest neighbours in one other class`
          : `every record agrees with its ${kk} nearest neighbours' majority (threshold ${eta})`,
      stats: { meanDisagreement: count > 0 ? disagreement / count : 0, k: kk, eta },
    });
  }
  return {
    method: 'knn-consistency',
    scores,
    flagged,
    perClass: withShareStrength(perClass),
    params: {
      k: kk,
      eta,
      dims,
      maxReference,
      seed,
      referenceRecords: m,
      layer: options.layer ?? null,
      summary: `${fmt(flagged.reduce((a, b) => a + b, 0))} records flagged`,
    },
    suggestedLabels: suggested,
  };
}

/** k-NN label consistency as a {@link PoisonDetector}. */
export const knnConsistencyDetector: PoisonDetector<KnnConsistencyOptions> = {
  name: 'knn-consistency',
  async detect(ds, model, options = {}) {
    const reps = await computeRepresentations(ds, model, options);
    return knnConsistency({ reps, y: ds.y, classes: ds.classes }, options);
  },
};

/** k-NN label consistency in the detector registry: `antidote scan --method knn`. */
export const knnConsistencyEntry = defineDetector({
  name: 'knn',
  title: 'k-NN label consistency',
  paper:
    'Paudice, Muñoz-González & Lupu 2018, "Label Sanitization against Label Flipping Poisoning Attacks", ECML PKDD workshops',
  finds: 'label-noise',
  domains: ['features', 'text', 'tabular'],
  options: z.object({}),
  run: (ds, model, _options, context) =>
    knnConsistencyDetector.detect(ds, model, commonDetectorOptions(context)),
});
