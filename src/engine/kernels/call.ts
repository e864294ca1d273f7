import {
  getKernel,
  type KernelBackend,
  type KernelConfig,
  type NamedAttrMap,
  type TensorInfo,
} from '@tensorflow/tfjs-core';

/** Runs the kernel registered as `name` on `backendName` (or `config`, when given) on raw tensors. */
export function callKernel(
  backendName: string,
  name: string,
  inputs: Record<string, TensorInfo>,
  backend: KernelBackend,
  attrs: object = {},
  config?: KernelConfig,
): TensorInfo {
  const kernel = config ?? getKernel(name, backendName);
  if (!kernel) throw new Error(`kernel ${name} is not registered for backend ${backendName}`);
  return kernel.kernelFunc({ inputs, backend, attrs: attrs as NamedAttrMap }) as TensorInfo;
}

/** Reshape without copying (a new TensorInfo sharing the data is made by the backend's kernel). */
export function reshapeInfo(
  backendName: string,
  x: TensorInfo,
  shape: number[],
  backend: KernelBackend,
): TensorInfo {
  return callKernel(backendName, 'Reshape', { x }, backend, { shape });
}

/** Frees intermediate results of a composite kernel. */
export function disposeInfos(backend: KernelBackend, ...infos: TensorInfo[]): void {
  for (const t of infos) backend.disposeData(t.dataId);
}
