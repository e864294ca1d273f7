import { z } from 'zod';
import { type Dataset, numRecords, selectRecords } from '../data/dataset.js';
import { Rng } from '../data/rng.js';
import type { Classifier } from '../engine/classifier.js';
import { AntidoteError } from '../errors.js';
import {
  type ClassFinding,
  type DetectionReport,
  type FindingValue,
  fmt,
  indicesByClass,
  type PoisonDetector,
} from './detector.js';
import { commonDetectorOptions, defineDetector } from './detector-entry.js';
import { fastIca } from './fast-ica.js';
import { kMeans, silhouette } from './kmeans.js';
import { principalComponents, projectRows } from './linalg.js';
import {
  checkRepresentations,
  computeRepresentations,
  type RepresentationOptions,
  type Representations,
} from './representations.js';
import { robustWhiten } from './spectre.js';

/**
 * Activation clustering (Chen et al. 2018, "Detecting Backdoor Attacks on Deep Neural Networks by
 * Activation Clustering", arXiv:1811.03728).
 *
 * Per given label: the records' representations (default the penultimate layer) are reduced to
 * 10 dimensions by PCA, split in two by k-means (k-means++, seeded restarts), and the two clusters
 * are analysed. Poison that carries a trigger forms its own, small, well-separated cluster inside
 * the target class; a clean class splits too (k-means always splits), but into two halves of one
 * blob. Deciding *which* classes hold poison is the hard part, so the analyses are:
 *
 * - `separated` (default): flag the smaller cluster only when it is small (relative size ≤
 *   `maxRelativeSize`), the split is clean (silhouette ≥ `minSilhouette`) and the two clusters are
 *   far apart along the line joining their centres (Ashman's D ≥ `minSeparation`; a k-means split
 *   of a single Gaussian gives D ≈ 2.6). Clean classes are left alone, and each finding says which
 *   test failed.
 * - `smaller`: always the smaller cluster (the reference toolkit's default; flags half of every
 *   clean class, kept for comparison only).
 * - `relative-size`: the smaller cluster when its relative size ≤ `maxRelativeSize`.
 * - `silhouette`: the smaller cluster when the silhouette ≥ `minSilhouette`.
 * - `distance`: a cluster whose centre (in representation space) lies nearer to another class's
 *   mean than to its own class's mean.
 * - `exclusionary`: exclusionary reclassification: retrain without the candidate (smaller)
 *   clusters via the `retrain` callback, classify the removed records, and flag a cluster when
 *   fewer than `exclusionaryThreshold` of its records go back to their given label (poison goes to
 *   its source class). One retrain covers all classes (the paper retrains per cluster; removing
 *   every candidate at once costs one training and keeps each cluster excluded from its own model).
 *
 * The reduction before k-means is `whitened` (default: robust whitening, then PCA), `pca` (Chen et
 * al.'s PCA) or `ica` (Chen et al.'s alternative and the reference toolkit's default: PCA to 10
 * dimensions, then FastICA, Hyvärinen & Oja 2000, see `fast-ica.ts`).
 */

/** The cluster analyses of {@link ActivationClusteringOptions.analysis}. */
export const AC_ANALYSES = [
  'separated',
  'smaller',
  'relative-size',
  'silhouette',
  'distance',
  'exclusionary',
] as const;
/** One of {@link AC_ANALYSES}. */
export type AcAnalysis = (typeof AC_ANALYSES)[number];

/** Options of activation clustering. */
export interface ActivationClusteringOptions extends RepresentationOptions {
  /** Seed for k-means++ and sampling. Default 0. */
  readonly seed?: number;
  /**
   * The space each class is clustered in. `whitened` (default): the class's representations are
   * reduced to `whitenDims` PCA dimensions and whitened with a robust (MCD-style) covariance
   * estimate, as in SPECTRE (Hayase et al. 2021), before the 10-dimensional PCA and k-means; the
   * poison's direction then stands out even when it carries little raw variance. `pca`: Chen et
   * al.'s plain PCA of the raw representations. `ica`: PCA to `reducedDims`, then FastICA
   * (whitened, rotated to maximally non-Gaussian components; seeded).
   */
  readonly reduce?: 'whitened' | 'pca' | 'ica';
  /** PCA dimensions before whitening (`reduce: 'whitened'`). Default 32. */
  readonly whitenDims?: number;
  /** Dimensions kept by PCA before clustering. Default 10 (Chen et al.). */
  readonly reducedDims?: number;
  /** k-means restarts. Default 5. */
  readonly restarts?: number;
  /** How a cluster is judged poisonous. Default `separated`. */
  readonly analysis?: AcAnalysis;
  /** Largest relative size (smaller cluster / class) still judged poison. Default 0.35. */
  readonly maxRelativeSize?: number;
  /** Smallest silhouette of the 2-split judged separated. Default 0.25. */
  readonly minSilhouette?: number;
  /**
   * Smallest Ashman's D between the clusters judged separated. Default 5 in the whitened space,
   * 4 with plain PCA or ICA (a k-means split of one Gaussian gives D ≈ 2.6).
   */
  readonly minSeparation?: number;
  /**
   * `separated` analysis: after flagging a cluster, split the rest again, up to this many rounds
   * in all (poison from several source classes may form several clusters). Default 3.
   */
  readonly maxRounds?: number;
  /** Exclusionary analysis: a cluster is poison when this share or less returns to its label. Default 0.5. */
  readonly exclusionaryThreshold?: number;
  /** Exclusionary analysis: trains a model on a dataset (the engine stays outside this module). */
  readonly retrain?: (ds: Dataset) => Promise<Classifier>;
}

/** Two-means split of one class, with the measurements every analysis uses. */
export interface ClassSplit {
  /** Records of the class (dataset indices). */
  readonly indices: Int32Array;
  /** Cluster (0 or 1) of each of `indices`. */
  readonly assignments: Int32Array;
  /** Records per cluster. */
  readonly sizes: [number, number];
  /** Index (0/1) of the smaller cluster. */
  readonly smaller: 0 | 1;
  /** Size of the smaller cluster over the class size. */
  readonly relativeSize: number;
  /** Silhouette of the split in the reduced space. */
  readonly silhouette: number;
  /** Ashman's D along the line joining the two centres (reduced space). */
  readonly separation: number;
  /** Per record: 1 = nearest the smaller cluster's centre, −1 = nearest the larger's. */
  readonly membership: Float64Array;
}

/** Means of the two clusters of `assignments` in the `[n, k]` space `z`, `[2, k]`. */
function clusterMeans(
  z: Float64Array,
  n: number,
  k: number,
  km: { assignments: Int32Array; sizes: ArrayLike<number> },
): Float64Array {
  const c = new Float64Array(2 * k);
  for (let i = 0; i < n; i++) {
    const a = km.assignments[i];
    for (let j = 0; j < k; j++) c[a * k + j] += z[i * k + j];
  }
  for (let a = 0; a < 2; a++) for (let j = 0; j < k; j++) c[a * k + j] /= Math.max(km.sizes[a], 1);
  return c;
}

/**
 * Splits the records `idx` of `reps` into two clusters after PCA to `reducedDims` and measures
 * the split. Throws `INVALID_ARGUMENT` for fewer than 2 records.
 */
export function splitClass(
  reps: Representations,
  idx: Int32Array,
  rng: Rng,
  options: { reducedDims?: number; restarts?: number; ica?: boolean } = {},
): ClassSplit {
  const n = idx.length;
  if (n < 2) {
    throw new AntidoteError('INVALID_ARGUMENT', `cannot split ${n} record(s) into 2 clusters`);
  }
  const k = Math.max(1, Math.min(options.reducedDims ?? 10, reps.dim));
  const pcs = principalComponents(reps.data, reps.dim, idx, k, rng);
  // The split is found in the clustering space (PCA, or its FastICA rotation); it is measured
  // (silhouette, separation, membership) in the PCA space either way, so the thresholds mean
  // the same whatever the clustering space (whitened ICA components all have unit variance,
  // which lowers silhouettes).
  const z = projectRows(reps.data, reps.dim, idx, pcs.mean, pcs.vectors, k);
  const space = options.ica && n > k + 1 ? fastIca(z, n, k, rng.fork('ica')).sources : z;
  const clustered = kMeans(space, n, k, 2, rng, { restarts: options.restarts ?? 5 });
  const km =
    space === z ? clustered : { ...clustered, centroids: clusterMeans(z, n, k, clustered) };
  const sizes: [number, number] = [km.sizes[0], km.sizes[1]];
  const smaller: 0 | 1 = sizes[1] < sizes[0] ? 1 : 0;
  const sil =
    sizes[0] > 0 && sizes[1] > 0 ? silhouette(z, n, k, km.assignments, 2, rng).overall : 0;
  // Ashman's D on the projection onto the unit vector joining the centres.
  const axis = new Float64Array(k);
  let norm = 0;
  for (let j = 0; j < k; j++) {
    axis[j] = km.centroids[k + j] - km.centroids[j];
    norm += axis[j] * axis[j];
  }
  norm = Math.sqrt(norm);
  const mean = [0, 0];
  const sq = [0, 0];
  const membership = new Float64Array(n);
  const other = (smaller ^ 1) as 0 | 1;
  for (let i = 0; i < n; i++) {
    let p = 0;
    let ds = 0;
    let dl = 0;
    for (let j = 0; j < k; j++) {
      const v = z[i * k + j];
      if (norm > 0) p += (v * axis[j]) / norm;
      const a = v - km.centroids[smaller * k + j];
      const b = v - km.centroids[other * k + j];
      ds += a * a;
      dl += b * b;
    }
    const c = km.assignments[i];
    mean[c] += p;
    sq[c] += p * p;
    membership[i] = ds + dl > 0 ? (dl - ds) / (dl + ds) : 0;
  }
  const variance = [0, 0];
  for (let c = 0; c < 2; c++) {
    if (sizes[c] > 0) {
      mean[c] /= sizes[c];
      variance[c] = Math.max(sq[c] / sizes[c] - mean[c] * mean[c], 0);
    }
  }
  const pooled = Math.sqrt((variance[0] + variance[1]) / 2);
  const gap = Math.abs(mean[1] - mean[0]);
  const separation = pooled > 0 ? gap / pooled : gap > 0 ? Number.POSITIVE_INFINITY : 0;
  return {
    indices: idx,
    assignments: km.assignments,
    sizes,
    smaller,
    relativeSize: Math.min(sizes[0], sizes[1]) / n,
    silhouette: sil,
    separation,
    membership,
  };
}

/** Input of {@link activationClustering}: representations plus the given labels. */
export interface ActivationClusteringInput {
  /** Representations of every record, `[n, dim]`. */
  readonly reps: Representations;
  /** Given labels, one per record. */
  readonly y: Int32Array;
  /** Class names. */
  readonly classes: readonly string[];
  /** The dataset itself: needed by the `exclusionary` analysis (records are retrained on). */
  readonly ds?: Dataset;
}

/**
 * Activation clustering on precomputed representations (see the module comment for the
 * analyses). Per-record score: the record's pull towards the smaller cluster of its class,
 * `(membership + 1) / 2`, times the class's separation factor `D / (D + minSeparation)`; a
 * flagged class ranks its small cluster above everything in unseparated classes.
 */
export async function activationClustering(
  input: ActivationClusteringInput,
  options: ActivationClusteringOptions = {},
): Promise<DetectionReport> {
  const n = input.y.length;
  checkRepresentations(input.reps, n);
  const analysis = options.analysis ?? 'separated';
  if (!AC_ANALYSES.includes(analysis)) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `unknown activation-clustering analysis "${analysis}"; choose one of ${AC_ANALYSES.join(', ')}`,
    );
  }
  const seed = options.seed ?? 0;
  const maxRelativeSize = options.maxRelativeSize ?? 0.35;
  const minSilhouette = options.minSilhouette ?? 0.25;
  const reduce = options.reduce ?? 'whitened';
  if (reduce !== 'whitened' && reduce !== 'pca' && reduce !== 'ica') {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `reduce must be "whitened", "pca" or "ica", got ${reduce}`,
    );
  }
  const whitenDims = options.whitenDims ?? 32;
  const minSeparation = options.minSeparation ?? (reduce === 'whitened' ? 5 : 4);
  const exclusionaryThreshold = options.exclusionaryThreshold ?? 0.5;
  const reducedDims = options.reducedDims ?? 10;
  const restarts = options.restarts ?? 5;
  const maxRounds = options.maxRounds ?? 3;
  for (const [name, v, lo, hi] of [
    ['maxRelativeSize', maxRelativeSize, 0, 1],
    ['minSilhouette', minSilhouette, -1, 1],
    ['minSeparation', minSeparation, 0, Number.POSITIVE_INFINITY],
    ['exclusionaryThreshold', exclusionaryThreshold, 0, 1],
  ] as const) {
    if (!(v >= lo && v <= hi)) {
      throw new AntidoteError('INVALID_ARGUMENT', `${name} must lie in [${lo}, ${hi}], got ${v}`);
    }
  }
  if (!Number.isInteger(reducedDims) || reducedDims < 1) {
    throw new AntidoteError('INVALID_ARGUMENT', `reducedDims must be a positive integer`);
  }
  if (analysis === 'exclusionary' && (!options.retrain || !input.ds)) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      'the exclusionary analysis needs the dataset and a retrain callback',
    );
  }
  const k = input.classes.length;
  const byClass = indicesByClass(input.y, k);
  for (let c = 0; c < k; c++) {
    if (byClass[c].length > 0 && byClass[c].length < 2) {
      throw new AntidoteError(
        'INVALID_ARGUMENT',
        `class "${input.classes[c]}" has ${byClass[c].length} record, fewer than the 2 clusters activation clustering forms`,
        { class: input.classes[c] },
      );
    }
  }
  const root = new Rng(seed);
  // The space each class is clustered in: the representations themselves (PCA inside
  // splitClass), or the class's robustly whitened PCA coordinates (local indices 0..m-1).
  const spaces: { reps: Representations; local: Int32Array }[] = [];
  const splits: (ClassSplit | undefined)[] = [];
  for (let c = 0; c < k; c++) {
    const idx = byClass[c];
    if (idx.length === 0) {
      spaces.push({ reps: input.reps, local: idx });
      splits.push(undefined);
      continue;
    }
    const space =
      reduce === 'whitened' && idx.length >= 8
        ? {
            // C-steps stop once ≤ 1% of the subset changes: whitening for a 2-means split does
            // not need the fully converged estimate, and it halves the time of the detector.
            reps: robustWhiten(input.reps, idx, whitenDims, root.fork(`whiten-${c}`), {
              tolerance: 0.01,
            }),
            local: Int32Array.from({ length: idx.length }, (_, i) => i),
          }
        : { reps: input.reps, local: idx };
    spaces.push(space);
    const split = splitClass(space.reps, space.local, root.fork(`class-${c}`), {
      reducedDims,
      restarts,
      ica: reduce === 'ica',
    });
    splits.push({ ...split, indices: idx });
    options.onProgress?.({ stage: 'clustering', done: c + 1, total: k });
  }

  // Distance analysis: class means and cluster centres in representation space.
  const dim = input.reps.dim;
  const classMeans = new Float64Array(k * dim);
  if (analysis === 'distance') {
    for (let c = 0; c < k; c++) {
      for (const i of byClass[c]) {
        for (let j = 0; j < dim; j++) classMeans[c * dim + j] += input.reps.data[i * dim + j];
      }
      for (let j = 0; j < dim; j++) classMeans[c * dim + j] /= Math.max(byClass[c].length, 1);
    }
  }

  // Exclusionary reclassification: one retrain without every candidate cluster.
  const backTo = new Map<number, { own: number; top: number; topClass: number }>();
  if (analysis === 'exclusionary') {
    const keep: number[] = [];
    const removed: number[] = [];
    const removedClass: number[] = [];
    const candidate = new Uint8Array(n);
    for (let c = 0; c < k; c++) {
      const s = splits[c];
      if (!s) continue;
      for (let r = 0; r < s.indices.length; r++) {
        if (s.assignments[r] === s.smaller) candidate[s.indices[r]] = 1;
      }
    }
    for (let i = 0; i < n; i++) {
      if (candidate[i]) {
        removed.push(i);
        removedClass.push(input.y[i]);
      } else keep.push(i);
    }
    const ds = input.ds!;
    if (numRecords(ds) !== n) {
      throw new AntidoteError(
        'SHAPE_MISMATCH',
        `dataset has ${numRecords(ds)} records, representations ${n}`,
      );
    }
    options.onProgress?.({ stage: 'exclusionary retraining', done: 0, total: 1 });
    const model = await options.retrain!(selectRecords(ds, keep));
    options.onProgress?.({ stage: 'exclusionary retraining', done: 1, total: 1 });
    const sub = selectRecords(ds, removed);
    const pred = removed.length > 0 ? await model.predict(sub.x, removed.length) : new Int32Array();
    const tallies = new Map<number, Int32Array>();
    for (let r = 0; r < removed.length; r++) {
      const c = removedClass[r];
      if (!tallies.has(c)) tallies.set(c, new Int32Array(Math.max(k, model.numClasses)));
      tallies.get(c)![pred[r]]++;
    }
    for (const [c, t] of tallies) {
      let topClass = -1;
      let top = 0;
      for (let j = 0; j < t.length; j++) {
        if (j !== c && t[j] > top) {
          top = t[j];
          topClass = j;
        }
      }
      backTo.set(c, { own: t[c], top, topClass });
    }
  }

  const scores = new Float32Array(n);
  const flagged = new Uint8Array(n);
  const perClass: ClassFinding[] = [];
  for (let c = 0; c < k; c++) {
    const s = splits[c];
    const className = input.classes[c];
    if (!s) {
      perClass.push({
        classIndex: c,
        className,
        count: 0,
        flagged: 0,
        suspicious: false,
        reason: 'no records carry this label',
        stats: {},
      });
      continue;
    }
    const stats: Record<string, FindingValue> = {
      clusterSizes: [s.sizes[0], s.sizes[1]],
      smallerCluster: s.smaller,
      relativeSize: s.relativeSize,
      silhouette: s.silhouette,
      separation: s.separation,
    };
    const small = s.sizes[s.smaller];
    const sizeOk = s.relativeSize <= maxRelativeSize;
    const silOk = s.silhouette >= minSilhouette;
    const sepOk = s.separation >= minSeparation;
    const summary = `clusters ${s.sizes[0]}/${s.sizes[1]} (relative size ${fmt(s.relativeSize)}), silhouette ${fmt(s.silhouette)}, separation D ${fmt(s.separation)}`;
    // poisonCluster: which cluster (0/1) is flagged, or -1.
    let poisonCluster = -1;
    let reason: string;
    switch (analysis) {
      case 'smaller':
        poisonCluster = s.smaller;
        reason = `smaller cluster (${small} records) flagged unconditionally; ${summary}`;
        break;
      case 'relative-size':
        poisonCluster = sizeOk ? s.smaller : -1;
        reason = sizeOk
          ? `smaller cluster is ${fmt(s.relativeSize)} of the class ≤ ${maxRelativeSize}: flagged; ${summary}`
          : `smaller cluster is ${fmt(s.relativeSize)} of the class > ${maxRelativeSize}: left alone; ${summary}`;
        break;
      case 'silhouette':
        poisonCluster = silOk ? s.smaller : -1;
        reason = silOk
          ? `silhouette ${fmt(s.silhouette)} ≥ ${minSilhouette}: smaller cluster flagged; ${summary}`
          : `silhouette ${fmt(s.silhouette)} < ${minSilhouette}: clusters not separated, left alone; ${summary}`;
        break;
      case 'distance': {
        const verdicts: string[] = [];
        for (const cl of [0, 1] as const) {
          const centre = new Float64Array(dim);
          let m = 0;
          for (let r = 0; r < s.indices.length; r++) {
            if (s.assignments[r] !== cl) continue;
            m++;
            const off = s.indices[r] * dim;
            for (let j = 0; j < dim; j++) centre[j] += input.reps.data[off + j];
          }
          for (let j = 0; j < dim; j++) centre[j] /= Math.max(m, 1);
          let nearest = c;
          let best = Number.POSITIVE_INFINITY;
          for (let c2 = 0; c2 < k; c2++) {
            if (byClass[c2].length === 0) continue;
            let d2 = 0;
            for (let j = 0; j < dim; j++) {
              const t = centre[j] - classMeans[c2 * dim + j];
              d2 += t * t;
            }
            if (d2 < best) {
              best = d2;
              nearest = c2;
            }
          }
          if (nearest !== c && m > 0 && poisonCluster < 0) {
            poisonCluster = cl;
            stats.nearestClass = nearest;
            verdicts.push(
              `cluster ${cl} (${m} records) lies nearest to class "${input.classes[nearest]}"`,
            );
          }
        }
        reason =
          poisonCluster >= 0
            ? `${verdicts.join('; ')}: flagged; ${summary}`
            : `both cluster centres lie nearest to their own class mean: left alone; ${summary}`;
        break;
      }
      case 'exclusionary': {
        const t = backTo.get(c) ?? { own: 0, top: 0, topClass: -1 };
        const total = Math.max(small, 1);
        const ownShare = t.own / total;
        stats.returnedToLabel = ownShare;
        stats.mostOtherClass = t.topClass;
        poisonCluster = ownShare <= exclusionaryThreshold && t.topClass >= 0 ? s.smaller : -1;
        const other = t.topClass >= 0 ? `"${input.classes[t.topClass]}"` : 'none';
        reason =
          poisonCluster >= 0
            ? `retrained without it, only ${fmt(ownShare)} of the smaller cluster returns to "${className}" (most go to ${other}): flagged; ${summary}`
            : `retrained without it, ${fmt(ownShare)} of the smaller cluster returns to "${className}": left alone; ${summary}`;
        break;
      }
      default: {
        poisonCluster = sizeOk && silOk && sepOk ? s.smaller : -1;
        const failed: string[] = [];
        if (!sizeOk) failed.push(`relative size ${fmt(s.relativeSize)} > ${maxRelativeSize}`);
        if (!silOk) failed.push(`silhouette ${fmt(s.silhouette)} < ${minSilhouette}`);
        if (!sepOk) failed.push(`separation D ${fmt(s.separation)} < ${minSeparation}`);
        reason =
          poisonCluster >= 0
            ? `a small, separated cluster: relative size ${fmt(s.relativeSize)} ≤ ${maxRelativeSize}, silhouette ${fmt(s.silhouette)} ≥ ${minSilhouette}, separation D ${fmt(s.separation)} ≥ ${minSeparation}; its ${small} records are flagged`
            : `left alone: ${failed.join(', ')} (${summary})`;
      }
    }
    const factor = Number.isFinite(s.separation)
      ? s.separation / (s.separation + Math.max(minSeparation, 1e-9))
      : 1;
    let count = 0;
    for (let r = 0; r < s.indices.length; r++) {
      const i = s.indices[r];
      scores[i] = factor * ((s.membership[r] + 1) / 2);
      if (poisonCluster >= 0 && s.assignments[r] === poisonCluster) {
        flagged[i] = 1;
        count++;
      }
    }
    stats.flaggedCluster = poisonCluster;
    if (analysis === 'separated' && poisonCluster >= 0 && maxRounds > 1) {
      // Peel further separated small clusters off the rest (poison from several source classes
      // can form several clusters), as long as the total stays ≤ maxRelativeSize of the class.
      const perRound = [count];
      const space = spaces[c];
      const keepPos = Array.from(s.indices.keys()).filter(
        (r) => s.assignments[r] !== poisonCluster,
      );
      let rest = Int32Array.from(keepPos, (r) => s.indices[r]);
      let restLocal = Int32Array.from(keepPos, (r) => space.local[r]);
      const rrng = root.fork(`class-${c}-rounds`);
      for (let round = 1; round < maxRounds && rest.length >= 4; round++) {
        const s2 = splitClass(space.reps, restLocal, rrng, {
          reducedDims,
          restarts,
          ica: reduce === 'ica',
        });
        const small2 = s2.sizes[s2.smaller];
        if (
          !(
            (count + small2) / s.indices.length <= maxRelativeSize &&
            s2.silhouette >= minSilhouette &&
            s2.separation >= minSeparation
          )
        ) {
          break;
        }
        const f2 = Number.isFinite(s2.separation)
          ? s2.separation / (s2.separation + Math.max(minSeparation, 1e-9))
          : 1;
        const next: number[] = [];
        const nextLocal: number[] = [];
        for (let r = 0; r < rest.length; r++) {
          const i = rest[r];
          scores[i] = Math.max(scores[i], f2 * ((s2.membership[r] + 1) / 2));
          if (s2.assignments[r] === s2.smaller) {
            flagged[i] = 1;
            count++;
          } else {
            next.push(i);
            nextLocal.push(restLocal[r]);
          }
        }
        perRound.push(small2);
        rest = Int32Array.from(next);
        restLocal = Int32Array.from(nextLocal);
      }
      stats.flaggedPerRound = perRound;
      if (perRound.length > 1) {
        reason += `; ${perRound.length - 1} further separated cluster(s) peeled off the rest (${perRound.join(' + ')} = ${count} records)`;
      }
    }
    perClass.push({
      classIndex: c,
      className,
      count: s.indices.length,
      flagged: count,
      suspicious: poisonCluster >= 0,
      reason,
      stats,
    });
  }
  return {
    method: 'activation-clustering',
    scores,
    flagged,
    perClass,
    params: {
      analysis,
      reduce,
      whitenDims,
      seed,
      reducedDims,
      restarts,
      maxRounds,
      maxRelativeSize,
      minSilhouette,
      minSeparation,
      exclusionaryThreshold,
      layer: options.layer ?? null,
    },
  };
}

/** Activation clustering as a {@link PoisonDetector}: computes representations, then analyses. */
export const activationClusteringDetector: PoisonDetector<ActivationClusteringOptions> = {
  name: 'activation-clustering',
  async detect(ds, model, options = {}) {
    const reps = await computeRepresentations(ds, model, options);
    return activationClustering({ reps, y: ds.y, classes: ds.classes, ds }, options);
  },
};

/** Activation clustering in the detector registry: `antidote scan --method ac`. */
export const activationClusteringEntry = defineDetector({
  name: 'ac',
  title: 'Activation clustering',
  paper:
    'Chen et al. 2018, "Detecting Backdoor Attacks on Deep Neural Networks by Activation Clustering", arXiv:1811.03728',
  finds: 'backdoor',
  domains: ['features', 'text', 'tabular'],
  options: z.object({
    reduce: z.enum(['whitened', 'pca', 'ica']).default('whitened').meta({
      placeholder: '<space>',
      description: 'activation clustering: robust whitening + PCA, plain PCA, or PCA + FastICA',
    }),
  }),
  run: (ds, model, options, context) =>
    activationClusteringDetector.detect(ds, model, {
      ...commonDetectorOptions(context),
      reduce: options.reduce,
    }),
});
