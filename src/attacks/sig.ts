/**
 * SIG, the sinusoidal-signal clean-label backdoor (Barni, Kallas & Tondi 2019, "A New Backdoor
 * Attack in CNNs by Training Set Corruption Without Label Poisoning", ICIP). A share α of the
 * target class's training images gets a faint signal superimposed, their labels untouched; the
 * model learns the signal as evidence of the target class, and at test time the same signal
 * (possibly stronger, Δ_test ≥ Δ) superimposed on any input sends it there. The signal is a
 * function of the column only, on every row and channel of an m-column image:
 *
 * - sinusoidal: `v(i, j) = Δ · sin(2π · j · f / m)`;
 * - ramp: `v(i, j) = j · Δ / m`;
 *
 * with j = 1…m (the paper's 1-based column index). The poisoned image is `clip(x + v, 0, 1)`
 * (values on the [0, 1] scale, so the paper's Δ = 20 of 255 is 20/255 ≈ 0.078). The paper
 * attacks MNIST with the ramp and GTSRB with the sinusoid (Δ = 20, f = 6).
 */
import { type Dataset, recordShape } from '../data/dataset.js';
import { AntidoteError } from '../errors.js';
import type { Rng } from '../util/rng.js';
import type { PoisoningAttack, PoisonResult } from './attack.js';
import {
  cleanLabelResult,
  type ImageTransform,
  sampleTargetClass,
  transformRecords,
} from './target-class.js';
import { imageDims } from './triggers.js';

/** The two signals of the paper. */
export type SigSignal = 'sin' | 'ramp';

/** Every SIG signal, for CLI choices. */
export const SIG_SIGNALS: readonly SigSignal[] = Object.freeze(['sin', 'ramp']);

/** The signal superimposed by SIG. */
export interface SigSignalSpec {
  readonly signal: SigSignal;
  /** Amplitude Δ on the [0, 1] scale, in (0, 1]. */
  readonly delta: number;
  /** Frequency f of the sinusoid (periods across the width), > 0; ignored by the ramp. */
  readonly frequency?: number;
}

/** Options of {@link sigAttack}. */
export interface SigOptions extends SigSignalSpec {
  /** The target class (only its records are modified). */
  readonly target: number;
  /** Share α of the target class's records poisoned, in (0, 1). */
  readonly rate: number;
  /** Δ of the test-time signal (default: Δ), recorded for evaluation. */
  readonly testDelta?: number;
}

/** The default sinusoid frequency (the paper's f = 6). */
export const SIG_DEFAULT_FREQUENCY = 6;

/** `INVALID_ARGUMENT` for a bad signal spec. */
export function checkSigSignal(spec: SigSignalSpec, field = 'delta'): void {
  if (!(SIG_SIGNALS as readonly unknown[]).includes(spec.signal)) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `SIG signal must be one of ${SIG_SIGNALS.join(', ')}, got ${String(spec.signal)}`,
      { field: 'signal' },
    );
  }
  if (typeof spec.delta !== 'number' || !(spec.delta > 0 && spec.delta <= 1)) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `SIG ${field} must be in (0, 1] (values on the [0, 1] scale), got ${spec.delta}`,
      { field },
    );
  }
  const f = spec.frequency ?? SIG_DEFAULT_FREQUENCY;
  if (typeof f !== 'number' || !(f > 0 && Number.isFinite(f))) {
    throw new AntidoteError('INVALID_ARGUMENT', `SIG frequency must be > 0, got ${f}`, {
      field: 'frequency',
    });
  }
}

/**
 * The signal of one column per column of an m-column image: `Δ·sin(2π·j·f/m)` (sin) or `j·Δ/m`
 * (ramp), j = 1…m.
 */
export function sigColumnSignal(spec: SigSignalSpec, m: number): Float32Array {
  checkSigSignal(spec);
  const f = spec.frequency ?? SIG_DEFAULT_FREQUENCY;
  const v = new Float32Array(m);
  for (let col = 0; col < m; col++) {
    const j = col + 1;
    v[col] =
      spec.signal === 'sin'
        ? spec.delta * Math.sin((2 * Math.PI * j * f) / m)
        : (j * spec.delta) / m;
  }
  return v;
}

/** The SIG signal as a trigger: `clip(x + v, 0, 1)` on every row and channel. */
export function sigTrigger(spec: SigSignalSpec): ImageTransform {
  checkSigSignal(spec);
  const cache = new Map<number, Float32Array>();
  return {
    apply(image, shape) {
      const { h, w, c } = imageDims(shape);
      if (image.length !== h * w * c) {
        throw new AntidoteError(
          'SHAPE_MISMATCH',
          `image has ${image.length} values but shape [${shape.join(', ')}] needs ${h * w * c}`,
        );
      }
      let v = cache.get(w);
      if (!v) {
        v = sigColumnSignal(spec, w);
        cache.set(w, v);
      }
      const out = new Float32Array(image.length);
      for (let i = 0; i < image.length; i++) {
        const col = Math.floor(i / c) % w;
        out[i] = Math.min(1, Math.max(0, image[i]! + v[col]!));
      }
      return out;
    },
  };
}

/** Validates SIG options (before any data is touched). */
export function checkSigOptions(o: SigOptions): void {
  checkSigSignal(o);
  if (o.testDelta !== undefined) checkSigSignal({ ...o, delta: o.testDelta }, 'testDelta');
}

/**
 * The SIG attack: a seeded sample (`rng.fork('select')`) of α of the target class gets the
 * signal; nothing else changes (labels, other classes, the rest of the records).
 */
export const sigAttack: PoisoningAttack<SigOptions> = Object.freeze({
  name: 'sig',
  poison(ds: Dataset, o: SigOptions, rng: Rng): PoisonResult {
    const shape = recordShape(ds);
    if (shape.length !== 2 && shape.length !== 3) {
      throw new AntidoteError(
        'INVALID_ARGUMENT',
        `SIG needs image records [H, W] or [H, W, C], got [${shape.join(', ')}]`,
      );
    }
    checkSigOptions(o);
    const sample = sampleTargetClass(ds, o.target, o.rate, rng);
    const trigger = sigTrigger(o);
    const rows = transformRecords(ds, sample.chosen, (row) => trigger.apply(row, shape, rng));
    return cleanLabelResult(
      ds,
      sample,
      rows,
      'sig',
      {
        target: o.target,
        rate: o.rate,
        signal: o.signal,
        delta: o.delta,
        ...(o.signal === 'sin' ? { frequency: o.frequency ?? SIG_DEFAULT_FREQUENCY } : {}),
        testDelta: o.testDelta ?? o.delta,
      },
      rng.seed,
    );
  },
});

/** The test-time trigger of a SIG record's params (Δ_test, default Δ). */
export function sigTestTrigger(o: SigOptions): ImageTransform {
  return sigTrigger({ ...o, delta: o.testDelta ?? o.delta });
}
