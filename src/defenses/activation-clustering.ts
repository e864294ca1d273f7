import { z } from 'zod';
import { type Dataset, numRecords, selectRecords } from '../data/dataset.js';
import type { Classifier } from '../engine/classifier.js';
import { AntidoteError } from '../errors.js';
import { fastIca } from '../numeric/fast-ica.js';
import { kMeans, silhouette } from '../numeric/kmeans.js';
import { median } from '../numeric/order-statistics.js';
import { principalComponents, projectRows } from '../numeric/pca.js';
import { Rng } from '../util/rng.js';
import {
  modifiedZ,
  type RobustNull,
  robustNull,
  roundStrength,
  strongCutoff,
} from './calibration.js';
import {
  type ClassFinding,
  type DetectionReport,
  type FindingValue,
  fmt,
  indicesByClass,
  type PoisonDetector,
  STRONG_EVIDENCE,
} from './detector.js';
import { commonDetectorOptions, type DetectorContext, defineDetector } from './detector-entry.js';
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
 * - `calibrated` (default, issue 16): the separation of each class's split (Ashman's D along the
 *   line joining the two centres) is judged against the data's own null instead of a fixed
 *   constant: every class's larger cluster (the clean-looking part) is split again in the same
 *   space, and those splits' separations form a bootstrap null of "a split of clean records" of
 *   this model and dataset; the first splits of the classes form a second null, "among the
 *   classes". A class is strong (and its smaller cluster flagged, when small: relative size ≤
 *   `maxRelativeSize`) when its separation's modified z-score against either null is at least
 *   `STRONG_EVIDENCE` (see `calibration.ts`). The re-split null comes from inside the classes,
 *   so it holds when every class is poisoned (all-to-all); the among-classes null holds where a
 *   class's clean part is itself multimodal (which raises its re-split).
 * - `separated`: the fixed rule of earlier versions: flag the smaller cluster only when it is
 *   small (relative size ≤ `maxRelativeSize`), the split is clean (silhouette ≥
 *   `minSilhouette`) and the two clusters are far apart (Ashman's D ≥ `minSeparation`; a k-means
 *   split of a single Gaussian gives D ≈ 2.6). Each finding says which test failed.
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
 * The reduction before k-means is `whitened+pca` (default: both of the next two, see below),
 * `whitened` (robust whitening, then PCA), `pca` (Chen et al.'s PCA) or `ica` (Chen et al.'s
 * alternative and the reference toolkit's default: PCA to 10 dimensions, then FastICA, Hyvärinen
 * & Oja 2000, see `fast-ica.ts`).
 *
 * Why both spaces (issue 16, measured on the detection matrix, cnn penultimate layer): neither
 * space alone separates every poison. Robust whitening brings out poison that carries little raw
 * variance (MNIST checkerboard all-to-all: classes "1" and "3" split at D 6.7 and 4.9 whitened,
 * not at all with PCA), but it also turns the smooth heavy tail of every clean class into a
 * separated-looking halo (every Fashion-MNIST class splits off 3–25% at D 2.8–4.0, silhouette
 * 0.55–0.85), so a poison cluster that plain PCA separates clearly reads as one more halo there:
 * Fashion-MNIST pattern 10% (D 3.58 whitened against 2.8–4.0; D 6.97 with PCA against 2.7–4.0)
 * and MNIST single pixel 33% of the class (D 3.69 whitened, below the clean "7"'s 4.53; D 7.60 with
 * PCA against 2.8–3.9). With `whitened+pca` each class is split in both spaces, each space judged
 * against its own null, and the class keeps the split of the stronger finding.
 */

/** The cluster analyses of {@link ActivationClusteringOptions.analysis}. */
export const AC_ANALYSES = [
  'calibrated',
  'separated',
  'smaller',
  'relative-size',
  'silhouette',
  'distance',
  'exclusionary',
] as const;
/** One of {@link AC_ANALYSES}. */
export type AcAnalysis = (typeof AC_ANALYSES)[number];

/** The spaces a class can be clustered in (see {@link ActivationClusteringOptions.reduce}). */
export const AC_REDUCTIONS = ['whitened+pca', 'whitened', 'pca', 'ica'] as const;
/** One of {@link AC_REDUCTIONS}. */
export type AcReduce = (typeof AC_REDUCTIONS)[number];

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
   * (whitened, rotated to maximally non-Gaussian components; seeded). `whitened+pca` (default):
   * both `whitened` and `pca`, each judged against its own null; each class keeps the split
   * whose finding is stronger (see the module comment). With fewer than three classes of at
   * least 16 records (no real re-split null), the whitened space alone.
   */
  readonly reduce?: AcReduce;
  /**
   * PCA dimensions before whitening (`reduce: 'whitened'`), and the subspace the `pca` space's
   * splits work in (its top `reducedDims` components are the same). Default 32.
   */
  readonly whitenDims?: number;
  /** Dimensions kept by PCA before clustering. Default 10 (Chen et al.). */
  readonly reducedDims?: number;
  /** k-means restarts. Default 5. */
  readonly restarts?: number;
  /** How a cluster is judged poisonous. Default `calibrated`. */
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
  /**
   * `calibrated` analysis: the least spread of the separation null, as a share of its median.
   * Default 0.1 (see the module comment).
   */
  readonly nullSpreadFloor?: number;
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
    for (let j = 0; j < k; j++) c[a! * k + j]! += z[i * k + j]!;
  }
  for (let a = 0; a < 2; a++)
    for (let j = 0; j < k; j++) c[a * k + j]! /= Math.max(km.sizes[a]!, 1);
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
  const sizes: [number, number] = [km.sizes[0]!, km.sizes[1]!];
  const smaller: 0 | 1 = sizes[1] < sizes[0] ? 1 : 0;
  const sil =
    sizes[0] > 0 && sizes[1] > 0 ? silhouette(z, n, k, km.assignments, 2, rng).overall : 0;
  // Ashman's D on the projection onto the unit vector joining the centres.
  const axis = new Float64Array(k);
  let norm = 0;
  for (let j = 0; j < k; j++) {
    axis[j] = km.centroids[k + j]! - km.centroids[j]!;
    norm += axis[j]! * axis[j]!;
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
      if (norm > 0) p += (v! * axis[j]!) / norm;
      const a = v! - km.centroids[smaller * k + j]!;
      const b = v! - km.centroids[other * k + j]!;
      ds += a * a;
      dl += b * b;
    }
    const c = km.assignments[i];
    mean[c!]! += p;
    sq[c!]! += p * p;
    membership[i] = ds + dl > 0 ? (dl - ds) / (dl + ds) : 0;
  }
  const variance = [0, 0];
  for (let c = 0; c < 2; c++) {
    if (sizes[c]! > 0) {
      mean[c]! /= sizes[c]!;
      variance[c] = Math.max(sq[c]! / sizes[c]! - mean[c]! * mean[c]!, 0);
    }
  }
  const pooled = Math.sqrt((variance[0]! + variance[1]!) / 2);
  const gap = Math.abs(mean[1]! - mean[0]!);
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

/** What the cross-class phase of activation clustering reads of the dataset: labels and classes. */
export interface AcAmongClassesInput {
  /** Given labels, one per record. */
  readonly y: Int32Array;
  /** Class names. */
  readonly classes: readonly string[];
  /** The dataset itself: needed by the `exclusionary` analysis (records are retrained on). */
  readonly ds?: Dataset;
}

/** Input of {@link activationClustering}: representations plus the given labels. */
export interface ActivationClusteringInput extends AcAmongClassesInput {
  /** Representations of every record, `[n, dim]`. */
  readonly reps: Representations;
}

/** The options of {@link activationClustering} with their defaults filled in, checked. */
interface AcParams {
  readonly analysis: AcAnalysis;
  readonly seed: number;
  readonly maxRelativeSize: number;
  readonly minSilhouette: number;
  readonly reduce: AcReduce;
  readonly whitenDims: number;
  readonly minSeparation: number;
  readonly exclusionaryThreshold: number;
  readonly reducedDims: number;
  readonly restarts: number;
  readonly maxRounds: number;
  readonly nullSpreadFloor: number;
}

/** Fills in the defaults of `options` and checks them; `INVALID_ARGUMENT` for a bad value. */
function acParams(options: ActivationClusteringOptions): AcParams {
  const analysis = options.analysis ?? 'calibrated';
  if (!AC_ANALYSES.includes(analysis)) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `unknown activation-clustering analysis "${analysis}"; choose one of ${AC_ANALYSES.join(', ')}`,
    );
  }
  const reduce = options.reduce ?? 'whitened+pca';
  if (!AC_REDUCTIONS.includes(reduce)) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `reduce must be one of ${AC_REDUCTIONS.map((r) => `"${r}"`).join(', ')}, got ${reduce}`,
    );
  }
  const p: AcParams = {
    analysis,
    seed: options.seed ?? 0,
    maxRelativeSize: options.maxRelativeSize ?? 0.35,
    minSilhouette: options.minSilhouette ?? 0.25,
    reduce,
    whitenDims: options.whitenDims ?? 32,
    minSeparation: options.minSeparation ?? (reduce === 'pca' || reduce === 'ica' ? 4 : 5),
    exclusionaryThreshold: options.exclusionaryThreshold ?? 0.5,
    reducedDims: options.reducedDims ?? 10,
    restarts: options.restarts ?? 5,
    maxRounds: options.maxRounds ?? 3,
    nullSpreadFloor: options.nullSpreadFloor ?? 0.1,
  };
  for (const [name, v, lo, hi] of [
    ['maxRelativeSize', p.maxRelativeSize, 0, 1],
    ['minSilhouette', p.minSilhouette, -1, 1],
    ['minSeparation', p.minSeparation, 0, Number.POSITIVE_INFINITY],
    ['exclusionaryThreshold', p.exclusionaryThreshold, 0, 1],
    ['nullSpreadFloor', p.nullSpreadFloor, 0, 1],
  ] as const) {
    if (!(v >= lo && v <= hi)) {
      throw new AntidoteError('INVALID_ARGUMENT', `${name} must lie in [${lo}, ${hi}], got ${v}`);
    }
  }
  if (!Number.isInteger(p.reducedDims) || p.reducedDims < 1) {
    throw new AntidoteError('INVALID_ARGUMENT', `reducedDims must be a positive integer`);
  }
  return p;
}

/** The space one class is clustered in: representations and the class's rows in them. */
export interface ClassSpace {
  readonly reps: Representations;
  /** The class's records, in order, as rows of `reps`. */
  readonly local: Int32Array;
}

/** Centre (representation space) of one cluster of a class's split, and its size. */
export interface ClusterCentre {
  readonly centre: Float64Array;
  readonly size: number;
}

/**
 * What one class contributes to activation clustering, computed from that class's records alone
 * (the per-class phase, issue 22): the space it was clustered in, its 2-means split, and the
 * sufficient statistics the cross-class phase ({@link activationClusteringAmongClasses}) needs
 * from it — the re-split of its larger cluster (the `calibrated` analysis's null), its mean and
 * its clusters' centres (the `distance` analysis). A distributed scan computes these on workers,
 * each holding only its classes' representations; {@link activationClustering} computes them in
 * process with the same function, so both give the same report.
 */
export interface AcClassStats {
  readonly classIndex: number;
  /** The class's space: its robustly whitened coordinates, or its rows of the representations. */
  readonly space: ClassSpace;
  /** The split (record indices of the dataset); absent for a class no record carries. */
  readonly split?: ClassSplit;
  /** `calibrated`: the larger cluster split again (undefined when it is too small). */
  readonly rest?: ClassSplit;
  /** `distance`: the class's mean representation. */
  readonly mean?: Float64Array;
  /** `distance`: the centres of the split's two clusters (representation space). */
  readonly centres?: readonly [ClusterCentre, ClusterCentre];
}

/**
 * The per-class phase of activation clustering on one class (see {@link AcClassStats}): the
 * class's records are rows `rows` of `reps` (in dataset order) and records `indices` of the
 * dataset. The class is split in two (after robust whitening when `reduce` is `whitened`); with
 * the `calibrated` analysis its larger cluster is split again (the null), with `distance` its
 * mean and cluster centres are measured. Every random choice comes from a stream forked from
 * the seed and the class index, so a class gives the same statistics wherever it is computed.
 */
export function activationClusteringClass(
  reps: Representations,
  rows: Int32Array,
  indices: Int32Array,
  classIndex: number,
  options: ActivationClusteringOptions = {},
): AcClassStats | AcDualClassStats {
  const p = acParams(options);
  const c = classIndex;
  if (rows.length !== indices.length) {
    throw new AntidoteError(
      'SHAPE_MISMATCH',
      `class ${c}: ${rows.length} rows for ${indices.length} records`,
    );
  }
  const coords = new Map<number, Representations>();
  if (p.reduce !== 'whitened+pca') return classInSpace(reps, rows, indices, c, p, coords);
  // Both spaces, always: which of them the cross-class phase reads depends on the other classes'
  // sizes (see activationClusteringAmongClasses), which this class's phase does not see.
  return {
    classIndex: c,
    spaces: DUAL_SPACES.map((reduce) =>
      classInSpace(reps, rows, indices, c, acParams({ ...options, reduce }), coords),
    ),
  };
}

/**
 * What `reduce: 'whitened+pca'` gives of one class: its statistics in each space of
 * {@link DUAL_SPACES}, in that order.
 */
export interface AcDualClassStats {
  readonly classIndex: number;
  readonly spaces: readonly AcClassStats[];
}

/** The per-class phase of {@link activationClusteringClass} in one space (`p.reduce`). */
function classInSpace(
  reps: Representations,
  rows: Int32Array,
  indices: Int32Array,
  c: number,
  p: AcParams,
  coords: Map<number, Representations>,
): AcClassStats {
  if (rows.length === 0) return { classIndex: c, space: { reps, local: rows } };
  const root = new Rng(p.seed);
  const local = Int32Array.from({ length: rows.length }, (_, i) => i);
  // `whitened` and `pca` both start from the class's top principal coordinates (computed once
  // per class, shared by the two spaces of `whitened+pca`): whitening is affine-invariant, so
  // whitening them equals whitening the raw top-`whitenDims` PCA projection.
  const base = (): Representations => {
    let z = coords.get(c);
    if (!z) {
      z = pcaCoordinates(reps, rows, p.whitenDims, root.fork(`pca-${c}`));
      coords.set(c, z);
    }
    return z;
  };
  const space: ClassSpace =
    p.reduce === 'whitened' && rows.length >= 8
      ? {
          // C-steps stop once ≤ 1% of the subset changes: whitening for a 2-means split does
          // not need the fully converged estimate, and it halves the time of the detector.
          reps: robustWhiten(base(), local, p.whitenDims, root.fork(`whiten-${c}`), {
            tolerance: 0.01,
          }),
          local,
        }
      : p.reduce === 'pca' && rows.length >= 8
        ? { reps: base(), local }
        : { reps, local: rows };
  const split: ClassSplit = {
    ...splitClass(space.reps, space.local, root.fork(`class-${c}`), {
      reducedDims: p.reducedDims,
      restarts: p.restarts,
      ica: p.reduce === 'ica',
    }),
    indices,
  };
  const rest = p.analysis === 'calibrated' ? restSplit(space, split, c, p, root) : undefined;
  return {
    classIndex: c,
    space,
    split,
    ...(p.analysis === 'calibrated' ? { rest } : {}),
    ...(p.analysis === 'distance'
      ? {
          mean: rowsMean(reps, rows),
          centres: [clusterCentre(reps, rows, split, 0), clusterCentre(reps, rows, split, 1)],
        }
      : {}),
  };
}

/**
 * The class's coordinates on its top `dims` principal components (d as in `robustWhiten`): the
 * `pca` space's splits (first, re-split, further rounds) all take their top `reducedDims`
 * components of the same subspace, so they run on d columns instead of the full width (a text
 * model's representations have thousands).
 */
function pcaCoordinates(
  reps: Representations,
  idx: Int32Array,
  dims: number,
  rng: Rng,
): Representations {
  const d = Math.min(dims, reps.dim, Math.max(1, Math.floor((idx.length - 2) / 2)));
  const pcs = principalComponents(reps.data, reps.dim, idx, d, rng);
  const z = projectRows(reps.data, reps.dim, idx, pcs.mean, pcs.vectors, d);
  return { data: Float32Array.from(z), dim: d };
}

/** Mean of rows `rows` of `reps` (a class's mean representation, the `distance` analysis). */
function rowsMean(reps: Representations, rows: Int32Array): Float64Array {
  const dim = reps.dim;
  const mean = new Float64Array(dim);
  for (const i of rows) {
    for (let j = 0; j < dim; j++) mean[j]! += reps.data[i * dim + j]!;
  }
  for (let j = 0; j < dim; j++) mean[j]! /= Math.max(rows.length, 1);
  return mean;
}

/** The class means of the per-class statistics, `[k, dim]` (zeros for an empty class). */
function classMeansOf(stats: readonly AcClassStats[], dim: number): Float64Array {
  const means = new Float64Array(stats.length * dim);
  stats.forEach((st, c) => {
    if (st.mean) means.set(st.mean, c * dim);
  });
  return means;
}

/** Where the removed smaller cluster of a class went: back to its label, or to another class. */
interface ReturnTally {
  readonly own: number;
  readonly top: number;
  readonly topClass: number;
}

/**
 * Exclusionary reclassification: one retrain without every candidate (smaller) cluster, then the
 * removed records are classified; per class, how many return to their label and which other
 * class takes most of them.
 */
async function exclusionaryTallies(
  input: AcAmongClassesInput,
  splits: readonly (ClassSplit | undefined)[],
  options: ActivationClusteringOptions,
): Promise<Map<number, ReturnTally>> {
  const n = input.y.length;
  const k = input.classes.length;
  const candidate = new Uint8Array(n);
  for (const s of splits) {
    if (!s) continue;
    for (let r = 0; r < s.indices.length; r++) {
      if (s.assignments[r] === s.smaller) candidate[s.indices[r]!] = 1;
    }
  }
  const keep: number[] = [];
  const removed: number[] = [];
  for (let i = 0; i < n; i++) (candidate[i] ? removed : keep).push(i);
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
  removed.forEach((i, r) => {
    const c = input.y[i]!;
    let t = tallies.get(c);
    if (!t) tallies.set(c, (t = new Int32Array(Math.max(k, model.numClasses))));
    t[pred[r]!]!++;
  });
  const backTo = new Map<number, ReturnTally>();
  for (const [c, t] of tallies) {
    let topClass = -1;
    let top = 0;
    for (let j = 0; j < t.length; j++) {
      if (j !== c && t[j]! > top) {
        top = t[j]!;
        topClass = j;
      }
    }
    backTo.set(c, { own: t[c]!, top, topClass });
  }
  return backTo;
}

/** What an analysis sees of one class. */
interface ClassAnalysisInput {
  readonly c: number;
  readonly s: ClassSplit;
  readonly input: AcAmongClassesInput;
  readonly byClass: readonly Int32Array[];
  readonly p: AcParams;
  /** One-line measurements of the split, appended to every reason. */
  readonly summary: string;
  /** Class means `[k, dim]` (computed for the `distance` analysis only). */
  readonly classMeans?: Float64Array;
  /** The class's split's cluster centres (the `distance` analysis only). */
  readonly centres?: readonly [ClusterCentre, ClusterCentre];
  /** Exclusionary reclassification tallies (the `exclusionary` analysis only). */
  readonly backTo?: ReadonlyMap<number, ReturnTally>;
  /** The calibration of the separations (the `calibrated` analysis only). */
  readonly calibration?: SeparationCalibration;
}

/** An analysis's verdict on one class: the flagged cluster (−1: none), why, what it measured. */
interface ClusterVerdict {
  readonly poisonCluster: number;
  /** Graded class-level evidence, when the analysis grades it (see `ClassFinding.strength`). */
  readonly strength?: number;
  readonly reason: string;
  readonly stats?: Readonly<Record<string, FindingValue>>;
}

/** `calibrated`: the split's separation is strong against the data's own null, and it is small. */
function calibratedAnalysis({ c, s, p, summary, calibration }: ClassAnalysisInput): ClusterVerdict {
  const cal = calibration!;
  // Two nulls, the larger strength wins: among the classes (one poisoned class stands out) and
  // the clean re-splits (every class may be poisoned; a class with a multimodal clean part
  // raises this null, the classes' own spread does not).
  const zResplit = modifiedZ(s.separation, cal.nul);
  const zAmong = cal.among && cal.among.size >= 3 ? modifiedZ(s.separation, cal.among) : 0;
  const strength = Math.max(zResplit, zAmong);
  const cut = Math.min(
    strongCutoff(cal.nul),
    cal.among && cal.among.size >= 3 ? strongCutoff(cal.among) : Number.POSITIVE_INFINITY,
  );
  const strong = strength >= STRONG_EVIDENCE;
  const small = s.relativeSize <= p.maxRelativeSize;
  const poisonCluster = strong && small ? s.smaller : -1;
  const against = `(against the classes' splits, median D ${fmt(cal.among?.centre ?? Number.NaN)}, and clean re-splits, median D ${fmt(cal.nul.centre)}; strong from D ${fmt(cut)})`;
  return {
    poisonCluster,
    strength,
    stats: {
      strength: roundStrength(strength),
      strengthAmongClasses: roundStrength(zAmong),
      strengthAgainstResplits: roundStrength(zResplit),
      restSeparation: Number.isFinite(cal.rest[c]!) ? cal.rest[c]! : null,
      nullMedianSeparation: cal.nul.centre,
      nullSpread: cal.nul.spread,
      strongSeparation: cut,
    },
    reason:
      poisonCluster >= 0
        ? `a small, separated cluster: separation D ${fmt(s.separation)}, strength ${fmt(strength)} ≥ ${STRONG_EVIDENCE} ${against}, relative size ${fmt(s.relativeSize)} ≤ ${p.maxRelativeSize}; its ${s.sizes[s.smaller]} records are flagged`
        : strong
          ? `left alone: the split is strong (strength ${fmt(strength)}) but its smaller cluster is ${fmt(s.relativeSize)} of the class > ${p.maxRelativeSize} (${summary})`
          : `left alone: separation D ${fmt(s.separation)} has strength ${fmt(strength)} < ${STRONG_EVIDENCE} ${against} (${summary})`,
  };
}

/** `separated`: small, clean and far apart (every test must pass; the reason names the failures). */
function separatedAnalysis({ s, p, summary }: ClassAnalysisInput): ClusterVerdict {
  const sizeOk = s.relativeSize <= p.maxRelativeSize;
  const silOk = s.silhouette >= p.minSilhouette;
  const sepOk = s.separation >= p.minSeparation;
  const poisonCluster = sizeOk && silOk && sepOk ? s.smaller : -1;
  const failed: string[] = [];
  if (!sizeOk) failed.push(`relative size ${fmt(s.relativeSize)} > ${p.maxRelativeSize}`);
  if (!silOk) failed.push(`silhouette ${fmt(s.silhouette)} < ${p.minSilhouette}`);
  if (!sepOk) failed.push(`separation D ${fmt(s.separation)} < ${p.minSeparation}`);
  return {
    poisonCluster,
    reason:
      poisonCluster >= 0
        ? `a small, separated cluster: relative size ${fmt(s.relativeSize)} ≤ ${p.maxRelativeSize}, silhouette ${fmt(s.silhouette)} ≥ ${p.minSilhouette}, separation D ${fmt(s.separation)} ≥ ${p.minSeparation}; its ${s.sizes[s.smaller]} records are flagged`
        : `left alone: ${failed.join(', ')} (${summary})`,
  };
}

/** `smaller`: the smaller cluster, always (the reference toolkit's default). */
function smallerAnalysis({ s, summary }: ClassAnalysisInput): ClusterVerdict {
  return {
    poisonCluster: s.smaller,
    reason: `smaller cluster (${s.sizes[s.smaller]} records) flagged unconditionally; ${summary}`,
  };
}

/** `relative-size`: the smaller cluster when it is small enough. */
function relativeSizeAnalysis({ s, p, summary }: ClassAnalysisInput): ClusterVerdict {
  const ok = s.relativeSize <= p.maxRelativeSize;
  return {
    poisonCluster: ok ? s.smaller : -1,
    reason: ok
      ? `smaller cluster is ${fmt(s.relativeSize)} of the class ≤ ${p.maxRelativeSize}: flagged; ${summary}`
      : `smaller cluster is ${fmt(s.relativeSize)} of the class > ${p.maxRelativeSize}: left alone; ${summary}`,
  };
}

/** `silhouette`: the smaller cluster when the split is clean. */
function silhouetteAnalysis({ s, p, summary }: ClassAnalysisInput): ClusterVerdict {
  const ok = s.silhouette >= p.minSilhouette;
  return {
    poisonCluster: ok ? s.smaller : -1,
    reason: ok
      ? `silhouette ${fmt(s.silhouette)} ≥ ${p.minSilhouette}: smaller cluster flagged; ${summary}`
      : `silhouette ${fmt(s.silhouette)} < ${p.minSilhouette}: clusters not separated, left alone; ${summary}`,
  };
}

/** Centre (representation space) of cluster `cl` of the split `s` of rows `rows`, and its size. */
function clusterCentre(
  reps: Representations,
  rows: Int32Array,
  s: ClassSplit,
  cl: number,
): ClusterCentre {
  const dim = reps.dim;
  const centre = new Float64Array(dim);
  let size = 0;
  for (let r = 0; r < rows.length; r++) {
    if (s.assignments[r] !== cl) continue;
    size++;
    const off = rows[r]! * dim;
    for (let j = 0; j < dim; j++) centre[j]! += reps.data[off + j]!;
  }
  for (let j = 0; j < dim; j++) centre[j]! /= Math.max(size, 1);
  return { centre, size };
}

/** The non-empty class whose mean lies nearest `centre` (`own` on ties with none nearer). */
function nearestClass(
  centre: Float64Array,
  classMeans: Float64Array,
  byClass: readonly Int32Array[],
  own: number,
): number {
  const dim = centre.length;
  let nearest = own;
  let best = Number.POSITIVE_INFINITY;
  for (let c2 = 0; c2 < byClass.length; c2++) {
    if (byClass[c2]!.length === 0) continue;
    let d2 = 0;
    for (let j = 0; j < dim; j++) {
      const t = centre[j]! - classMeans[c2 * dim + j]!;
      d2 += t * t;
    }
    if (d2 < best) {
      best = d2;
      nearest = c2;
    }
  }
  return nearest;
}

/** `distance`: a cluster whose centre lies nearer another class's mean than its own class's. */
function distanceAnalysis(a: ClassAnalysisInput): ClusterVerdict {
  const { c, input, summary } = a;
  let poisonCluster = -1;
  const stats: Record<string, FindingValue> = {};
  const verdicts: string[] = [];
  for (const cl of [0, 1] as const) {
    const { centre, size } = a.centres![cl];
    const nearest = nearestClass(centre, a.classMeans!, a.byClass, c);
    if (nearest !== c && size > 0 && poisonCluster < 0) {
      poisonCluster = cl;
      stats.nearestClass = nearest;
      verdicts.push(
        `cluster ${cl} (${size} records) lies nearest to class "${input.classes[nearest]}"`,
      );
    }
  }
  return {
    poisonCluster,
    stats,
    reason:
      poisonCluster >= 0
        ? `${verdicts.join('; ')}: flagged; ${summary}`
        : `both cluster centres lie nearest to their own class mean: left alone; ${summary}`,
  };
}

/** `exclusionary`: the smaller cluster when, retrained without it, few of it return to its label. */
function exclusionaryAnalysis({
  c,
  s,
  input,
  p,
  summary,
  backTo,
}: ClassAnalysisInput): ClusterVerdict {
  const t = backTo?.get(c) ?? { own: 0, top: 0, topClass: -1 };
  const ownShare = t.own / Math.max(s.sizes[s.smaller], 1);
  const poisonCluster = ownShare <= p.exclusionaryThreshold && t.topClass >= 0 ? s.smaller : -1;
  const className = input.classes[c];
  const other = t.topClass >= 0 ? `"${input.classes[t.topClass]}"` : 'none';
  return {
    poisonCluster,
    stats: { returnedToLabel: ownShare, mostOtherClass: t.topClass },
    reason:
      poisonCluster >= 0
        ? `retrained without it, only ${fmt(ownShare)} of the smaller cluster returns to "${className}" (most go to ${other}): flagged; ${summary}`
        : `retrained without it, ${fmt(ownShare)} of the smaller cluster returns to "${className}": left alone; ${summary}`,
  };
}

/** The cluster analyses, by name (see the module comment). */
const ANALYSES: Readonly<Record<AcAnalysis, (a: ClassAnalysisInput) => ClusterVerdict>> = {
  calibrated: calibratedAnalysis,
  separated: separatedAnalysis,
  smaller: smallerAnalysis,
  'relative-size': relativeSizeAnalysis,
  silhouette: silhouetteAnalysis,
  distance: distanceAnalysis,
  exclusionary: exclusionaryAnalysis,
};

/** The separation factor of a split, `D / (D + minSeparation)` (1 for an infinite D). */
function separationFactor(separation: number, minSeparation: number): number {
  return Number.isFinite(separation)
    ? separation / (separation + Math.max(minSeparation, 1e-9))
    : 1;
}

/**
 * The `separated` analysis's further rounds: after the first flagged cluster, the rest of the
 * class is split again and each further small, separated cluster is peeled off (poison from
 * several source classes can form several clusters), as long as the flagged total stays ≤
 * `maxRelativeSize` of the class. Updates `scores` and `flagged`; returns the records flagged per
 * round (the first round's `count` first).
 */
function peelRounds(
  s: ClassSplit,
  space: ClassSpace,
  poisonCluster: number,
  count: number,
  p: AcParams,
  minSeparation: number,
  rng: Rng,
  scores: Float32Array,
  flagged: Uint8Array,
): number[] {
  const perRound = [count];
  const keepPos = Array.from(s.indices.keys()).filter((r) => s.assignments[r] !== poisonCluster);
  let rest = Int32Array.from(keepPos, (r) => s.indices[r]!);
  let restLocal = Int32Array.from(keepPos, (r) => space.local[r]!);
  for (let round = 1; round < p.maxRounds && rest.length >= 4; round++) {
    const s2 = splitClass(space.reps, restLocal, rng, {
      reducedDims: p.reducedDims,
      restarts: p.restarts,
      ica: p.reduce === 'ica',
    });
    const small2 = s2.sizes[s2.smaller];
    const separated =
      (count + small2) / s.indices.length <= p.maxRelativeSize &&
      (p.analysis === 'calibrated' || s2.silhouette >= p.minSilhouette) &&
      s2.separation >= minSeparation;
    if (!separated) break;
    const f2 = separationFactor(s2.separation, minSeparation);
    const next: number[] = [];
    const nextLocal: number[] = [];
    for (let r = 0; r < rest.length; r++) {
      const i = rest[r]!;
      scores[i] = Math.max(scores[i]!, f2 * ((s2.membership[r]! + 1) / 2));
      if (s2.assignments[r] === s2.smaller) {
        flagged[i] = 1;
        count++;
      } else {
        next.push(i);
        nextLocal.push(restLocal[r]!);
      }
    }
    perRound.push(small2);
    rest = Int32Array.from(next);
    restLocal = Int32Array.from(nextLocal);
  }
  return perRound;
}

/**
 * The bootstrap null of the `calibrated` analysis, one class's part: the class's larger cluster
 * (its clean-looking part) split again in the class's space; the separations of these splits
 * are what a split of clean records of this model and data looks like (see {@link calibrate}).
 * Undefined when the larger cluster has fewer than 8 records.
 */
function restSplit(
  space: ClassSpace,
  s: ClassSplit,
  c: number,
  p: AcParams,
  root: Rng,
): ClassSplit | undefined {
  const larger = s.smaller ^ 1;
  const keep = Array.from(s.indices.keys()).filter((r) => s.assignments[r] === larger);
  const local = Int32Array.from(keep, (r) => space.local[r]!);
  if (local.length < 8) return undefined;
  const again = splitClass(space.reps, local, root.fork(`null-${c}`), {
    reducedDims: p.reducedDims,
    restarts: p.restarts,
    ica: p.reduce === 'ica',
  });
  return { ...again, indices: Int32Array.from(keep, (r) => s.indices[r]!) };
}

/** What the `calibrated` analysis judges each class's separation against. */
interface SeparationCalibration {
  /** Null of the separation of a split of clean records (see {@link calibrate}). */
  readonly nul: RobustNull;
  /** Null of the first splits' separations among the classes (absent for all-to-all checks). */
  readonly among?: RobustNull;
  /** Per class: the separation of its larger cluster split again (NaN when too small). */
  readonly rest: readonly number[];
  /** Per class: that re-split (dataset indices), when computed. */
  readonly restSplits?: readonly (ClassSplit | undefined)[];
}

/**
 * The calibration of the `calibrated` analysis: a bootstrap null of "a 2-means split of clean
 * records of this model and data". Each class's larger cluster (its clean-looking part, clean
 * whether one class or every class is poisoned) is split again in the class's space; the
 * separations of these re-splits are the null sample (median, MAD). Its spread is kept at least
 * `nullSpreadFloor` (default a tenth) of its median: Ashman's D varies by that much between
 * splits of clean records of one class, and a re-split, having lost the class's most distinct
 * part, reads a little lower than a first split.
 */
function calibrate(stats: readonly AcClassStats[], p: AcParams): SeparationCalibration {
  const splits = stats.map((st) => st.split);
  const restSplits = stats.map((st) => st.rest);
  const rest = restSplits.map((r) => r?.separation ?? Number.NaN);
  const values = rest.filter((v) => Number.isFinite(v));
  // Fewer than three re-splits make no null: add the split of one Gaussian (D ≈ 2.65).
  while (values.length < 3) values.push(2.65);
  const centre = median(values);
  const first = splits.flatMap((s) => (s ? [s.separation] : []));
  const among = robustNull(first, p.nullSpreadFloor * median(first));
  return { nul: robustNull(values, p.nullSpreadFloor * centre), among, rest, restSplits };
}

/**
 * The null of the analyses other than `calibrated`, which grade their evidence only: the
 * first splits' separations of all classes (median, MAD), so a class's strength says how far its
 * split stands out among the classes.
 */
function amongClasses(
  splits: readonly (ClassSplit | undefined)[],
  floor: number,
): SeparationCalibration {
  const values = splits.flatMap((s) => (s ? [s.separation] : []));
  const nul = robustNull(values.length ? values : [0], floor * median(values));
  return { nul, rest: splits.map(() => Number.NaN) };
}

/** The finding for a class no record carries. */
function emptyClassFinding(c: number, className: string): ClassFinding {
  return {
    classIndex: c,
    className,
    count: 0,
    flagged: 0,
    suspicious: false,
    reason: 'no records carry this label',
    stats: {},
  };
}

/**
 * Judges one class with the chosen analysis, scores and flags its records (peeling further
 * clusters for `separated`), and returns its finding.
 */
function judgeClass(
  a: Omit<ClassAnalysisInput, 'summary'>,
  space: ClassSpace,
  root: Rng,
  scores: Float32Array,
  flagged: Uint8Array,
): ClassFinding {
  const { c, s, p } = a;
  const stats: Record<string, FindingValue> = {
    clusterSizes: [s.sizes[0], s.sizes[1]],
    smallerCluster: s.smaller,
    relativeSize: s.relativeSize,
    silhouette: s.silhouette,
    separation: s.separation,
  };
  const summary = `clusters ${s.sizes[0]}/${s.sizes[1]} (relative size ${fmt(s.relativeSize)}), silhouette ${fmt(s.silhouette)}, separation D ${fmt(s.separation)}`;
  const verdict = ANALYSES[p.analysis]({ ...a, summary });
  Object.assign(stats, verdict.stats);
  const { poisonCluster } = verdict;
  let reason = verdict.reason;
  const cal = a.calibration;
  const minSeparation =
    cal && p.analysis === 'calibrated' ? strongCutoff(cal.nul) : p.minSeparation;
  const strength = verdict.strength ?? (cal ? modifiedZ(s.separation, cal.nul) : undefined);
  const factor = separationFactor(s.separation, minSeparation);
  let count = 0;
  for (let r = 0; r < s.indices.length; r++) {
    const i = s.indices[r]!;
    scores[i] = factor * ((s.membership[r]! + 1) / 2);
    if (poisonCluster >= 0 && s.assignments[r] === poisonCluster) {
      flagged[i] = 1;
      count++;
    }
  }
  stats.flaggedCluster = poisonCluster;
  let resplitStrength: number | undefined;
  const again = cal?.restSplits?.[c];
  if (p.analysis === 'calibrated' && poisonCluster < 0 && again && cal) {
    // The class's first split found a clean sub-mode (or none), but its larger part splits
    // again with a strong separation: the poison hides behind the first split. Flag the
    // re-split's smaller cluster when it is small against the class.
    // Stricter than a first split: strong against both nulls (three classes or more).
    const z = Math.min(
      modifiedZ(again.separation, cal.nul),
      cal.among && cal.among.size >= 3 ? modifiedZ(again.separation, cal.among) : 0,
    );
    const small = again.sizes[again.smaller] / s.indices.length <= p.maxRelativeSize;
    if (z >= STRONG_EVIDENCE && small) {
      resplitStrength = z;
      const f2 = separationFactor(again.separation, minSeparation);
      for (let r = 0; r < again.indices.length; r++) {
        const i = again.indices[r]!;
        scores[i] = Math.max(scores[i]!, f2 * ((again.membership[r]! + 1) / 2));
        if (again.assignments[r] === again.smaller) {
          flagged[i] = 1;
          count++;
        }
      }
      stats.flaggedResplit = again.sizes[again.smaller];
      reason = `a small, separated cluster behind the first split: the larger cluster splits again with separation D ${fmt(again.separation)}, strength ${fmt(z)} ≥ ${STRONG_EVIDENCE}; its ${again.sizes[again.smaller]} records are flagged (first split: ${reason})`;
    }
  }
  const peels = p.analysis === 'separated' || p.analysis === 'calibrated';
  if (peels && poisonCluster >= 0 && p.maxRounds > 1) {
    const rng = root.fork(`class-${c}-rounds`);
    const perRound = peelRounds(
      s,
      space,
      poisonCluster,
      count,
      p,
      minSeparation,
      rng,
      scores,
      flagged,
    );
    count = perRound.reduce((x, y) => x + y, 0);
    stats.flaggedPerRound = perRound;
    if (perRound.length > 1) {
      reason += `; ${perRound.length - 1} further separated cluster(s) peeled off the rest (${perRound.join(' + ')} = ${count} records)`;
    }
  }
  return {
    classIndex: c,
    className: a.input.classes[c]!,
    count: s.indices.length,
    flagged: count,
    suspicious: poisonCluster >= 0 || resplitStrength !== undefined,
    ...(strength !== undefined
      ? { strength: roundStrength(Math.max(strength, resplitStrength ?? strength)) }
      : {}),
    reason,
    stats,
  };
}

/** Checks that no class has a single record (two clusters need two). */
function checkClassSizes(byClass: readonly Int32Array[], classes: readonly string[]): void {
  byClass.forEach((idx, c) => {
    if (idx.length > 0 && idx.length < 2) {
      throw new AntidoteError(
        'INVALID_ARGUMENT',
        `class "${classes[c]}" has ${idx.length} record, fewer than the 2 clusters activation clustering forms`,
        { class: classes[c] },
      );
    }
  });
}

/** The spaces of `reduce: 'whitened+pca'`, in the order they run (ties keep the first). */
const DUAL_SPACES = ['whitened', 'pca'] as const;

/**
 * Per class, the report (one per space of `spaces`) whose finding is the stronger (ungraded
 * counts as −∞; ties keep the earlier space): its flags, scores and finding, the reason followed
 * by the space and every space's strength, the other spaces' strengths kept in the stats.
 */
export function strongerSpace(
  reports: readonly DetectionReport[],
  y: Int32Array,
  spaces: readonly string[],
): DetectionReport {
  const first = reports[0]!;
  const strengthOf = (r: DetectionReport, c: number) =>
    r.perClass.find((f) => f.classIndex === c)?.strength ?? Number.NEGATIVE_INFINITY;
  const pick = first.perClass.map((f) => {
    let best = 0;
    reports.forEach((r, k) => {
      if (strengthOf(r, f.classIndex) > strengthOf(reports[best]!, f.classIndex)) best = k;
    });
    return best;
  });
  const chosen = new Map(first.perClass.map((f, j) => [f.classIndex, pick[j]!]));
  const scores = new Float32Array(y.length);
  const flagged = new Uint8Array(y.length);
  for (let i = 0; i < y.length; i++) {
    const r = reports[chosen.get(y[i]!) ?? 0]!;
    scores[i] = r.scores[i]!;
    flagged[i] = r.flagged[i]!;
  }
  const perClass = first.perClass.map((f, j) => {
    const k = pick[j]!;
    const g = reports[k]!.perClass.find((x) => x.classIndex === f.classIndex) ?? f;
    if (g.count === 0) return g;
    const others = spaces
      .map((name, o) => ({ name, s: strengthOf(reports[o]!, f.classIndex) }))
      .filter((_, o) => o !== k);
    return {
      ...g,
      reason: `${g.reason} [${spaces[k]} space, the stronger: ${[{ name: spaces[k]!, s: g.strength ?? Number.NaN }, ...others].map((o) => `${o.name} ${fmt(o.s)}`).join(', ')}]`,
      stats: {
        ...g.stats,
        space: spaces[k]!,
        ...Object.fromEntries(
          others.map((o) => [`strength_${o.name}`, Number.isFinite(o.s) ? o.s : null]),
        ),
      },
    };
  });
  return {
    ...first,
    scores,
    flagged,
    perClass,
    params: { ...first.params, reduce: spaces.join('+') },
  };
}

/**
 * Activation clustering on precomputed representations (see the module comment for the
 * analyses). Per-record score: the record's pull towards the smaller cluster of its class,
 * `(membership + 1) / 2`, times the class's separation factor `D / (D + minSeparation)`; a
 * flagged class ranks its small cluster above everything in unseparated classes.
 *
 * Runs in two phases: {@link activationClusteringClass} on each class, then
 * {@link activationClusteringAmongClasses} on what the classes gave; a distributed scan runs the
 * same two functions, the first on workers (issue 22).
 */
export async function activationClustering(
  input: ActivationClusteringInput,
  options: ActivationClusteringOptions = {},
): Promise<DetectionReport> {
  checkRepresentations(input.reps, input.y.length);
  const byClass = checkAcInput(input, options);
  const stats = byClass.map((idx, c) => {
    const st = activationClusteringClass(input.reps, idx, idx, c, options);
    if (idx.length > 0)
      options.onProgress?.({ stage: 'clustering', done: c + 1, total: byClass.length });
    return st;
  });
  return activationClusteringAmongClasses(input, stats, options);
}

/**
 * Checks the options and the classes of an activation clustering run before any work
 * (`INVALID_ARGUMENT`: a bad option, the exclusionary analysis without a dataset and a retrain
 * callback, a class of a single record); returns the records of each class.
 */
export function checkAcInput(
  input: AcAmongClassesInput,
  options: ActivationClusteringOptions = {},
): Int32Array[] {
  const p = acParams(options);
  if (p.analysis === 'exclusionary' && (!options.retrain || !input.ds)) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      'the exclusionary analysis needs the dataset and a retrain callback',
    );
  }
  const byClass = indicesByClass(input.y, input.classes.length);
  checkClassSizes(byClass, input.classes);
  return byClass;
}

/**
 * The cross-class phase of activation clustering: from every class's statistics (one
 * {@link AcClassStats} per class, in class order, from {@link activationClusteringClass} with
 * the same options), calibrates the separations among the classes, judges each class, and scores
 * and flags its records (see {@link activationClustering}).
 */
export async function activationClusteringAmongClasses(
  input: AcAmongClassesInput,
  stats: readonly (AcClassStats | AcDualClassStats)[],
  options: ActivationClusteringOptions = {},
): Promise<DetectionReport> {
  const p = acParams(options);
  if (p.reduce === 'whitened+pca') {
    const byClass = checkAcInput(input, options);
    // The PCA space needs a real null: fewer than three classes with a re-split (a larger
    // cluster of ≥ 8 records) leave it padded with the split of one Gaussian (D 2.65), far below
    // the re-splits of clean classes there (3.97 and 5.72 on a 300-review text model, whose
    // clean "negative" then read strength 6.1). Those data keep the whitened space alone.
    const resplit = byClass.filter((i) => i.length >= 16);
    const spaces = resplit.length >= 3 ? DUAL_SPACES : DUAL_SPACES.slice(0, 1);
    const reports: DetectionReport[] = [];
    for (const [s, reduce] of spaces.entries()) {
      const inSpace = stats.map((st) => {
        if (!('spaces' in st) || !st.spaces[s]) {
          throw new AntidoteError(
            'SHAPE_MISMATCH',
            "activation clustering (whitened+pca) needs each class's statistics in both spaces",
          );
        }
        return st.spaces[s]!;
      });
      reports.push(await amongClassesInSpace(input, inSpace, { ...options, reduce }));
    }
    return reports.length === 1 ? reports[0]! : strongerSpace(reports, input.y, spaces);
  }
  if (stats.some((st) => 'spaces' in st)) {
    throw new AntidoteError(
      'SHAPE_MISMATCH',
      `activation clustering (${p.reduce}) was given the statistics of two spaces`,
    );
  }
  return amongClassesInSpace(input, stats as readonly AcClassStats[], options);
}

/** {@link activationClusteringAmongClasses} in one space (`options.reduce`). */
async function amongClassesInSpace(
  input: AcAmongClassesInput,
  stats: readonly AcClassStats[],
  options: ActivationClusteringOptions,
): Promise<DetectionReport> {
  const n = input.y.length;
  const byClass = checkAcInput(input, options);
  const p = acParams(options);
  const k = input.classes.length;
  if (stats.length !== k || stats.some((st, c) => st.classIndex !== c)) {
    throw new AntidoteError(
      'SHAPE_MISMATCH',
      `activation clustering needs the statistics of the ${k} classes in order, got ${stats.length}`,
    );
  }
  const root = new Rng(p.seed);
  const splits = stats.map((st) => st.split);
  const dim = stats.find((st) => st.mean)?.mean?.length ?? 0;
  const shared = {
    input,
    byClass,
    p,
    calibration:
      p.analysis === 'calibrated' ? calibrate(stats, p) : amongClasses(splits, p.nullSpreadFloor),
    ...(p.analysis === 'distance' ? { classMeans: classMeansOf(stats, dim) } : {}),
    ...(p.analysis === 'exclusionary'
      ? { backTo: await exclusionaryTallies(input, splits, options) }
      : {}),
  };
  const scores = new Float32Array(n);
  const flagged = new Uint8Array(n);
  const perClass = stats.map((st, c) =>
    st.split
      ? judgeClass(
          { ...shared, c, s: st.split, ...(st.centres ? { centres: st.centres } : {}) },
          st.space,
          root,
          scores,
          flagged,
        )
      : emptyClassFinding(c, input.classes[c]!),
  );
  return {
    method: 'activation-clustering',
    scores,
    flagged,
    perClass,
    params: {
      analysis: p.analysis,
      reduce: p.reduce,
      whitenDims: p.whitenDims,
      seed: p.seed,
      reducedDims: p.reducedDims,
      restarts: p.restarts,
      maxRounds: p.maxRounds,
      maxRelativeSize: p.maxRelativeSize,
      minSilhouette: p.minSilhouette,
      minSeparation: p.minSeparation,
      exclusionaryThreshold: p.exclusionaryThreshold,
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

/**
 * The options of activation clustering as the registry runs it (`--method ac`): its parsed flags
 * and the scan's context. A distributed scan derives the workers' options from the same
 * function, so both run the detector alike.
 */
export function acEntryOptions(
  options: { readonly reduce: AcReduce },
  context: DetectorContext,
): ActivationClusteringOptions {
  return { ...commonDetectorOptions(context), reduce: options.reduce };
}

/** Activation clustering in the detector registry: `antidote scan --method ac`. */
export const activationClusteringEntry = defineDetector({
  name: 'ac',
  title: 'Activation clustering',
  paper:
    'Chen et al. 2018, "Detecting Backdoor Attacks on Deep Neural Networks by Activation Clustering", arXiv:1811.03728',
  finds: 'backdoor',
  domains: ['features', 'text', 'tabular'],
  options: z.object({
    reduce: z.enum(AC_REDUCTIONS).default('whitened+pca').meta({
      placeholder: '<space>',
      description:
        'activation clustering: both robust whitening and plain PCA, the stronger finding per class (default), robust whitening + PCA, plain PCA, or PCA + FastICA',
    }),
  }),
  run: (ds, model, options, context) =>
    activationClusteringDetector.detect(ds, model, acEntryOptions(options, context)),
});
