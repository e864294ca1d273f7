import { AntidoteError } from '../errors.js';
import type { RandomSource } from './random.js';

/**
 * k-means (Lloyd) with k-means++ seeding (Arthur & Vassilvitskii 2007) and seeded restarts, and a
 * stratified-sample silhouette (Rousseeuw 1987). Points are low-dimensional (activation
 * clustering reduces to 10 dims first), so plain Float64Array loops are the fast path here.
 */

/** Options for {@link kMeans}. */
export interface KMeansOptions {
  /** Independent k-means++ starts; the lowest inertia wins. Default 5. */
  readonly restarts?: number;
  /** Lloyd iterations per start. Default 100. */
  readonly maxIterations?: number;
  /** Stop when no assignment changes or inertia improves by less than this fraction. Default 1e-4. */
  readonly tolerance?: number;
}

/** Result of {@link kMeans}. */
export interface KMeansResult {
  /** Cluster of each point, in [0, k). */
  readonly assignments: Int32Array;
  /** `[k, d]` row-major cluster centres. */
  readonly centroids: Float64Array;
  /** Points per cluster. */
  readonly sizes: Int32Array;
  /** Sum of squared distances of points to their centre. */
  readonly inertia: number;
}

/**
 * Clusters the `n` points of `points` (`[n, d]` row-major) into `k` clusters. Throws
 * `INVALID_ARGUMENT` when there are fewer points than clusters.
 */
export function kMeans(
  points: Float64Array,
  n: number,
  d: number,
  k: number,
  rng: RandomSource,
  options: KMeansOptions = {},
): KMeansResult {
  if (!Number.isInteger(k) || k < 1) {
    throw new AntidoteError('INVALID_ARGUMENT', `k-means needs k ≥ 1 clusters, got ${k}`);
  }
  if (n < k) {
    throw new AntidoteError('INVALID_ARGUMENT', `cannot form ${k} clusters from ${n} points`);
  }
  if (points.length !== n * d) {
    throw new AntidoteError('SHAPE_MISMATCH', `k-means: ${points.length} values is not ${n}×${d}`);
  }
  const restarts = options.restarts ?? 5;
  let best: KMeansResult | undefined;
  for (let r = 0; r < restarts; r++) {
    const result = lloyd(points, n, d, k, seedPlusPlus(points, n, d, k, rng), options);
    if (best === undefined || result.inertia < best.inertia - 1e-12) best = result;
  }
  return best!;
}

function sqDist(a: Float64Array, ao: number, b: Float64Array, bo: number, d: number): number {
  let s = 0;
  for (let j = 0; j < d; j++) {
    const t = a[ao + j]! - b[bo + j]!;
    s += t * t;
  }
  return s;
}

/** k-means++ seeding: each new centre drawn with probability ∝ squared distance to the nearest. */
function seedPlusPlus(points: Float64Array, n: number, d: number, k: number, rng: RandomSource) {
  const centroids = new Float64Array(k * d);
  const first = rng.int(n);
  centroids.set(points.subarray(first * d, first * d + d), 0);
  const dist = new Float64Array(n);
  let total = 0;
  for (let i = 0; i < n; i++) {
    dist[i] = sqDist(points, i * d, centroids, 0, d);
    total += dist[i]!;
  }
  for (let c = 1; c < k; c++) {
    let pick = -1;
    if (total > 0) {
      let u = rng.next() * total;
      for (let i = 0; i < n; i++) {
        u -= dist[i]!;
        if (u < 0) {
          pick = i;
          break;
        }
      }
      if (pick < 0) for (let i = n - 1; i >= 0 && pick < 0; i--) if (dist[i]! > 0) pick = i;
    }
    if (pick < 0) pick = rng.int(n); // all points identical
    centroids.set(points.subarray(pick * d, pick * d + d), c * d);
    total = 0;
    for (let i = 0; i < n; i++) {
      const nd = sqDist(points, i * d, centroids, c * d, d);
      if (nd < dist[i]!) dist[i] = nd;
      total += dist[i]!;
    }
  }
  return centroids;
}

/**
 * The nearest centre of each point (`into`, the first on a tie) and its squared distance
 * (`dist`). Two centres (activation clustering's split) take one pass over each point's
 * coordinates for both, each distance summed in the same order as {@link sqDist}.
 */
function nearestCentres(
  points: Float64Array,
  n: number,
  d: number,
  k: number,
  centroids: Float64Array,
  into: Int32Array,
  dist: Float64Array,
): void {
  if (k === 2) {
    for (let i = 0; i < n; i++) {
      const o = i * d;
      let s0 = 0;
      let s1 = 0;
      for (let j = 0; j < d; j++) {
        const p = points[o + j]!;
        const t0 = p - centroids[j]!;
        const t1 = p - centroids[d + j]!;
        s0 += t0 * t0;
        s1 += t1 * t1;
      }
      let bc = 0;
      let bd = Number.POSITIVE_INFINITY;
      if (s0 < bd) bd = s0;
      if (s1 < bd) {
        bd = s1;
        bc = 1;
      }
      into[i] = bc;
      dist[i] = bd;
    }
    return;
  }
  for (let i = 0; i < n; i++) {
    let bc = 0;
    let bd = Number.POSITIVE_INFINITY;
    for (let c = 0; c < k; c++) {
      const dd = sqDist(points, i * d, centroids, c * d, d);
      if (dd < bd) {
        bd = dd;
        bc = c;
      }
    }
    into[i] = bc;
    dist[i] = bd;
  }
}

function lloyd(
  points: Float64Array,
  n: number,
  d: number,
  k: number,
  centroids: Float64Array,
  options: KMeansOptions,
): KMeansResult {
  const maxIterations = options.maxIterations ?? 100;
  const tolerance = options.tolerance ?? 1e-4;
  const assignments = new Int32Array(n).fill(-1);
  const sizes = new Int32Array(k);
  const sums = new Float64Array(k * d);
  const nearest = new Float64Array(n);
  const scratch = new Int32Array(n);
  let inertia = Number.POSITIVE_INFINITY;
  for (let it = 0; it < maxIterations; it++) {
    let changed = 0;
    let newInertia = 0;
    nearestCentres(points, n, d, k, centroids, scratch, nearest);
    for (let i = 0; i < n; i++) {
      const bc = scratch[i]!;
      const bd = nearest[i]!;
      if (assignments[i] !== bc) changed++;
      assignments[i] = bc;
      newInertia += bd;
    }
    sizes.fill(0);
    sums.fill(0);
    for (let i = 0; i < n; i++) {
      const c = assignments[i]!;
      sizes[c]!++;
      for (let j = 0; j < d; j++) sums[c * d + j]! += points[i * d + j]!;
    }
    for (let c = 0; c < k; c++) {
      if (sizes[c] === 0) {
        // Empty cluster: move its centre to the point farthest from its own centre.
        let far = 0;
        for (let i = 1; i < n; i++) if (nearest[i]! > nearest[far]!) far = i;
        centroids.set(points.subarray(far * d, far * d + d), c * d);
        nearest[far] = 0;
        changed++;
        continue;
      }
      for (let j = 0; j < d; j++) centroids[c * d + j] = sums[c * d + j]! / sizes[c]!;
    }
    const improved = inertia - newInertia;
    inertia = newInertia;
    if (changed === 0 || (improved >= 0 && improved <= tolerance * newInertia)) break;
  }
  // Final assignment consistent with the final centres.
  let finalInertia = 0;
  sizes.fill(0);
  nearestCentres(points, n, d, k, centroids, assignments, nearest);
  for (let i = 0; i < n; i++) {
    sizes[assignments[i]!]!++;
    finalInertia += nearest[i]!;
  }
  return { assignments, centroids, sizes, inertia: finalInertia };
}

/** Silhouette of a clustering: overall and per cluster. */
export interface Silhouette {
  /** Size-weighted mean silhouette over all points, in [-1, 1]. */
  readonly overall: number;
  /** Mean silhouette of each cluster's points. */
  readonly perCluster: Float64Array;
}

/**
 * Silhouette coefficient (Rousseeuw 1987) with Euclidean distance. Exact when every cluster has at
 * most `maxPerCluster` points (default 400); otherwise estimated from a seeded stratified sample
 * of `maxPerCluster` points per cluster, so a small cluster is never drowned by a big one and the
 * cost stays O(k²·m²·d) instead of O(n²·d).
 */
export function silhouette(
  points: Float64Array,
  n: number,
  d: number,
  assignments: Int32Array,
  k: number,
  rng: RandomSource,
  maxPerCluster = 400,
): Silhouette {
  const members: Int32Array[] = [];
  const sizes = new Int32Array(k);
  for (let i = 0; i < n; i++) sizes[assignments[i]!]!++;
  for (let c = 0; c < k; c++) {
    const all = new Int32Array(sizes[c]!);
    let f = 0;
    for (let i = 0; i < n; i++) if (assignments[i] === c) all[f++] = i;
    members.push(
      all.length > maxPerCluster
        ? Int32Array.from(rng.sample(all.length, maxPerCluster), (j) => all[j]!)
        : all,
    );
  }
  const perCluster = new Float64Array(k);
  const distance = pairDistances(points, d, members);
  let overall = 0;
  for (let c = 0; c < k; c++) {
    const own = members[c]!;
    if (own.length <= 1) continue; // singleton cluster: silhouette 0 by convention
    if (distance) {
      perCluster[c] = silhouetteFromDistances(distance, members, c);
      overall += (perCluster[c]! * sizes[c]!) / n;
      continue;
    }
    let sum = 0;
    for (const i of own) {
      let a = 0;
      for (const j of own) if (j !== i) a += Math.sqrt(sqDist(points, i * d, points, j * d, d));
      a /= own.length - 1;
      let b = Number.POSITIVE_INFINITY;
      for (let c2 = 0; c2 < k; c2++) {
        if (c2 === c || members[c2]!.length === 0) continue;
        let s = 0;
        for (const j of members[c2]!) s += Math.sqrt(sqDist(points, i * d, points, j * d, d));
        b = Math.min(b, s / members[c2]!.length);
      }
      const m = Math.max(a, b);
      sum += Number.isFinite(b) && m > 0 ? (b - a) / m : 0;
    }
    perCluster[c] = sum / own.length;
    overall += (perCluster[c]! * sizes[c]!) / n;
  }
  return { overall, perCluster };
}

/** Above this many sampled points the silhouette computes distances on the fly. */
const MAX_DISTANCE_MATRIX_POINTS = 1024;

/** Distances between the sampled points (members of every cluster, in order) and where each cluster starts. */
interface PairDistances {
  readonly m: number;
  readonly dist: Float64Array;
  readonly starts: Int32Array;
}

/**
 * The Euclidean distances between all sampled points, each pair computed once (the squared
 * difference of two coordinates is the same either way round, so the matrix equals the
 * two-sided computation exactly); `undefined` above {@link MAX_DISTANCE_MATRIX_POINTS} points.
 */
function pairDistances(
  points: Float64Array,
  d: number,
  members: readonly Int32Array[],
): PairDistances | undefined {
  const m = members.reduce((a, c) => a + c.length, 0);
  if (m > MAX_DISTANCE_MATRIX_POINTS) return undefined;
  const all = new Int32Array(m);
  const starts = new Int32Array(members.length + 1);
  members.forEach((c, q) => {
    all.set(c, starts[q]!);
    starts[q + 1] = starts[q]! + c.length;
  });
  const dist = new Float64Array(m * m);
  for (let p = 0; p < m; p++) {
    const ip = all[p]! * d;
    for (let q = p + 1; q < m; q++) {
      const v = Math.sqrt(sqDist(points, ip, points, all[q]! * d, d));
      dist[p * m + q] = v;
      dist[q * m + p] = v;
    }
  }
  return { m, dist, starts };
}

/**
 * Mean silhouette of cluster `c`'s sampled points from the distance matrix: the same sums, in
 * the same order, as the loop of {@link silhouette}.
 */
function silhouetteFromDistances(pd: PairDistances, members: readonly Int32Array[], c: number) {
  const { m, dist, starts } = pd;
  const k = members.length;
  const from = starts[c]!;
  const to = starts[c + 1]!;
  const size = to - from;
  let sum = 0;
  for (let p = from; p < to; p++) {
    const row = p * m;
    let a = 0;
    for (let q = from; q < to; q++) if (q !== p) a += dist[row + q]!;
    a /= size - 1;
    let b = Number.POSITIVE_INFINITY;
    for (let c2 = 0; c2 < k; c2++) {
      const len = starts[c2 + 1]! - starts[c2]!;
      if (c2 === c || len === 0) continue;
      let s = 0;
      for (let q = starts[c2]!; q < starts[c2 + 1]!; q++) s += dist[row + q]!;
      b = Math.min(b, s / len);
    }
    const mx = Math.max(a, b);
    sum += Number.isFinite(b) && mx > 0 ? (b - a) / mx : 0;
  }
  return sum / size;
}
