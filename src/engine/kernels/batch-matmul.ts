import {
  type _FusedMatMulAttrs,
  BatchMatMul,
  type BatchMatMulAttrs,
  type KernelBackend,
  type KernelConfig,
  type TensorInfo,
  util,
} from '@tensorflow/tfjs-core';
import { callKernel, disposeInfos } from './call.js';
import { type NativeContext, nativeKernels } from './native.js';

/** Whether every axis of `t` but the last two has size 1 (a single matrix). */
const single = (t: TensorInfo) => util.sizeFromShape(t.shape.slice(0, -2)) === 1;

/** `t` with its last two axes swapped (Antidote's native transpose on wasm, else `Transpose`). */
function swapLast(
  backendName: string,
  backend: KernelBackend,
  native: NativeContext | undefined,
  t: TensorInfo,
): TensorInfo {
  const r = t.shape.length;
  if (native && t.dtype === 'float32') {
    const rows = t.shape[r - 2]!;
    const cols = t.shape[r - 1]!;
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
  [perm[r - 2], perm[r - 1]] = [perm[r - 1]!, perm[r - 2]!];
  return callKernel(backendName, 'Transpose', { x: t }, backend, { perm });
}

/**
 * a·b (single float32 matrices, b's column count a multiple of 4) with optional bias and ReLU on
 * the native `matmul` kernel, shaped like TF.js's output (a's leading axes); undefined when the
 * operands do not qualify.
 */
function nativeProduct(
  native: NativeContext | undefined,
  a: TensorInfo,
  b: TensorInfo,
  bias?: TensorInfo,
  relu = false,
): TensorInfo | undefined {
  if (!native || a.dtype !== 'float32' || b.dtype !== 'float32' || !single(a) || !single(b)) {
    return undefined;
  }
  const [m, k] = a.shape.slice(-2) as [number, number];
  const n = b.shape[b.shape.length - 1]!;
  if (b.shape[b.shape.length - 2] !== k || n % 4 !== 0) return undefined;
  if (bias && (bias.dtype !== 'float32' || util.sizeFromShape(bias.shape) !== n)) return undefined;
  const lead = a.shape.length >= b.shape.length ? a.shape.slice(0, -2) : b.shape.slice(0, -2);
  const out = native.output([...lead, m, n]);
  native.k.matmul(
    native.ptr(a),
    native.ptr(b),
    bias ? native.ptr(bias) : 0,
    native.ptr(out),
    m,
    k,
    n,
    relu ? 1 : 0,
  );
  return out;
}

/**
 * `BatchMatMul` made fast on wasm. Single matrices with a column count that is a multiple of 4 go
 * to Antidote's native `matmul`, which uses the right operand as it lies: XNNPACK packs it on every
 * call, which costs about as much as the product when it changes every step (a dense layer's
 * weights in training). aᵀ·b (a weight gradient xᵀ·dy) runs as the native filter-gradient kernel
 * of a 1×1 convolution, with no transpose at all. Other transposed operands are transposed
 * explicitly (the wasm backend multiplies them about 15× slower), and a·bᵀ with a large b (a dense
 * layer's input gradient dy·Wᵀ) is computed as (b·aᵀ)ᵀ. The rest goes to the original kernel.
 */
export function batchMatMulKernel(backendName: string, original: KernelConfig): KernelConfig {
  return {
    kernelName: BatchMatMul,
    backendName,
    kernelFunc: (args) => {
      const backend = args.backend as KernelBackend;
      const { a, b } = args.inputs as { a: TensorInfo; b: TensorInfo };
      const { transposeA, transposeB } = args.attrs as unknown as BatchMatMulAttrs;
      const native = nativeKernels(backendName, backend);
      const plain = (x: TensorInfo, y: TensorInfo) =>
        nativeProduct(native, x, y) ??
        callKernel(
          backendName,
          BatchMatMul,
          { a: x, b: y },
          backend,
          { transposeA: false, transposeB: false },
          original,
        );
      if (!transposeA && !transposeB) return plain(a, b);
      const swap = (t: TensorInfo) => swapLast(backendName, backend, native, t);
      if (native && transposeA && !transposeB && single(a) && single(b)) {
        // aᵀ·b = Σ_rows a[row]ᵀ b[row]: the filter gradient of a 1×1 convolution over one image
        // with the rows as pixels (a's columns as input channels, b's as output channels).
        const [k, m] = a.shape.slice(-2) as [number, number];
        const n = b.shape[b.shape.length - 1]!;
        if (m % 4 === 0 && n % 4 === 0 && a.dtype === 'float32' && b.dtype === 'float32') {
          const lead =
            a.shape.length >= b.shape.length ? a.shape.slice(0, -2) : b.shape.slice(0, -2);
          const out = native.output([...lead, m, n]);
          native.k.conv2d_filter_grad(
            native.ptr(a),
            native.ptr(b),
            native.ptr(out),
            1,
            1,
            k,
            1,
            1,
            m,
            n,
          );
          return out;
        }
        if (m % 4 === 0 && a.shape.length === 2 && b.shape.length === 2) {
          // Few output columns (a logits layer's weight gradient): aᵀ·b = (bᵀ·a)ᵀ.
          const bt = swap(b);
          const prod = plain(bt, a);
          disposeInfos(backend, bt);
          const out = swap(prod);
          disposeInfos(backend, prod);
          return out;
        }
      }
      if (native && transposeB && !transposeA && a.shape.length === 2 && b.shape.length === 2) {
        // a·bᵀ = (b·aᵀ)ᵀ when b is the large operand: transpose the small a and the product.
        const [m, k] = a.shape as [number, number];
        const n = b.shape[0]!;
        if (n * k > m * k + m * n) {
          const at = swap(a);
          const prod = plain(b, at);
          disposeInfos(backend, at);
          const out = swap(prod);
          disposeInfos(backend, prod);
          return out;
        }
      }
      const aa = transposeA ? swap(a) : a;
      const bb = transposeB ? swap(b) : b;
      const out = plain(aa, bb);
      if (transposeA) disposeInfos(backend, aa);
      if (transposeB) disposeInfos(backend, bb);
      return out;
    },
  };
}

/**
 * `_FusedMatMul` (a·b + bias, then linear or ReLU) on the native `matmul` for single matrices
 * without transposes (see {@link batchMatMulKernel}); everything else uses the original kernel.
 */
export function fusedMatMulKernel(backendName: string, original: KernelConfig): KernelConfig {
  return {
    kernelName: original.kernelName,
    backendName,
    kernelFunc: (args) => {
      const { a, b, bias, preluActivationWeights } = args.inputs as {
        a: TensorInfo;
        b: TensorInfo;
        bias?: TensorInfo;
        preluActivationWeights?: TensorInfo;
      };
      const { transposeA, transposeB, activation } = args.attrs as unknown as _FusedMatMulAttrs;
      if (
        transposeA ||
        transposeB ||
        preluActivationWeights ||
        (activation !== undefined && activation !== 'linear' && activation !== 'relu')
      ) {
        return original.kernelFunc(args);
      }
      const native = nativeKernels(backendName, args.backend as KernelBackend);
      return nativeProduct(native, a, b, bias, activation === 'relu') ?? original.kernelFunc(args);
    },
  };
}
