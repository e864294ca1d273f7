import {
  Cast,
  type CastAttrs,
  type KernelBackend,
  type KernelConfig,
  type TensorInfo,
} from '@tensorflow/tfjs-core';

/**
 * `Identity` (and `Cast` to the same dtype) without a copy: the output shares the input's data,
 * as the backend's `Reshape` already does. The wasm backend copies the whole tensor instead, and
 * TF.js's tape clones (`Identity`) every tensor it saves for the backward pass: about 30 full
 * copies of activations per CNN training step. Sharing is safe because tensor data is never
 * written in place (variables get fresh data on `assign`). Strings use the original kernel.
 */
export function identityKernel(backendName: string, original: KernelConfig): KernelConfig {
  return {
    kernelName: original.kernelName,
    backendName,
    kernelFunc: (args) => {
      const { x } = args.inputs as { x: TensorInfo };
      if (x.dtype === 'string') return original.kernelFunc(args);
      if (original.kernelName === Cast && (args.attrs as unknown as CastAttrs).dtype !== x.dtype) {
        return original.kernelFunc(args);
      }
      (args.backend as KernelBackend).incRef(x.dataId);
      return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
    },
  };
}
