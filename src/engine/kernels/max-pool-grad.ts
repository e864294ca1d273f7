import {
  type KernelBackend,
  type KernelConfig,
  MaxPoolGrad,
  type MaxPoolGradAttrs,
  type TensorInfo,
} from '@tensorflow/tfjs-core';
import { callKernel, disposeInfos } from './call.js';

/**
 * `MaxPoolGrad` for non-overlapping pooling windows (filter size = stride; 'valid' padding, or
 * 'same' on sizes divisible by the window): each window's gradient goes to its *first* maximum, as
 * in TensorFlow,
 * computed with ArgMax and OneHot over the window axis instead of the wasm backend's plain loop
 * (about 20× slower). Input x `[N, H, W, C]` with window `(ph, pw)` is viewed as
 * `[N·H/ph, ph, W/pw, pw, C]`, transposed to `[N·H/ph, W/pw, C, ph, pw]` and flattened per window.
 * Other configurations use the original kernel.
 */
export function maxPoolGradKernel(backendName: string, original: KernelConfig): KernelConfig {
  return {
    kernelName: MaxPoolGrad,
    backendName,
    kernelFunc: (args) => {
      const backend = args.backend as KernelBackend;
      const { dy, input } = args.inputs as { dy: TensorInfo; input: TensorInfo };
      const { filterSize, strides, pad } = args.attrs as unknown as MaxPoolGradAttrs;
      const [ph, pw] = typeof filterSize === 'number' ? [filterSize, filterSize] : filterSize;
      const [sh, sw] = typeof strides === 'number' ? [strides, strides] : strides;
      const [n, h, w, c] = input.shape;
      // 'valid' drops trailing rows/columns that do not fill a window; 'same' pads only then.
      const fits = h % ph === 0 && w % pw === 0;
      const usable = ph === sh && pw === sw && (fits || pad === 'valid' || pad === 0);
      if (!usable || (pad !== 'valid' && pad !== 'same' && pad !== 0))
        return original.kernelFunc(args);
      const call = (name: string, inputs: Record<string, TensorInfo>, attrs: object) =>
        callKernel(backendName, name, inputs, backend, attrs);
      const hc = h - (h % ph);
      const wc = w - (w % pw);
      const cropped = fits
        ? input
        : call('Slice', { x: input }, { begin: [0, 0, 0, 0], size: [n, hc, wc, c] });
      const a = (n * hc) / ph;
      const wo = wc / pw;
      const x5 = call('Reshape', { x: cropped }, { shape: [a, ph, wo, pw, c] });
      const xt = call('Transpose', { x: x5 }, { perm: [0, 2, 4, 1, 3] });
      const windows = call('Reshape', { x: xt }, { shape: [a, wo, c, ph * pw] });
      const first = call('ArgMax', { x: windows }, { axis: 3 });
      // The wasm OneHot kernel always writes int32, whatever dtype it is asked for: cast after.
      const oneHotInt = call(
        'OneHot',
        { indices: first },
        { depth: ph * pw, onValue: 1, offValue: 0, dtype: 'int32' },
      );
      const oneHot = call('Cast', { x: oneHotInt }, { dtype: 'float32' });
      const dy4 = call('Reshape', { x: dy }, { shape: [a, wo, c, 1] });
      const routed = call('Multiply', { a: oneHot, b: dy4 }, {});
      const r5 = call('Reshape', { x: routed }, { shape: [a, wo, c, ph, pw] });
      const back = call('Transpose', { x: r5 }, { perm: [0, 3, 1, 4, 2] });
      const dxCropped = call('Reshape', { x: back }, { shape: [n, hc, wc, c] });
      const dx = fits
        ? dxCropped
        : call(
            'PadV2',
            { x: dxCropped },
            {
              paddings: [
                [0, 0],
                [0, h - hc],
                [0, w - wc],
                [0, 0],
              ],
              constantValue: 0,
            },
          );
      disposeInfos(backend, x5, xt, windows, first, oneHotInt, oneHot, dy4, routed, r5, back);
      if (!fits) disposeInfos(backend, cropped, dxCropped);
      return dx;
    },
  };
}
