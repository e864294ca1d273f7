/**
 * STRIP, the run-time trojan detector of Gao, Xu, Wang, Chen, Ranasinghe & Nepal 2019, "STRIP: A
 * Defence Against Trojan Attacks on Deep Neural Networks" (ACSAC). Each input is superimposed with
 * N held-out clean inputs and the Shannon entropy of the model's prediction is averaged over the N
 * blends. Blending destroys a clean input's class evidence, so its predictions spread out (high
 * entropy); a triggered input keeps steering the model to the target class whatever is blended
 * in (low entropy). The rejection threshold is the entropy quantile of clean inputs at a chosen
 * false rejection rate.
 *
 * Names as in ../shared/DESIGN.md §3: **FRR** = share of clean inputs rejected, **FAR** = share of
 * triggered inputs accepted (one well-known implementation swaps them).
 *
 * Pure functions over any {@link Classifier}; every random choice comes from an explicit seed.
 */

import type { Classifier } from '../engine/classifier.js';
import { AntidoteError } from '../errors.js';
import { Rng } from '../util/rng.js';

/** A block of `n` records of the model's input shape, row-major. */
export interface StripRecords {
  readonly x: Float32Array;
  readonly n: number;
  /**
   * Min and max of `x`, when already known: the `add-clip` superimposition clips to the pool's
   * value range ({@link fitStrip} stores it with the pool, so detection never rescans it).
   */
  readonly range?: readonly [number, number];
}

/** The records of a dataset (or any `{ x, shape }`) as a {@link StripRecords} block. */
export function stripRecords(ds: {
  readonly x: Float32Array;
  readonly shape: readonly number[];
}): StripRecords {
  return { x: ds.x, n: ds.shape[0]! };
}

/** How an input and a clean overlay are combined. */
export type StripSuperimpose = 'add-clip' | 'blend';

/** Options of {@link stripEntropy}. */
export interface StripOptions {
  /** Clean images superimposed on each input (N); default 20. */
  readonly overlays?: number;
  /** Seed of the overlay choices. */
  readonly seed: number;
  /**
   * `add-clip` (the paper's superimposition, `cv2.addWeighted(x, 1, overlay, 1, 0)`: the sum,
   * clipped to the held-out pool's value range) or `blend` (`0.5·x + 0.5·overlay`); default
   * `add-clip`.
   */
  readonly superimpose?: StripSuperimpose;
  /** Blended records per forward pass; default 2048. */
  readonly batchSize?: number;
}

/** Shannon entropy in bits of the probability row `p[offset .. offset + k)`. */
export function entropyBits(p: ArrayLike<number>, offset = 0, k = p.length - offset): number {
  let h = 0;
  for (let j = 0; j < k; j++) {
    const v = p[offset + j]!;
    if (v > 1e-12) h -= v * Math.log2(v);
  }
  return h;
}

function recordSize(model: Classifier): number {
  return model.inputShape.reduce((a, b) => a * b, 1);
}

function checkBlock(block: StripRecords, size: number, what: string): void {
  if (!Number.isInteger(block.n) || block.n < 0 || block.x.length !== block.n * size) {
    throw new AntidoteError(
      'SHAPE_MISMATCH',
      `STRIP: ${what} must hold ${block.n} records of ${size} values (${block.n * size}), got ${block.x.length}`,
    );
  }
}

function resolve(options: StripOptions): Required<StripOptions> {
  const overlays = options.overlays ?? 20;
  const superimpose = options.superimpose ?? 'add-clip';
  const batchSize = options.batchSize ?? 2048;
  if (!Number.isInteger(overlays) || overlays < 1 || overlays > 10_000) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `STRIP overlays must be an integer in [1, 10000], got ${overlays}`,
      { field: 'overlays' },
    );
  }
  if (superimpose !== 'add-clip' && superimpose !== 'blend') {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `STRIP superimpose must be add-clip or blend, got ${superimpose}`,
      { field: 'superimpose' },
    );
  }
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new AntidoteError('INVALID_ARGUMENT', `STRIP batch size must be ≥ 1, got ${batchSize}`, {
      field: 'batchSize',
    });
  }
  if (!Number.isSafeInteger(options.seed)) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `STRIP seed must be an integer, got ${options.seed}`,
    );
  }
  return { overlays, superimpose, batchSize, seed: options.seed };
}

/** Min and max of `x`. */
function valueRange(x: Float32Array): readonly [number, number] {
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return [lo, hi];
}

/** Validated inputs of an entropy computation. */
interface EntropyJob {
  readonly model: Classifier;
  readonly x: Float32Array;
  readonly n: number;
  readonly heldOut: StripRecords;
  readonly o: Required<StripOptions>;
  readonly size: number;
  readonly lo: number;
  readonly hi: number;
  /** Pool index of overlay v of record i at `i·overlays + v` (seeded draws). */
  readonly draws: Int32Array;
}

function entropyJob(
  model: Classifier,
  x: Float32Array,
  n: number,
  heldOut: StripRecords,
  options: StripOptions,
): EntropyJob {
  const o = resolve(options);
  const size = recordSize(model);
  checkBlock({ x, n }, size, 'inputs');
  checkBlock(heldOut, size, 'held-out pool');
  if (heldOut.n < 1) {
    throw new AntidoteError('INVALID_ARGUMENT', 'STRIP needs at least one held-out clean record');
  }
  const [lo, hi] = heldOut.range ?? valueRange(heldOut.x);
  // All draws up front, record by record: the same overlays whichever of them get evaluated.
  const rng = new Rng(o.seed);
  const draws = new Int32Array(n * o.overlays);
  for (let r = 0; r < draws.length; r++) draws[r] = rng.int(heldOut.n);
  return { model, x, n, heldOut, o, size, lo, hi, draws };
}

/**
 * Writes the superimposition of `x[xi, xi + size)` and `overlay[oi, oi + size)` into
 * `out[at, at + size)`: `add-clip` (the sum clipped to `[lo, hi]`, float32 arithmetic) or
 * `blend` (the mean). The one definition every STRIP computation uses.
 */
export function superimposeInto(
  out: Float32Array,
  at: number,
  x: ArrayLike<number>,
  xi: number,
  overlay: ArrayLike<number>,
  oi: number,
  size: number,
  mode: StripSuperimpose,
  lo: number,
  hi: number,
): void {
  if (mode === 'blend') {
    for (let d = 0; d < size; d++) out[at + d] = 0.5 * x[xi + d]! + 0.5 * overlay[oi + d]!;
    return;
  }
  const l = Math.fround(lo);
  const h = Math.fround(hi);
  for (let d = 0; d < size; d++) {
    const s = Math.fround(x[xi + d]! + overlay[oi + d]!);
    out[at + d] = s > h ? h : Math.max(s, l);
  }
}

/**
 * Adds the prediction entropy (bits) of overlays `[from, to)` of each record in `records` to
 * `sums[record]`, in forward passes of about `batchSize` superimposed inputs.
 */
async function addEntropies(
  job: EntropyJob,
  records: Int32Array,
  from: number,
  to: number,
  sums: Float64Array,
): Promise<void> {
  const { model, x, o, size, draws } = job;
  const pool = job.heldOut.x;
  // Float32 arithmetic (Math.fround) runs this loop several times faster than doubles in V8, and
  // gives the same values: lo and hi are float32 values and rounding is monotonic, so rounding
  // the sum before clipping equals rounding the clipped sum.
  const lo = Math.fround(job.lo);
  const hi = Math.fround(job.hi);
  const k = model.numClasses;
  const per = to - from;
  const perBatch = Math.max(1, Math.floor(o.batchSize / per));
  const blended = new Float32Array(Math.min(perBatch, records.length) * per * size);
  for (let start = 0; start < records.length; start += perBatch) {
    const m = Math.min(perBatch, records.length - start);
    for (let i = 0; i < m; i++) {
      const rec = records[start + i]!;
      const xi = rec * size;
      for (let v = 0; v < per; v++) {
        const pj = draws[rec * o.overlays + from + v]! * size;
        superimposeInto(
          blended,
          (i * per + v) * size,
          x,
          xi,
          pool,
          pj,
          size,
          o.superimpose,
          lo,
          hi,
        );
      }
    }
    const rows = m * per;
    const probs = await model.predictProba(blended.subarray(0, rows * size), rows);
    for (let i = 0; i < m; i++) {
      let s = 0;
      for (let v = 0; v < per; v++) s += entropyBits(probs, (i * per + v) * k, k);
      sums[records[start + i]!]! += s;
    }
  }
}

/**
 * Mean prediction entropy (bits) of each of the `n` records of `x` over `overlays` superimpositions
 * with records drawn (seeded, with replacement) from the clean `heldOut` pool. Returns `[n]`; low
 * values mean the prediction survives the blending (a trigger's signature).
 */
export async function stripEntropy(
  model: Classifier,
  x: Float32Array,
  n: number,
  heldOut: StripRecords,
  options: StripOptions,
): Promise<Float32Array> {
  const job = entropyJob(model, x, n, heldOut, options);
  const sums = new Float64Array(n);
  await addEntropies(
    job,
    Int32Array.from({ length: n }, (_, i) => i),
    0,
    job.o.overlays,
    sums,
  );
  return Float32Array.from(sums, (s) => s / job.o.overlays);
}

/**
 * The rejection threshold for a false rejection rate `frr` in (0, 1): the `frr`-quantile of the
 * clean entropies (the ⌊frr·n⌋-th smallest), so that inputs with entropy strictly below it are
 * rejected and at most a share `frr` of those clean inputs would be.
 */
export function stripThreshold(cleanEntropy: ArrayLike<number>, frr: number): number {
  if (typeof frr !== 'number' || !(frr > 0 && frr < 1)) {
    throw new AntidoteError('INVALID_ARGUMENT', `STRIP FRR must be in (0, 1), got ${frr}`, {
      field: 'frr',
    });
  }
  if (cleanEntropy.length === 0) {
    throw new AntidoteError('INVALID_ARGUMENT', 'STRIP needs clean entropies to set a threshold');
  }
  const s = Float64Array.from(cleanEntropy).sort();
  return s[Math.min(s.length - 1, Math.floor(frr * s.length))]!;
}

/** A fitted STRIP detector: plain data (JSON-serialisable apart from the pool it keeps). */
export interface StripFit {
  /** Entropy threshold in bits: inputs strictly below it are rejected. */
  readonly threshold: number;
  /** The FRR the threshold was chosen for. */
  readonly frr: number;
  /** Clean entropies the threshold was fitted on (measured, not the pool's). */
  readonly cleanEntropy: Float32Array;
  /** The held-out clean pool overlays are drawn from, with its value range. */
  readonly heldOut: StripRecords;
  /** Options used for every entropy computation of this detector. */
  readonly options: Required<StripOptions>;
}

/**
 * Fits STRIP: the entropy of each `clean` input (not in `heldOut`) is measured against the
 * `heldOut` pool, and the threshold set at false rejection rate `frr` (default 0.01).
 */
export async function fitStrip(
  model: Classifier,
  clean: StripRecords,
  heldOut: StripRecords,
  options: StripOptions & { readonly frr?: number },
): Promise<StripFit> {
  const o = resolve(options);
  const frr = options.frr ?? 0.01;
  const pool: StripRecords = { x: heldOut.x, n: heldOut.n, range: valueRange(heldOut.x) };
  const cleanEntropy = await stripEntropy(model, clean.x, clean.n, pool, {
    ...o,
    seed: new Rng(o.seed).fork('strip-fit').nextUint32(),
  });
  return {
    threshold: stripThreshold(cleanEntropy, frr),
    frr,
    cleanEntropy,
    heldOut: pool,
    options: o,
  };
}

/** Per-input STRIP decision. */
export interface StripDecision {
  /**
   * Mean entropy (bits) per input over the overlays evaluated: all N, or, for inputs accepted
   * early ({@link StripDetectOptions.earlyAccept}), the first ones (an estimate of the mean).
   */
  readonly entropy: Float32Array;
  /** 1 = rejected as likely triggered (entropy below the threshold). */
  readonly rejected: Uint8Array;
  /** Overlays evaluated per input (N unless accepted early), from {@link stripDetect}. */
  readonly overlaysEvaluated?: Uint16Array;
}

/** Options of {@link stripDetect}. */
export interface StripDetectOptions {
  /**
   * Exact early acceptance: evaluate the overlays in stages and stop for an input as soon as the
   * entropies so far sum to at least N × threshold. Entropies are never negative, so its mean
   * over all N could not fall below the threshold: the decision is the one the full computation
   * gives, at a fraction of the cost for clean inputs (triggered ones, with low entropy, still
   * get all N). The reported entropy of an input accepted early is the mean over its evaluated
   * overlays. Default false.
   */
  readonly earlyAccept?: boolean;
  /** Overlays per stage with `earlyAccept`; default 2. */
  readonly stage?: number;
}

/**
 * Runs a fitted STRIP detector on `n` inputs. `seed` (default: the fit's seed forked for
 * detection) draws the overlays.
 */
export async function stripDetect(
  model: Classifier,
  x: Float32Array,
  n: number,
  fit: StripFit,
  seed?: number,
  options: StripDetectOptions = {},
): Promise<StripDecision> {
  const job = entropyJob(model, x, n, fit.heldOut, {
    ...fit.options,
    seed: seed ?? new Rng(fit.options.seed).fork('strip-detect').nextUint32(),
  });
  const overlays = job.o.overlays;
  const stage = options.earlyAccept ? (options.stage ?? 2) : overlays;
  if (!Number.isInteger(stage) || stage < 1) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `STRIP stage must be an integer ≥ 1, got ${stage}`,
      {
        field: 'stage',
      },
    );
  }
  const sums = new Float64Array(n);
  const evaluated = new Uint16Array(n);
  const enough = overlays * fit.threshold;
  let open = Int32Array.from({ length: n }, (_, i) => i);
  for (let from = 0; from < overlays && open.length > 0; from += stage) {
    const to = Math.min(overlays, from + stage);
    await addEntropies(job, open, from, to, sums);
    for (const i of open) evaluated[i] = to;
    if (to < overlays) open = open.filter((i) => sums[i]! < enough);
  }
  const entropy = Float32Array.from(sums, (s, i) => s / evaluated[i]!);
  const rejected = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    // Inputs accepted early have sums ≥ N·threshold, so their full mean is ≥ threshold too.
    rejected[i] = evaluated[i] === overlays && sums[i]! / overlays < fit.threshold ? 1 : 0;
  }
  return { entropy, rejected, overlaysEvaluated: evaluated };
}

/** Measured STRIP error rates. */
export interface StripRates {
  /** False rejection rate: share of clean inputs rejected. */
  readonly frr: number;
  /** False acceptance rate: share of triggered inputs accepted. */
  readonly far: number;
  readonly cleanInputs: number;
  readonly triggeredInputs: number;
}

/** FRR and FAR from the decisions on clean and on triggered inputs. */
export function stripRates(cleanRejected: Uint8Array, triggeredRejected: Uint8Array): StripRates {
  let rejectedClean = 0;
  for (const r of cleanRejected) rejectedClean += r;
  let acceptedTriggered = 0;
  for (const r of triggeredRejected) acceptedTriggered += 1 - r;
  return {
    frr: cleanRejected.length === 0 ? 0 : rejectedClean / cleanRejected.length,
    far: triggeredRejected.length === 0 ? 0 : acceptedTriggered / triggeredRejected.length,
    cleanInputs: cleanRejected.length,
    triggeredInputs: triggeredRejected.length,
  };
}
