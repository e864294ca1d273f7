import * as tf from '@tensorflow/tfjs-core';
import { hasOriginalKernel, withOriginalKernel } from '../engine/kernels/register.js';
import { Rng } from '../util/rng.js';

/** A tensor of seeded standard-normal values. */
export function randomTensor(shape: number[], rng: Rng): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(
    Float32Array.from({ length: n }, () => rng.normal()),
    shape,
  );
}

/** max |a − b| / max |b|. */
export function maxRelativeError(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Number.POSITIVE_INFINITY;
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num = Math.max(num, Math.abs(a[i]! - b[i]!));
    den = Math.max(den, Math.abs(b[i]!));
  }
  return num / Math.max(den, 1e-12);
}

/**
 * Runs `compute(seededRng)` on `backendName` with Antidote's kernels, and on the cpu backend with
 * TF.js's own kernel `kernelName` (restored there if Antidote replaces it), returning both results;
 * the same seed gives both the same inputs. TF.js's cpu kernels are the reference: the wasm
 * backend's own MaxPoolGrad, for one, disagrees with them on some inputs.
 */
export async function oursAndReference(
  kernelName: string,
  backendName: string,
  seed: number,
  compute: (rng: Rng) => Float32Array,
): Promise<{ ours: Float32Array; reference: Float32Array }> {
  await tf.setBackend(backendName);
  const ours = compute(new Rng(seed));
  await tf.setBackend('cpu');
  const reference = hasOriginalKernel(kernelName, 'cpu')
    ? await withOriginalKernel(kernelName, 'cpu', () => compute(new Rng(seed)))
    : compute(new Rng(seed));
  await tf.setBackend(backendName);
  return { ours, reference };
}
