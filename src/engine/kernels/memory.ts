import type { DataType, KernelBackend, TensorInfo } from '@tensorflow/tfjs-core';

/** The parts of the wasm and cpu backends a JavaScript kernel needs to touch tensor memory. */
interface WasmLike {
  makeOutput(shape: number[], dtype: DataType): TensorInfo;
  typedArrayFromHeap(t: TensorInfo): Float32Array | Int32Array | Uint8Array;
}
interface CpuLike {
  makeTensorInfo(shape: number[], dtype: DataType, values?: Float32Array): TensorInfo;
  data: { get(dataId: object): { values: Float32Array | Int32Array | Uint8Array } };
}

/**
 * Direct access to tensor memory for kernels written as plain JavaScript loops, on the wasm
 * backend (views into the WebAssembly heap) and the cpu backend (its typed arrays).
 *
 * On wasm, allocating an output may grow the heap and detach earlier views: allocate every
 * output first, then take views ({@link KernelMemory.view}) of inputs and outputs.
 */
export interface KernelMemory {
  /** A new zero-filled float32 tensor. */
  allocate(shape: number[]): TensorInfo;
  /** A typed-array view of `t`'s data (valid until the next allocation). */
  view(t: TensorInfo): Float32Array;
}

/** {@link KernelMemory} for `backend` (named `backendName`). */
export function kernelMemory(backendName: string, backend: KernelBackend): KernelMemory {
  if (backendName === 'wasm') {
    const b = backend as unknown as WasmLike;
    return {
      allocate: (shape) => {
        const out = b.makeOutput(shape, 'float32');
        (b.typedArrayFromHeap(out) as Float32Array).fill(0);
        return out;
      },
      view: (t) => b.typedArrayFromHeap(t) as Float32Array,
    };
  }
  const b = backend as unknown as CpuLike;
  return {
    allocate: (shape) =>
      b.makeTensorInfo(shape, 'float32', new Float32Array(shape.reduce((x, y) => x * y, 1))),
    view: (t) => b.data.get(t.dataId).values as Float32Array,
  };
}
