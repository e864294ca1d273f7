import { fitStrip, type StripFit, type StripSuperimpose, stripDetect } from '../defenses/strip.js';
import type { Classifier } from '../engine/classifier.js';
import { AntidoteError } from '../errors.js';
import { Rng } from '../util/rng.js';

/**
 * The STRIP backdoor probe used by the gate and by the live-traffic monitor: a calibrated
 * detector over `src/defenses/strip.ts` (Gao et al. 2019, "STRIP: A Defence Against Trojan
 * Attacks on Deep Neural Networks", ACSAC). Each input is superimposed with N clean inputs and the
 * prediction entropy averaged; triggered inputs keep a low entropy. The threshold is the clean
 * entropy quantile at a chosen false rejection rate (FRR = clean inputs rejected).
 */

/** A block of records: features row-major, `n` records. */
export interface RecordBlock {
  readonly x: Float32Array;
  readonly n: number;
}

/** Options of {@link StripProbe.calibrate}. */
export interface StripCalibration {
  /** Target false rejection rate on clean inputs; default 0.05. */
  readonly frr?: number;
  /** Clean inputs superimposed on each input (N); default 10. */
  readonly overlays?: number;
  /** Superimposition (default `add-clip`, the paper's). */
  readonly superimpose?: StripSuperimpose;
  /** Most clean records kept as the overlay pool (the paper holds out 100); default 100. */
  readonly poolSize?: number;
  readonly seed: number;
}

/** A calibrated STRIP detector with a seeded stream of overlay draws (one seed per call). */
export class StripProbe {
  private readonly rng: Rng;

  private constructor(
    readonly model: Classifier,
    /** The fitted detector: threshold, FRR, clean entropies, overlay pool. */
    readonly fit: StripFit,
    seed: number,
  ) {
    this.rng = new Rng(seed).fork('strip-score');
  }

  /** Entropy threshold (bits); entropies below are rejected. */
  get threshold(): number {
    return this.fit.threshold;
  }

  /**
   * Calibrates on clean records: a seeded share (half, at most `poolSize`) becomes the overlay
   * pool, the rest sets the threshold at `frr` (measured on inputs that are not in the pool).
   */
  static async calibrate(
    model: Classifier,
    clean: RecordBlock,
    options: StripCalibration,
  ): Promise<StripProbe> {
    const dim = model.inputShape.reduce((a, b) => a * b, 1);
    if (clean.n < 4 || clean.x.length !== clean.n * dim) {
      throw new AntidoteError(
        'INVALID_ARGUMENT',
        `STRIP calibration needs at least 4 clean records of ${dim} features (got ${clean.n})`,
      );
    }
    const rng = new Rng(options.seed);
    const perm = rng.permutation(clean.n);
    const half = Math.min(Math.floor(clean.n / 2), options.poolSize ?? 100);
    const take = (idx: ArrayLike<number>): RecordBlock => {
      const x = new Float32Array(idx.length * dim);
      for (let i = 0; i < idx.length; i++)
        x.set(clean.x.subarray(idx[i]! * dim, (idx[i]! + 1) * dim), i * dim);
      return { x, n: idx.length };
    };
    const fit = await fitStrip(model, take(perm.subarray(half)), take(perm.subarray(0, half)), {
      seed: rng.nextSeed(),
      frr: options.frr ?? 0.05,
      overlays: options.overlays ?? 10,
      ...(options.superimpose ? { superimpose: options.superimpose } : {}),
    });
    return new StripProbe(model, fit, options.seed);
  }

  /**
   * Entropy and decision (1 = rejected, likely triggered) per record; `earlyAccept` stops
   * evaluating overlays for an input once its acceptance is certain (see `stripDetect`).
   */
  score(
    input: RecordBlock,
    options: { readonly earlyAccept?: boolean } = {},
  ): Promise<{ entropy: Float32Array; rejected: Uint8Array }> {
    return stripDetect(this.model, input.x, input.n, this.fit, this.rng.nextUint32(), {
      earlyAccept: options.earlyAccept === true,
    });
  }
}
