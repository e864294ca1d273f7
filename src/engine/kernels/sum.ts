import {
  type KernelBackend,
  type KernelConfig,
  Sum,
  type SumAttrs,
  type TensorInfo,
  util,
} from '@tensorflow/tfjs-core';
import { kernelMemory } from './memory.js';
import { nativeKernels } from './native.js';

/**
 * `Sum` over the leading axes (e.g. a bias gradient: `[N, H, W, C]` summed to `[C]`) as one pass
 * of JavaScript over tensor memory. The wasm backend's kernel first transposes the reduced axes
 * innermost, a full copy of the tensor. Every other reduction uses the original kernel.
 */
export function sumKernel(backendName: string, original: KernelConfig): KernelConfig {
  return {
    kernelName: Sum,
    backendName,
    kernelFunc: (args) => {
      const backend = args.backend as KernelBackend;
      const { x } = args.inputs as { x: TensorInfo };
      const { axis, keepDims } = args.attrs as unknown as SumAttrs;
      const axes = util.parseAxisParam(axis, x.shape).sort((a, b) => a - b);
      const leading =
        axes.length > 0 && axes.length < x.shape.length && axes.every((a, i) => a === i);
      if (x.dtype !== 'float32' || !leading) return original.kernelFunc(args);
      const rows = x.shape.slice(0, axes.length).reduce((a, b) => a * b, 1);
      const inner = x.shape.slice(axes.length);
      const width = inner.reduce((a, b) => a * b, 1);
      const outShape = keepDims ? [...axes.map(() => 1), ...inner] : inner;
      const native = nativeKernels(backendName, backend);
      if (native && width % 4 === 0) {
        const out = native.output(outShape);
        native.k.sum_rows(native.ptr(x), native.ptr(out), rows, width);
        return out;
      }
      const mem = kernelMemory(backendName, backend);
      const out = mem.allocate(outShape);
      const o = mem.view(out);
      const v = mem.view(x);
      // Accumulate in float64 for accuracy, then store.
      const acc = new Float64Array(width);
      for (let r = 0; r < rows; r++) {
        const base = r * width;
        for (let j = 0; j < width; j++) acc[j]! += v[base + j]!;
      }
      o.set(acc);
      return out;
    },
  };
}
