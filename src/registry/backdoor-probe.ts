import {
  fitStrip,
  type StripFit,
  type StripSuperimpose,
  stripDetect,
  superimposeInto,
} from '../defenses/strip.js';
import type { Classifier } from '../engine/classifier.js';
import { AntidoteError } from '../errors.js';
import { Rng } from '../util/rng.js';

/**
 * The STRIP backdoor probe used by the gate and by the live-traffic monitor: a calibrated
 * detector over `src/defenses/strip.ts` (Gao et al. 2019, "STRIP: A Defence Against Trojan
 * Attacks on Deep Neural Networks", ACSAC). Each input is superimposed with N clean inputs and the
 * prediction entropy averaged; triggered inputs keep a low entropy. The threshold is the clean
 * entropy quantile at a chosen false rejection rate (FRR = clean inputs rejected).
 *
 * Low entropy alone is not evidence of a trigger. An input that carries little class evidence of
 * its own (shifted, dimmed, out-of-distribution: a translated clean image, say) lets the overlay
 * decide each blend, and each blend is then predicted confidently as the overlay's class: low
 * entropy too, though no class survives the blending. STRIP's premise is the opposite: a trigger
 * makes the predictions of the perturbed input invariant (Gao et al. 2019, §III). So every input
 * STRIP rejects is checked once more: it is blended with N clean overlays that the model predicts
 * as another class than the input, and it is kept as rejected (evidence of a trigger) only when
 * its own class wins most of those blends; otherwise it is reported as `overlayDominated` and not
 * rejected. Measured on the test fixtures' 8×8 images (60 of each, FRR 5%, N = 8): with the
 * backdoored mlp, triggered inputs stay rejected (97%), while clean images translated by one or
 * two pixels (STRIP alone: 62% and 68% rejected) or dimmed to half (67%) are all overlay-dominated
 * (0% rejected). Limitation: an input brightened until the add-clip sum saturates (+0.5 on [0, 1])
 * dominates its blends by saturation; the clean mlp still rejects 52% of those.
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

/** What {@link StripProbe.score} says about each record. */
export interface StripScore {
  /** Mean prediction entropy (bits) under superimposition (see `stripDetect`). */
  readonly entropy: Float32Array;
  /** 1 = rejected as likely triggered: low entropy and its own class wins the control blends. */
  readonly rejected: Uint8Array;
  /**
   * 1 = low entropy, but the overlays decided the blends (the input's class won at most half of
   * the control blends): no evidence of a trigger, typical of shifted or out-of-distribution
   * inputs. Never also `rejected`.
   */
  readonly overlayDominated: Uint8Array;
  /**
   * Share of the control blends predicted as the input's own class, for the low-entropy records
   * (NaN for the others, and where the pool holds no overlay of another class).
   */
  readonly dominance: Float32Array;
}

/** A calibrated STRIP detector with a seeded stream of overlay draws (one seed per call). */
export class StripProbe {
  private readonly rng: Rng;
  private readonly controlRng: Rng;

  private constructor(
    readonly model: Classifier,
    /** The fitted detector: threshold, FRR, clean entropies, overlay pool. */
    readonly fit: StripFit,
    /** The model's predicted class of each overlay-pool record. */
    readonly poolClasses: Int32Array,
    seed: number,
  ) {
    this.rng = new Rng(seed).fork('strip-score');
    this.controlRng = new Rng(seed).fork('strip-control');
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
    const poolClasses = await model.predict(fit.heldOut.x, fit.heldOut.n);
    return new StripProbe(model, fit, poolClasses, options.seed);
  }

  /**
   * Entropy and decision per record: STRIP's low-entropy rejections, each checked against control
   * blends (see the module comment) into `rejected` (likely triggered) or `overlayDominated`.
   * `earlyAccept` stops evaluating overlays for an input once its acceptance is certain (see
   * `stripDetect`). The controls cost N forward passes per low-entropy record only.
   */
  async score(
    input: RecordBlock,
    options: { readonly earlyAccept?: boolean } = {},
  ): Promise<StripScore> {
    const d = await stripDetect(this.model, input.x, input.n, this.fit, this.rng.nextUint32(), {
      earlyAccept: options.earlyAccept === true,
    });
    const low: number[] = [];
    for (let i = 0; i < input.n; i++) if (d.rejected[i] === 1) low.push(i);
    const dominance = new Float32Array(input.n).fill(Number.NaN);
    const rejected = new Uint8Array(input.n);
    const overlayDominated = new Uint8Array(input.n);
    const measured = await this.dominance(input, low);
    low.forEach((i, j) => {
      const share = measured[j]!;
      dominance[i] = share;
      // Without a control (no overlay of another class), STRIP's decision stands.
      if (share > 0.5 || Number.isNaN(share)) rejected[i] = 1;
      else overlayDominated[i] = 1;
    });
    return { entropy: d.entropy, rejected, overlayDominated, dominance };
  }

  /**
   * For each record `idx[j]` of `input`: the share of N blends with overlays of another predicted
   * class that the model still predicts as the record's own class (NaN without such overlays).
   */
  private async dominance(input: RecordBlock, idx: readonly number[]): Promise<Float32Array> {
    const out = new Float32Array(idx.length).fill(Number.NaN);
    if (idx.length === 0) return out;
    const size = input.x.length / input.n;
    const sub = new Float32Array(idx.length * size);
    idx.forEach((i, j) => {
      sub.set(input.x.subarray(i * size, (i + 1) * size), j * size);
    });
    const own = await this.model.predict(sub, idx.length);
    const pool = this.fit.heldOut;
    const [lo, hi] = pool.range ?? [0, 1];
    const n = this.fit.options.overlays;
    const blends = new Float32Array(idx.length * n * size);
    const rows: number[] = [];
    for (let j = 0; j < idx.length; j++) {
      const others: number[] = [];
      for (let p = 0; p < pool.n; p++) if (this.poolClasses[p] !== own[j]) others.push(p);
      if (others.length === 0) continue;
      for (let v = 0; v < n; v++) {
        const p = others[this.controlRng.int(others.length)]!;
        superimposeInto(
          blends,
          rows.length * size,
          sub,
          j * size,
          pool.x,
          p * size,
          size,
          this.fit.options.superimpose,
          lo,
          hi,
        );
        rows.push(j);
      }
    }
    if (rows.length === 0) return out;
    const pred = await this.model.predict(blends.subarray(0, rows.length * size), rows.length);
    const wins = new Float64Array(idx.length);
    const tries = new Float64Array(idx.length);
    rows.forEach((j, r) => {
      tries[j]!++;
      if (pred[r] === own[j]) wins[j]!++;
    });
    for (let j = 0; j < idx.length; j++) if (tries[j]! > 0) out[j] = wins[j]! / tries[j]!;
    return out;
  }
}
