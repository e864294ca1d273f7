import {
  backend_util,
  Conv2DBackpropFilter,
  type Conv2DBackpropFilterAttrs,
  type Conv2DBackpropFilterInputs,
  getKernel,
  type KernelBackend,
  type KernelConfig,
  type NamedAttrMap,
  type TensorInfo,
} from '@tensorflow/tfjs-core';
import { type NativeContext, nativeKernels } from './native.js';

/**
 * `Conv2DBackpropFilter` (the gradient of a 2-D convolution w.r.t. its filter) built from the
 * backend's own fast kernels: Transpose, Conv2D (with dilation) and Slice.
 *
 * For input x `[N, H, W, Ci]`, output gradient dy `[N, OH, OW, Co]`, strides `(sh, sw)`:
 *
 *   dW[kh, kw, ci, co] = Σ_{n, oh, ow} xpad[n, oh·sh + kh, ow·sw + kw, ci] · dy[n, oh, ow, co]
 *
 * which is a valid convolution of xᵀ `[Ci, Hp, Wp, N]` (channels as batch, batch as channels) with
 * dyᵀ `[OH, OW, N, Co]` as the filter, dilated by the strides: the result `[Ci, KH', KW', Co]` is sliced
 * to the filter size and transposed to `[KH, KW, Ci, Co]`. The WebAssembly backend has no kernel of
 * its own, and the cpu backend's is a naive loop (about 90% of a CNN training step).
 */
export function conv2dBackpropFilterKernel(
  backendName: string,
  _original?: KernelConfig,
): KernelConfig {
  const call = (
    name: string,
    inputs: Record<string, TensorInfo>,
    backend: KernelBackend,
    attrs: object,
  ) => {
    const kernel = getKernel(name, backendName);
    if (!kernel) throw new Error(`kernel ${name} is not registered for backend ${backendName}`);
    return kernel.kernelFunc({ inputs, backend, attrs: attrs as NamedAttrMap }) as TensorInfo;
  };
  return {
    kernelName: Conv2DBackpropFilter,
    backendName,
    kernelFunc: ({ inputs, backend: anyBackend, attrs }) => {
      const backend = anyBackend as KernelBackend;
      const { x, dy } = inputs as unknown as Required<{
        [K in keyof Conv2DBackpropFilterInputs]: TensorInfo;
      }>;
      const { strides, pad, dataFormat, dimRoundingMode, filterShape } =
        attrs as unknown as Conv2DBackpropFilterAttrs;
      if (dataFormat !== undefined && dataFormat !== 'NHWC') {
        throw new Error(`Conv2DBackpropFilter: only NHWC is supported, got ${dataFormat}`);
      }
      const info = backend_util.computeConv2DInfo(
        x.shape as [number, number, number, number],
        filterShape,
        strides,
        1,
        pad,
        dimRoundingMode,
        false,
        'channelsLast',
      );
      const [kh, kw, ci, co] = filterShape;
      const { top, left } = info.padInfo;
      const native = nativeKernels(backendName, backend);
      if (
        native &&
        info.strideHeight === 1 &&
        info.strideWidth === 1 &&
        info.dilationHeight === 1 &&
        info.dilationWidth === 1 &&
        co % 4 === 0 &&
        x.dtype === 'float32' &&
        dy.dtype === 'float32'
      ) {
        return nativeFilterGrad(native, x, dy, info);
      }
      // Pad so the dilated "filter" (dy) covers exactly the rows and columns the forward pass read.
      const bottom = Math.max(0, (info.outHeight - 1) * info.strideHeight + kh - x.shape[1]! - top);
      const right = Math.max(0, (info.outWidth - 1) * info.strideWidth + kw - x.shape[2]! - left);
      const xT = call('Transpose', { x }, backend, { perm: [3, 1, 2, 0] });
      const dyT = call('Transpose', { x: dy }, backend, { perm: [1, 2, 0, 3] });
      const conv = call('Conv2D', { x: xT, filter: dyT }, backend, {
        strides: [1, 1],
        pad: [
          [0, 0],
          [top, bottom],
          [left, right],
          [0, 0],
        ],
        dataFormat: 'NHWC',
        dilations: [info.strideHeight, info.strideWidth],
      });
      backend.disposeData(xT.dataId);
      backend.disposeData(dyT.dataId);
      let cropped = conv;
      if (conv.shape[1] !== kh || conv.shape[2] !== kw) {
        cropped = call('Slice', { x: conv }, backend, {
          begin: [0, 0, 0, 0],
          size: [ci, kh, kw, co],
        });
        backend.disposeData(conv.dataId);
      }
      const out = call('Transpose', { x: cropped }, backend, { perm: [1, 2, 0, 3] });
      backend.disposeData(cropped.dataId);
      return out;
    },
  };
}

/**
 * The stride-1 filter gradient on the native kernels: x padded once into scratch memory, then
 * one register-tiled pass per image and filter row (`conv2d_filter_grad` in `native/kernels.c`).
 */
function nativeFilterGrad(
  native: NativeContext,
  x: TensorInfo,
  dy: TensorInfo,
  info: backend_util.Conv2DInfo,
): TensorInfo {
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: ci, outChannels: co } = info;
  const { outHeight: oh, outWidth: ow, filterHeight: kh, filterWidth: kw } = info;
  const { top, bottom, left, right } = info.padInfo;
  const out = native.output([kh, kw, ci, co]);
  // 4 floats of slack: a tile of 4 filter rows may read past the last padded row.
  const xp = native.malloc((n * (h + top + bottom) * (w + left + right) * ci + 4) * 4);
  try {
    native.k.pad_nhwc(native.ptr(x), xp, n, h, w, ci, top, bottom, left, right);
    native.k.conv2d_filter_grad(xp, native.ptr(dy), native.ptr(out), n, oh, ow, kh, kw, ci, co);
  } finally {
    native.free(xp);
  }
  return out;
}
