/**
 * An optional fast dense matrix product for the numeric routines (the covariance and projection
 * loops of {@link rowCovariance} and {@link projectRows}).
 *
 * numeric/ sits below engine/ and knows nothing of TensorFlow.js: engine/backend.ts registers the
 * wasm engine's XNNPACK product here when it loads, and the routines use it only while it reports
 * itself active (the wasm engine started and still the active backend), about ten times the speed
 * of the plain loops on large inputs. Without a registered accelerator every routine runs its
 * plain typed-array loop.
 */

/** A dense float32 matrix product that may be active or not at a given moment. */
export interface MatMulAccelerator {
  /** True while the product should be used (for the engine: the wasm backend is active). */
  active(): boolean;
  /**
   * `a` (`[m, k]`) times `b` (`[k, n]`), both row-major float32, as a new row-major `[m, n]`
   * Float32Array. Deterministic for a given backend.
   */
  matMul(a: Float32Array, b: Float32Array, m: number, k: number, n: number): Float32Array;
}

/** Below this many multiply-adds the plain loop beats handing the product to the accelerator. */
export const ACCELERATOR_MIN_WORK = 4_000_000;

let registered: MatMulAccelerator | undefined;

/** Registers (or, with `undefined`, removes) the matrix product the numeric routines may use. */
export function setMatMulAccelerator(accelerator: MatMulAccelerator | undefined): void {
  registered = accelerator;
}

/**
 * The registered accelerator when it is active and the product has at least `work` multiply-adds
 * ({@link ACCELERATOR_MIN_WORK}); `undefined` when the plain loop should run.
 */
export function acceleratorFor(work: number): MatMulAccelerator | undefined {
  return work >= ACCELERATOR_MIN_WORK && registered?.active() ? registered : undefined;
}
