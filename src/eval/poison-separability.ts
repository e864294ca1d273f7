import { checkRepresentations, type Representations } from '../defenses/representations.js';
import { AntidoteError } from '../errors.js';
import { choleskySolve } from '../numeric/cholesky.js';
import { principalComponents, projectRows } from '../numeric/pca.js';
import { Rng } from '../util/rng.js';
import { rocAuc } from './detection.js';

/**
 * How separable the poisoned records are from the clean records of their classes in a
 * representation, measured with the ground truth (an evaluation diagnostic, never a detector):
 * Fisher's linear discriminant (Fisher 1936) fitted on a seeded half of those classes' records
 * and scored on the other half. It tells apart the two reasons a detector can miss a poison
 * (issue 16): the representation does not separate it (held-out AUC near 0.5), or it does and
 * the detectors do not find the direction (held-out AUC near 1). Measured on the head input of
 * the Fashion-MNIST cnn (2 epochs): blend α 0.1 at 10% and image insert at 1%, which no
 * detector finds, are separated with held-out F1 0.99 and 0.97 (32 dimensions).
 */
export interface PoisonSeparability {
  /** ROC AUC of the discriminant's scores on the held-out half. */
  readonly auc: number;
  /** Best F1 over the cut-offs of the held-out scores. */
  readonly f1: number;
  /** Principal dimensions (of the poisoned classes' records) the discriminant used. */
  readonly dims: number;
  /** Poisoned records in the held-out half. */
  readonly poisoned: number;
  /** Clean records of the poisoned classes in the held-out half. */
  readonly clean: number;
}

/** Options of {@link poisonSeparability}. */
export interface PoisonSeparabilityOptions {
  /** Principal dimensions kept before the discriminant. Default 32. */
  readonly dims?: number;
  /** Seed of the principal components and of the halves. Default 1. */
  readonly seed?: number;
}

/** Records each half needs of both kinds for a figure. */
const MIN_PER_KIND = 4;

/**
 * The held-out linear separability of the poisoned records (`truth[i] = 1`) from the clean
 * records of the classes they carry, in `reps` (see {@link PoisonSeparability}). `undefined`
 * when either half holds fewer than 4 records of either kind (no poison, or too little).
 */
export function poisonSeparability(
  reps: Representations,
  y: Int32Array,
  truth: Uint8Array,
  options: PoisonSeparabilityOptions = {},
): PoisonSeparability | undefined {
  const n = y.length;
  checkRepresentations(reps, n);
  if (truth.length !== n) {
    throw new AntidoteError(
      'SHAPE_MISMATCH',
      `ground truth covers ${truth.length} records but the labels cover ${n}`,
    );
  }
  const dimsWanted = options.dims ?? 32;
  if (!Number.isInteger(dimsWanted) || dimsWanted < 1) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `dims must be a positive integer, got ${dimsWanted}`,
    );
  }
  const poisonedClasses = new Set<number>();
  for (let i = 0; i < n; i++) if (truth[i]) poisonedClasses.add(y[i]!);
  const idx: number[] = [];
  for (let i = 0; i < n; i++) if (poisonedClasses.has(y[i]!)) idx.push(i);
  const rng = new Rng(options.seed ?? 1);
  const split = rng.fork('halves');
  const fit = Uint8Array.from(idx, () => (split.next() < 0.5 ? 1 : 0));
  const count = (half: number, kind: number) =>
    idx.reduce((a, i, r) => a + (fit[r] === half && truth[i] === kind ? 1 : 0), 0);
  if (Math.min(count(1, 1), count(1, 0), count(0, 1), count(0, 0)) < MIN_PER_KIND) return undefined;
  const k = Math.max(1, Math.min(dimsWanted, reps.dim, Math.floor(idx.length / 4)));
  const rows = Int32Array.from(idx);
  const pcs = principalComponents(reps.data, reps.dim, rows, k, rng.fork('pca'));
  const z = projectRows(reps.data, reps.dim, rows, pcs.mean, pcs.vectors, k);
  const w = fisherDirection(
    z,
    k,
    idx.map((i, r) => (fit[r] ? (truth[i] ? 1 : 0) : -1)),
  );
  const scores: number[] = [];
  const labels: number[] = [];
  idx.forEach((i, r) => {
    if (fit[r]) return;
    let s = 0;
    for (let j = 0; j < k; j++) s += z[r * k + j]! * w[j]!;
    scores.push(s);
    labels.push(truth[i] ? 1 : 0);
  });
  const poisoned = labels.reduce((a, b) => a + b, 0);
  return {
    auc: round4(rocAuc(scores, labels)),
    f1: round4(bestF1(scores, labels)),
    dims: k,
    poisoned,
    clean: labels.length - poisoned,
  };
}

/**
 * Fisher's discriminant direction Σ_w⁻¹(μ₁ − μ₀) from the rows of `z` (`[m, k]`) whose `group`
 * is 1 or 0 (−1: not used); Σ_w is the pooled within-group covariance with a small ridge
 * (10⁻⁶ of its mean variance) so that a flat direction cannot make it singular.
 */
function fisherDirection(z: Float64Array, k: number, group: readonly number[]): Float64Array {
  const mean = [new Float64Array(k), new Float64Array(k)];
  const size = [0, 0];
  group.forEach((g, r) => {
    if (g < 0) return;
    size[g]!++;
    for (let j = 0; j < k; j++) mean[g]![j]! += z[r * k + j]!;
  });
  for (const g of [0, 1]) for (let j = 0; j < k; j++) mean[g]![j]! /= size[g]!;
  const sw = new Float64Array(k * k);
  const c = new Float64Array(k);
  group.forEach((g, r) => {
    if (g < 0) return;
    for (let j = 0; j < k; j++) c[j] = z[r * k + j]! - mean[g]![j]!;
    for (let a = 0; a < k; a++) for (let b = 0; b <= a; b++) sw[a * k + b]! += c[a]! * c[b]!;
  });
  const total = size[0]! + size[1]!;
  let trace = 0;
  for (let a = 0; a < k; a++) {
    for (let b = 0; b <= a; b++) {
      sw[a * k + b]! /= total;
      sw[b * k + a] = sw[a * k + b]!;
    }
    trace += sw[a * k + a]!;
  }
  const ridge = Math.max((1e-6 * trace) / k, Number.MIN_VALUE);
  for (let a = 0; a < k; a++) sw[a * k + a]! += ridge;
  return choleskySolve(
    sw,
    k,
    Float64Array.from({ length: k }, (_, j) => mean[1]![j]! - mean[0]![j]!),
  );
}

/** The best F1 over every cut-off of `scores` (higher = positive) against `labels`. */
function bestF1(scores: readonly number[], labels: readonly number[]): number {
  const order = scores.map((_, i) => i).sort((a, b) => scores[b]! - scores[a]!);
  const positives = labels.reduce((a, b) => a + b, 0);
  let tp = 0;
  let best = 0;
  for (let r = 0; r < order.length; r++) {
    tp += labels[order[r]!]!;
    // only at the end of a run of ties: a cut-off cannot split equal scores
    if (r + 1 < order.length && scores[order[r + 1]!] === scores[order[r]!]) continue;
    best = Math.max(best, (2 * tp) / (r + 1 + positives));
  }
  return best;
}

const round4 = (v: number) => Math.round(v * 10_000) / 10_000;
