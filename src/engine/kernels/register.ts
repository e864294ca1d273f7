import {
  getKernel,
  type KernelConfig,
  registerKernel,
  unregisterKernel,
} from '@tensorflow/tfjs-core';
import { conv2dBackpropFilterKernel } from './conv2d-backprop-filter.js';

let registered = false;
const replaced = new Map<string, KernelConfig>();

/**
 * Registers Antidote's kernels with TF.js, once: a fast `Conv2DBackpropFilter` for the wasm backend
 * (which has none) and the cpu backend (whose own is a slow loop). Safe to call repeatedly.
 */
export function registerCustomKernels(): void {
  if (registered) return;
  for (const backendName of ['wasm', 'cpu']) {
    const config = conv2dBackpropFilterKernel(backendName);
    const original = getKernel(config.kernelName, backendName);
    if (original) {
      replaced.set(`${config.kernelName}/${backendName}`, original);
      unregisterKernel(config.kernelName, backendName);
    }
    registerKernel(config);
  }
  registered = true;
}

/**
 * Runs `fn` with TF.js's own kernel `kernelName` restored on `backendName` (the reference that
 * Antidote's replacement is tested against), then re-registers Antidote's.
 */
export async function withOriginalKernel<T>(
  kernelName: string,
  backendName: string,
  fn: () => T | Promise<T>,
): Promise<T> {
  const original = replaced.get(`${kernelName}/${backendName}`);
  const ours = getKernel(kernelName, backendName);
  if (!original || !ours)
    throw new Error(`no original ${kernelName} kernel recorded for ${backendName}`);
  unregisterKernel(kernelName, backendName);
  registerKernel(original);
  try {
    return await fn();
  } finally {
    unregisterKernel(kernelName, backendName);
    registerKernel(ours);
  }
}
