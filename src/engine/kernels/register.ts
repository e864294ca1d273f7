import {
  getKernel,
  type KernelConfig,
  registerKernel,
  unregisterKernel,
} from '@tensorflow/tfjs-core';
import { batchMatMulKernel, fusedMatMulKernel } from './batch-matmul.js';
import { conv2dKernel } from './conv2d.js';
import { conv2dBackpropFilterKernel } from './conv2d-backprop-filter.js';
import { conv2dBackpropInputKernel } from './conv2d-backprop-input.js';
import { identityKernel } from './identity.js';
import { maxPoolGradKernel, maxPoolKernel } from './max-pool-grad.js';
import { sumKernel } from './sum.js';

/** A replacement kernel, built with the backend's original (if any) for fallbacks. */
type KernelFactory = (backendName: string, original: KernelConfig) => KernelConfig;

/**
 * Antidote's kernels, per backend. On wasm they replace slow loops with Antidote's WebAssembly SIMD
 * kernels (`native/kernels.c`) or compositions of the XNNPACK-backed kernels, and copies with
 * shared data; on cpu only the filter gradient (a naive loop there too) is replaced.
 */
const CUSTOM_KERNELS: Record<string, ReadonlyArray<[string, KernelFactory]>> = {
  wasm: [
    ['Conv2D', conv2dKernel],
    ['FusedConv2D', conv2dKernel],
    ['Conv2DBackpropFilter', conv2dBackpropFilterKernel],
    ['Conv2DBackpropInput', conv2dBackpropInputKernel],
    ['BatchMatMul', batchMatMulKernel],
    ['_FusedMatMul', fusedMatMulKernel],
    ['MaxPool', maxPoolKernel],
    ['MaxPoolGrad', maxPoolGradKernel],
    ['Sum', sumKernel],
    ['Identity', identityKernel],
    ['Cast', identityKernel],
  ],
  cpu: [['Conv2DBackpropFilter', conv2dBackpropFilterKernel]],
};

let registered = false;
const replaced = new Map<string, KernelConfig>();

/**
 * Registers Antidote's kernels with TF.js, once (see {@link CUSTOM_KERNELS}): the wasm backend
 * has no `Conv2DBackpropFilter` at all, and its input gradient, transposed matrix products and
 * max-pool gradient are slow loops. Safe to call repeatedly.
 */
export function registerCustomKernels(): void {
  if (registered) return;
  for (const [backendName, kernels] of Object.entries(CUSTOM_KERNELS)) {
    for (const [kernelName, factory] of kernels) {
      const original = getKernel(kernelName, backendName);
      if (original) {
        replaced.set(`${kernelName}/${backendName}`, original);
        unregisterKernel(kernelName, backendName);
      }
      const config = factory(backendName, original ?? missingKernel(kernelName, backendName));
      // The wasm backend binds its C++ functions in each kernel's setupFunc when it starts:
      // keep the original's, so the fallbacks to it still work.
      registerKernel({
        ...config,
        ...(original?.setupFunc ? { setupFunc: original.setupFunc } : {}),
        ...(original?.disposeFunc ? { disposeFunc: original.disposeFunc } : {}),
      });
    }
  }
  registered = true;
}

function missingKernel(kernelName: string, backendName: string): KernelConfig {
  return {
    kernelName,
    backendName,
    kernelFunc: () => {
      throw new Error(`TF.js has no ${kernelName} kernel for the ${backendName} backend`);
    },
  };
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

/** Whether Antidote replaced TF.js's own `kernelName` kernel on `backendName`. */
export function hasOriginalKernel(kernelName: string, backendName: string): boolean {
  return replaced.has(`${kernelName}/${backendName}`);
}
