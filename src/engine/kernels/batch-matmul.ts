import {
  BatchMatMul,
  type BatchMatMulAttrs,
  type KernelBackend,
  type KernelConfig,
  type TensorInfo,
  util,
} from '@tensorflow/tfjs-core';
import { callKernel, disposeInfos } from './call.js';
import { nativeKernels } from './native.js';

/**
 * `BatchMatMul` with transposed operands made fast: the wasm backend multiplies a transposed
 * operand about 15× slower than a plain one (its kernel strides through memory), while a
 * separate `Transpose` costs little. Every dense layer's backward pass multiplies by transposes
 * (dW = xᵀ·dy, dx = dy·Wᵀ), so this kernel transposes explicitly (Antidote's native transpose
 * on wasm) and calls the original kernel with plain operands.
 */
export function batchMatMulKernel(backendName: string, original: KernelConfig): KernelConfig {
  return {
    kernelName: BatchMatMul,
    backendName,
    kernelFunc: (args) => {
      const backend = args.backend as KernelBackend;
      const { a, b } = args.inputs as { a: TensorInfo; b: TensorInfo };
      const { transposeA, transposeB } = args.attrs as unknown as BatchMatMulAttrs;
      if (!transposeA && !transposeB) return original.kernelFunc(args);
      const native = nativeKernels(backendName, backend);
      const swapLast = (t: TensorInfo) => {
        if (native && t.dtype === 'float32') {
          const r = t.shape.length;
          const rows = t.shape[r - 2];
          const cols = t.shape[r - 1];
          const out = native.output([...t.shape.slice(0, r - 2), cols, rows]);
          native.k.transpose(
            native.ptr(t),
            native.ptr(out),
            util.sizeFromShape(t.shape.slice(0, r - 2)),
            rows,
            cols,
          );
          return out;
        }
        const perm = t.shape.map((_, i) => i);
        const r = perm.length;
        [perm[r - 2], perm[r - 1]] = [perm[r - 1], perm[r - 2]];
        return callKernel(backendName, 'Transpose', { x: t }, backend, { perm });
      };
      if (
        native &&
        transposeB &&
        !transposeA &&
        a.shape.length === 2 &&
        b.shape.length === 2 &&
        a.dtype === 'float32' &&
        b.dtype === 'float32'
      ) {
        // a·bᵀ = (b·aᵀ)ᵀ: XNNPACK packs its right operand on every call, so when b is the large
        // one (a dense layer's input gradient dy·Wᵀ) pack the small aᵀ instead and transpose the
        // product (about 2× faster for [64, 128]·[1568, 128]ᵀ).
        const [m, k] = a.shape;
        const n = b.shape[0];
        if (n * k > m * k + m * n) {
          const at = swapLast(a);
          const prod = callKernel(
            backendName,
            BatchMatMul,
            { a: b, b: at },
            backend,
            { transposeA: false, transposeB: false },
            original,
          );
          disposeInfos(backend, at);
          const out = swapLast(prod);
          disposeInfos(backend, prod);
          return out;
        }
      }
      const aa = transposeA ? swapLast(a) : a;
      const bb = transposeB ? swapLast(b) : b;
      const out = callKernel(
        backendName,
        BatchMatMul,
        { a: aa, b: bb },
        backend,
        { transposeA: false, transposeB: false },
        original,
      );
      if (transposeA) disposeInfos(backend, aa);
      if (transposeB) disposeInfos(backend, bb);
      return out;
    },
  };
}
