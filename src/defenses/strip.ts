/**
 * STRIP, the run-time trojan detector of Gao, Xu, Wang, Chen, Ranasinghe & Nepal 2019, "STRIP: A
 * Defence Against Trojan Attacks on Deep Neural Networks" (ACSAC). Each input is superimposed with
 * N held-out clean inputs and the Shannon entropy of the model's prediction is averaged over the N
 * blends. Blending destroys a clean input's class evidence, so its predictions spread out (high
 * entropy); a triggered input keeps steering the model to the target class whatever is blended
 * in (low entropy). The rejection threshold is the entropy quantile of clean inputs at a chosen
 * false rejection rate.
 *
 * Names as in DESIGN.md §3: **FRR** = share of clean inputs rejected, **FAR** = share of triggered
 * inputs accepted (one well-known implementation swaps them).
 *
 * Pure functions over any {@link Classifier}; every random choice comes from an explicit seed.
 */
import { Rng } from '../data/rng.js';
import type { Classifier } from '../engine/classifier.js';
import { AntidoteError } from '../errors.js';

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
  return { x: ds.x, n: ds.shape[0] };
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
    const v = p[offset + j];
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
    const v = x[i];
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return [lo, hi];
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
  const o = resolve(options);
  const size = recordSize(model);
  checkBlock({ x, n }, size, 'inputs');
  checkBlock(heldOut, size, 'held-out pool');
  if (heldOut.n < 1) {
    throw new AntidoteError('INVALID_ARGUMENT', 'STRIP needs at least one held-out clean record');
  }
  const [lo, hi] = heldOut.range ?? valueRange(heldOut.x);
  const rng = new Rng(o.seed);
  const k = model.numClasses;
  const out = new Float32Array(n);
  const perBatch = Math.max(1, Math.floor(o.batchSize / o.overlays));
  const blended = new Float32Array(Math.min(perBatch, Math.max(n, 1)) * o.overlays * size);
  for (let start = 0; start < n; start += perBatch) {
    const m = Math.min(perBatch, n - start);
    for (let i = 0; i < m; i++) {
      const xi = (start + i) * size;
      for (let v = 0; v < o.overlays; v++) {
        const pj = rng.int(heldOut.n) * size;
        const base = (i * o.overlays + v) * size;
        if (o.superimpose === 'blend') {
          for (let d = 0; d < size; d++)
            blended[base + d] = 0.5 * x[xi + d] + 0.5 * heldOut.x[pj + d];
        } else {
          for (let d = 0; d < size; d++) {
            const s = x[xi + d] + heldOut.x[pj + d];
            blended[base + d] = s > hi ? hi : Math.max(s, lo);
          }
        }
      }
    }
    const rows = m * o.overlays;
    const probs = await model.predictProba(blended.subarray(0, rows * size), rows);
    for (let i = 0; i < m; i++) {
      let s = 0;
      for (let v = 0; v < o.overlays; v++) s += entropyBits(probs, (i * o.overlays + v) * k, k);
      out[start + i] = s / o.overlays;
    }
  }
  return out;
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
  return s[Math.min(s.length - 1, Math.floor(frr * s.length))];
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
  /** Mean entropy (bits) per input. */
  readonly entropy: Float32Array;
  /** 1 = rejected as likely triggered (entropy below the threshold). */
  readonly rejected: Uint8Array;
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
): Promise<StripDecision> {
  const entropy = await stripEntropy(model, x, n, fit.heldOut, {
    ...fit.options,
    seed: seed ?? new Rng(fit.options.seed).fork('strip-detect').nextUint32(),
  });
  return { entropy, rejected: Uint8Array.from(entropy, (h) => (h < fit.threshold ? 1 : 0)) };
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
