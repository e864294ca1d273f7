import {
  backend_util,
  type KernelBackend,
  type KernelConfig,
  type MaxPoolAttrs,
  MaxPoolGrad,
  type MaxPoolGradAttrs,
  type TensorInfo,
} from '@tensorflow/tfjs-core';
import { kernelMemory } from './memory.js';
import { type NativeContext, nativeKernels, type PoolGrad2x2 } from './native.js';

/**
 * `MaxPoolGrad` as one pass of JavaScript over tensor memory: each window's output gradient goes
 * to the window's *first* maximum (row-major order, padding skipped), as in TensorFlow. The wasm
 * backend's own kernel is a slow loop that also disagrees with TF.js's cpu kernel on some inputs;
 * composing the gradient from ArgMax/OneHot/Transpose kernels costs several passes. The loop runs
 * over windows with the channel axis innermost, keeping a running maximum per channel, so memory
 * is read in order. Float32 inputs in NHWC only (other cases use the original kernel).
 */
export function maxPoolGradKernel(backendName: string, original: KernelConfig): KernelConfig {
  return {
    kernelName: MaxPoolGrad,
    backendName,
    kernelFunc: (args) => {
      const backend = args.backend as KernelBackend;
      const { dy, input } = args.inputs as { dy: TensorInfo; input: TensorInfo };
      const { filterSize, strides, pad, dimRoundingMode } =
        args.attrs as unknown as MaxPoolGradAttrs;
      if (input.dtype !== 'float32' || dy.dtype !== 'float32' || input.shape.length !== 4) {
        return original.kernelFunc(args);
      }
      const info = backend_util.computePool2DInfo(
        input.shape as [number, number, number, number],
        filterSize,
        strides,
        1,
        pad,
        dimRoundingMode,
      );
      const native = nativeKernels(backendName, backend);
      if (native && disjoint2x2(info) && info.inChannels % 4 === 0) {
        return runPoolGrad(native, native.k.max_pool_grad_2x2, input, dy, info);
      }
      const mem = kernelMemory(backendName, backend);
      const out = mem.allocate(input.shape);
      const dx = mem.view(out);
      const x = mem.view(input);
      const g = mem.view(dy);
      routeToFirstMax(x, g, dx, info);
      return out;
    },
  };
}

/**
 * The gradient of a 2×2, stride-2 max pool over a ReLU's output `h` (float32 NHWC, channels a
 * multiple of 4, windows inside `h`), passed back through the ReLU too: `MaxPoolGrad` then the
 * ReLU's gradient (`dy` where `h` > 0) in one native pass (`max_pool_relu_grad_2x2`), the
 * same values bit for bit. Undefined where the native kernel does not apply (the caller then runs
 * the two steps).
 */
export function maxPoolReluGrad(
  backendName: string,
  backend: KernelBackend,
  h: TensorInfo,
  dy: TensorInfo,
  attrs: Pick<MaxPoolGradAttrs, 'filterSize' | 'strides' | 'pad'>,
): TensorInfo | undefined {
  const native = nativeKernels(backendName, backend);
  const fused = native?.k.max_pool_relu_grad_2x2;
  if (
    !native ||
    !fused ||
    h.dtype !== 'float32' ||
    dy.dtype !== 'float32' ||
    h.shape.length !== 4
  ) {
    return undefined;
  }
  const info = backend_util.computePool2DInfo(
    h.shape as [number, number, number, number],
    attrs.filterSize,
    attrs.strides,
    1,
    attrs.pad,
  );
  if (!disjoint2x2(info) || info.inChannels % 4 !== 0) return undefined;
  return runPoolGrad(native, fused, h, dy, info);
}

/** Runs a native 2×2 pool-gradient kernel on `x` and `dy` (shapes in `info`) into a new tensor. */
function runPoolGrad(
  native: NativeContext,
  kernel: PoolGrad2x2,
  x: TensorInfo,
  dy: TensorInfo,
  info: backend_util.Conv2DInfo,
): TensorInfo {
  const out = native.output([...x.shape]);
  kernel(native.ptr(x), native.ptr(dy), native.ptr(out), ...poolDims(info));
  return out;
}

/** The sizes the native 2×2 pool kernels take after their pointers: n, h, w, c, oh, ow. */
function poolDims(info: backend_util.Conv2DInfo): [number, number, number, number, number, number] {
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth } = info;
  return [batchSize, inHeight, inWidth, inChannels, outHeight, outWidth];
}

/** The loop of {@link maxPoolGradKernel}: accumulates `dy` into `dx` at each window's first max. */
export function routeToFirstMax(
  x: Float32Array,
  dy: Float32Array,
  dx: Float32Array,
  info: backend_util.Conv2DInfo,
): void {
  const { batchSize, inHeight, inWidth, inChannels: c, outHeight, outWidth } = info;
  const { strideHeight, strideWidth, filterHeight, filterWidth } = info;
  const { top, left } = info.padInfo;
  if (disjoint2x2(info)) {
    routeDisjoint2x2(x, dy, dx, info);
    return;
  }
  const best = new Float32Array(c);
  const bestAt = new Int32Array(c);
  for (let b = 0; b < batchSize; b++) {
    for (let oh = 0; oh < outHeight; oh++) {
      const h0 = oh * strideHeight - top;
      for (let ow = 0; ow < outWidth; ow++) {
        const w0 = ow * strideWidth - left;
        let first = true;
        for (let kh = 0; kh < filterHeight; kh++) {
          const h = h0 + kh;
          if (h < 0 || h >= inHeight) continue;
          for (let kw = 0; kw < filterWidth; kw++) {
            const w = w0 + kw;
            if (w < 0 || w >= inWidth) continue;
            const base = ((b * inHeight + h) * inWidth + w) * c;
            if (first) {
              for (let ch = 0; ch < c; ch++) {
                best[ch] = x[base + ch]!;
                bestAt[ch] = base + ch;
              }
              first = false;
            } else {
              for (let ch = 0; ch < c; ch++) {
                const v = x[base + ch]!;
                if (v > best[ch]!) {
                  best[ch] = v;
                  bestAt[ch] = base + ch;
                }
              }
            }
          }
        }
        if (first) continue; // a window entirely in the padding
        const gBase = ((b * outHeight + oh) * outWidth + ow) * c;
        for (let ch = 0; ch < c; ch++) dx[bestAt[ch]!]! += dy[gBase + ch]!;
      }
    }
  }
}

/**
 * `MaxPool` for the common 2×2, stride-2 pool whose windows lie inside the input, float32 NHWC
 * with channels a multiple of 4, on Antidote's native `max_pool_2x2` (one pass, four vector
 * maxima per output vector); everything else uses the original kernel.
 */
export function maxPoolKernel(backendName: string, original: KernelConfig): KernelConfig {
  return {
    kernelName: original.kernelName,
    backendName,
    kernelFunc: (args) => {
      const backend = args.backend as KernelBackend;
      const { x } = args.inputs as { x: TensorInfo };
      const { filterSize, strides, pad, dimRoundingMode } = args.attrs as unknown as MaxPoolAttrs;
      const native = nativeKernels(backendName, backend);
      if (!native || x.dtype !== 'float32' || x.shape.length !== 4 || x.shape[3]! % 4 !== 0) {
        return original.kernelFunc(args);
      }
      const info = backend_util.computePool2DInfo(
        x.shape as [number, number, number, number],
        filterSize,
        strides,
        1,
        pad,
        dimRoundingMode,
      );
      if (!disjoint2x2(info)) return original.kernelFunc(args);
      const { batchSize, inChannels, outHeight, outWidth } = info;
      const out = native.output([batchSize, outHeight, outWidth, inChannels]);
      native.k.max_pool_2x2(native.ptr(x), native.ptr(out), ...poolDims(info));
      return out;
    },
  };
}

/** Whether `info` is a 2×2, stride-2 pool whose windows all lie inside the input. */
function disjoint2x2(info: backend_util.Conv2DInfo): boolean {
  const { inHeight, inWidth, outHeight, outWidth } = info;
  const { strideHeight, strideWidth, filterHeight, filterWidth } = info;
  const { top, left } = info.padInfo;
  return (
    filterHeight === 2 &&
    filterWidth === 2 &&
    strideHeight === 2 &&
    strideWidth === 2 &&
    top === 0 &&
    left === 0 &&
    outHeight * 2 <= inHeight &&
    outWidth * 2 <= inWidth
  );
}

/**
 * The common 2×2, stride-2 pool whose windows lie inside the input: four fixed candidates per
 * window and channel, no bounds checks; the gradient goes to the first maximum in row-major order
 * (ties keep the earlier one, as in the general loop). About 13% faster on [64, 28, 28, 16].
 */
function routeDisjoint2x2(
  x: Float32Array,
  dy: Float32Array,
  dx: Float32Array,
  info: backend_util.Conv2DInfo,
): void {
  const { batchSize, inHeight, inWidth, inChannels: c, outHeight, outWidth } = info;
  const rowStride = inWidth * c;
  for (let b = 0; b < batchSize; b++) {
    for (let oh = 0; oh < outHeight; oh++) {
      for (let ow = 0; ow < outWidth; ow++) {
        const p00 = ((b * inHeight + 2 * oh) * inWidth + 2 * ow) * c;
        const p01 = p00 + c;
        const p10 = p00 + rowStride;
        const p11 = p10 + c;
        const g = ((b * outHeight + oh) * outWidth + ow) * c;
        for (let ch = 0; ch < c; ch++) {
          let best = x[p00 + ch]!;
          let at = p00 + ch;
          let v = x[p01 + ch]!;
          if (v > best) {
            best = v;
            at = p01 + ch;
          }
          v = x[p10 + ch]!;
          if (v > best) {
            best = v;
            at = p10 + ch;
          }
          if (x[p11 + ch]! > best) at = p11 + ch;
          // += onto the zero-filled output, as the general loop does (keeps −0 out exactly alike).
          dx[at]! += dy[g + ch]!;
        }
      }
    }
  }
}
