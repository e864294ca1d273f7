import {
  backend_util,
  Conv2DBackpropInput,
  type Conv2DBackpropInputAttrs,
  type KernelBackend,
  type KernelConfig,
  type TensorInfo,
} from '@tensorflow/tfjs-core';
import { callKernel, disposeInfos } from './call.js';
import { nativeKernels } from './native.js';

/**
 * Most input channels for which the input gradient is one dot product per value on the native
 * kernels (`conv2d_input_grad_dot`); XNNPACK's convolution is faster for more, and much slower
 * for few (an image's first layer: one output channel per pixel).
 */
export const NATIVE_MAX_CHANNELS = 4;

/**
 * `Conv2DBackpropInput` (the gradient of a 2-D convolution w.r.t. its input) for stride 1, as a
 * forward convolution of dy with the filter rotated by 180° and its channel axes swapped:
 *
 *   dx[n, i, j, ci] = Σ_{kh, kw, co} dy[n, i + kh − (KH−1−top), j + kw − (KW−1−left), co]
 *                                    · W[KH−1−kh, KW−1−kw, ci, co]
 *
 * i.e. Conv2D(dy, transpose(reverse(W, [0, 1]), [0, 1, 3, 2])) with padding (K−1−pad) on each
 * side. The wasm backend's own kernel is a plain loop, about 15× slower than its XNNPACK Conv2D.
 * Strides above 1 (which would need a zero-dilated dy) and unusual paddings use the original kernel.
 */
export function conv2dBackpropInputKernel(
  backendName: string,
  original: KernelConfig,
): KernelConfig {
  return {
    kernelName: Conv2DBackpropInput,
    backendName,
    kernelFunc: (args) => {
      const backend = args.backend as KernelBackend;
      const { dy, filter } = args.inputs as { dy: TensorInfo; filter: TensorInfo };
      const { strides, pad, dataFormat, dimRoundingMode, inputShape } =
        args.attrs as unknown as Conv2DBackpropInputAttrs;
      const [sh, sw] = typeof strides === 'number' ? [strides, strides] : strides;
      if (sh !== 1 || sw !== 1 || (dataFormat !== undefined && dataFormat !== 'NHWC')) {
        return original.kernelFunc(args);
      }
      const [kh, kw] = filter.shape as [number, number, number, number];
      const info = backend_util.computeConv2DInfo(
        inputShape,
        filter.shape as [number, number, number, number],
        1,
        1,
        pad,
        dimRoundingMode,
        false,
        'channelsLast',
      );
      const { top, bottom, left, right } = info.padInfo;
      const pads: [number, number, number, number] = [
        kh - 1 - top,
        kh - 1 - bottom,
        kw - 1 - left,
        kw - 1 - right,
      ];
      if (pads.some((p) => p < 0)) return original.kernelFunc(args);
      const native = nativeKernels(backendName, backend);
      const [, , ci, co] = filter.shape as [number, number, number, number];
      if (native && ci <= NATIVE_MAX_CHANNELS && co % 4 === 0 && dy.dtype === 'float32') {
        const [n, h, w] = inputShape;
        const dx = native.output([n, h, w, ci]);
        const dyp = native.malloc(n * (h + kh - 1) * (w + kw - 1) * co * 4);
        try {
          const [pt, pb, pl, pr] = pads;
          native.k.pad_nhwc(native.ptr(dy), dyp, n, dy.shape[1]!, dy.shape[2]!, co, pt, pb, pl, pr);
          native.k.conv2d_input_grad_dot(
            dyp,
            native.ptr(filter),
            native.ptr(dx),
            n,
            h,
            w,
            kh,
            kw,
            ci,
            co,
          );
        } finally {
          native.free(dyp);
        }
        return dx;
      }
      const reversed = callKernel(backendName, 'Reverse', { x: filter }, backend, { dims: [0, 1] });
      const flipped = callKernel(backendName, 'Transpose', { x: reversed }, backend, {
        perm: [0, 1, 3, 2],
      });
      disposeInfos(backend, reversed);
      const dx = callKernel(backendName, 'Conv2D', { x: dy, filter: flipped }, backend, {
        strides: [1, 1],
        pad: [
          [0, 0],
          [pads[0], pads[1]],
          [pads[2], pads[3]],
          [0, 0],
        ],
        dataFormat: 'NHWC',
        dilations: [1, 1],
      });
      disposeInfos(backend, flipped);
      return dx;
    },
  };
}
