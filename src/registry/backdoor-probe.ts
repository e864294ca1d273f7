import { Rng } from '../data/rng.js';
import type { Classifier } from '../engine/classifier.js';
import { AntidoteError } from '../errors.js';

/**
 * STRIP, the run-time backdoor probe of Gao et al. 2019, "STRIP: A Defence Against Trojan Attacks
 * on Deep Neural Networks" (ACSAC). Each input is superimposed with N held-out clean inputs and
 * the Shannon entropy of the model's predictions is averaged over the N blends. A clean input's
 * class is destroyed by the blending, so its predictions spread (high entropy); a triggered input
 * keeps steering the model to the target class (low entropy). The rejection threshold is the
 * entropy quantile of held-out clean inputs at a chosen false rejection rate (FRR = clean inputs
 * rejected; FAR = triggered inputs accepted).
 */

/** A block of records: features row-major, `n` records of `dim` values each. */
export interface RecordBlock {
  readonly x: Float32Array;
  readonly n: number;
}

/** Options of {@link stripEntropies}. */
export interface StripOptions {
  /** Clean inputs superimposed on each input (N); default 10. */
  readonly overlays?: number;
  /**
   * `add-clip` (the paper's image superimposition: x + x_clean, clipped to the clean pool's value
   * range) or `blend` (0.5·x + 0.5·x_clean, for features without a natural range); default `add-clip`.
   */
  readonly mode?: 'add-clip' | 'blend';
  /** Records per forward pass; default 1024. */
  readonly batchSize?: number;
}

/** Shannon entropy (bits) of one probability row. */
export function entropyBits(p: ArrayLike<number>, offset = 0, k = p.length): number {
  let h = 0;
  for (let j = 0; j < k; j++) {
    const v = p[offset + j];
    if (v > 1e-12) h -= v * Math.log2(v);
  }
  return h;
}

function valueRange(pool: RecordBlock): [number, number] {
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < pool.x.length; i++) {
    const v = pool.x[i];
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return [lo, hi];
}

/**
 * Mean prediction entropy (bits) of each of the `n` records of `x` over `overlays` blends with
 * records drawn (seeded, from `rng`) from the clean `pool`. Returns `[n]`.
 */
export async function stripEntropies(
  model: Classifier,
  input: RecordBlock,
  pool: RecordBlock,
  rng: Rng,
  options: StripOptions = {},
): Promise<Float32Array> {
  const overlays = options.overlays ?? 10;
  const mode = options.mode ?? 'add-clip';
  const batch = options.batchSize ?? 1024;
  const dim = model.inputShape.reduce((a, b) => a * b, 1);
  if (!Number.isInteger(overlays) || overlays < 1) {
    throw new AntidoteError('INVALID_ARGUMENT', `STRIP overlays must be ≥ 1, got ${overlays}`);
  }
  if (pool.n < 1 || pool.x.length !== pool.n * dim || input.x.length !== input.n * dim) {
    throw new AntidoteError(
      'SHAPE_MISMATCH',
      `STRIP: inputs and clean pool must hold records of ${dim} features (pool: ${pool.n} records)`,
    );
  }
  const [lo, hi] = valueRange(pool);
  const k = model.numClasses;
  const out = new Float32Array(input.n);
  const perBatch = Math.max(1, Math.floor(batch / overlays));
  for (let start = 0; start < input.n; start += perBatch) {
    const m = Math.min(perBatch, input.n - start);
    const blended = new Float32Array(m * overlays * dim);
    for (let i = 0; i < m; i++) {
      const xi = (start + i) * dim;
      for (let o = 0; o < overlays; o++) {
        const pj = rng.int(pool.n) * dim;
        const base = (i * overlays + o) * dim;
        for (let d = 0; d < dim; d++) {
          const a = input.x[xi + d];
          const b = pool.x[pj + d];
          blended[base + d] =
            mode === 'blend' ? 0.5 * a + 0.5 * b : Math.min(hi, Math.max(lo, a + b));
        }
      }
    }
    const probs = await model.predictProba(blended, m * overlays);
    for (let i = 0; i < m; i++) {
      let s = 0;
      for (let o = 0; o < overlays; o++) s += entropyBits(probs, (i * overlays + o) * k, k);
      out[start + i] = s / overlays;
    }
  }
  return out;
}

/**
 * The rejection threshold at false rejection rate `frr`: the `frr`-quantile of clean entropies
 * (inputs with entropy strictly below it are rejected as likely triggered).
 */
export function stripThreshold(cleanEntropies: ArrayLike<number>, frr: number): number {
  if (!(frr > 0 && frr < 1)) {
    throw new AntidoteError('INVALID_ARGUMENT', `STRIP FRR must be in (0, 1), got ${frr}`);
  }
  const s = Float64Array.from(cleanEntropies).sort();
  if (s.length === 0) throw new AntidoteError('INVALID_ARGUMENT', 'STRIP needs clean entropies');
  return s[Math.min(s.length - 1, Math.floor(frr * s.length))];
}

/** Options of {@link StripProbe.calibrate}. */
export interface StripCalibration extends StripOptions {
  /** Target false rejection rate on clean inputs, default 0.05. */
  readonly frr?: number;
  readonly seed: number;
}

/** A calibrated STRIP detector: clean pool, threshold, and a seeded stream of overlay choices. */
export class StripProbe {
  private readonly rng: Rng;

  private constructor(
    readonly model: Classifier,
    /** Clean inputs used for superimposition. */
    readonly pool: RecordBlock,
    /** Entropy threshold (bits); entropies below are rejected. */
    readonly threshold: number,
    /** FRR the threshold was set for. */
    readonly frr: number,
    /** Measured clean entropies of the calibration half (for reports). */
    readonly cleanEntropies: Float32Array,
    readonly options: StripOptions,
    seed: number,
  ) {
    this.rng = new Rng(seed).fork('strip-score');
  }

  /**
   * Calibrates on clean held-out records: a seeded half becomes the overlay pool, the other half
   * sets the threshold at `frr` (so the threshold is measured on inputs not in the pool).
   */
  static async calibrate(
    model: Classifier,
    clean: RecordBlock,
    options: StripCalibration,
  ): Promise<StripProbe> {
    const dim = model.inputShape.reduce((a, b) => a * b, 1);
    if (clean.n < 4) {
      throw new AntidoteError(
        'INVALID_ARGUMENT',
        'STRIP calibration needs at least 4 clean records',
      );
    }
    const rng = new Rng(options.seed);
    const perm = rng.permutation(clean.n);
    const half = Math.floor(clean.n / 2);
    const take = (idx: ArrayLike<number>): RecordBlock => {
      const x = new Float32Array(idx.length * dim);
      for (let i = 0; i < idx.length; i++)
        x.set(clean.x.subarray(idx[i] * dim, (idx[i] + 1) * dim), i * dim);
      return { x, n: idx.length };
    };
    const pool = take(perm.subarray(0, half));
    const held = take(perm.subarray(half));
    const frr = options.frr ?? 0.05;
    const ent = await stripEntropies(model, held, pool, rng.fork('calibrate'), options);
    return new StripProbe(model, pool, stripThreshold(ent, frr), frr, ent, options, options.seed);
  }

  /** Entropy and decision (1 = rejected, likely triggered) per record. */
  async score(input: RecordBlock): Promise<{ entropy: Float32Array; rejected: Uint8Array }> {
    const entropy = await stripEntropies(this.model, input, this.pool, this.rng, this.options);
    return { entropy, rejected: Uint8Array.from(entropy, (h) => (h < this.threshold ? 1 : 0)) };
  }
}
