import type { KernelBackend, TensorInfo } from '@tensorflow/tfjs-core';
import { KERNELS_WASM_BASE64 } from './native/kernels-wasm.js';

/** A 2×2 max-pool gradient kernel: x, dy and dx pointers, then n, h, w, c, oh, ow. */
export type PoolGrad2x2 = (
  x: number,
  dy: number,
  dx: number,
  n: number,
  h: number,
  w: number,
  c: number,
  oh: number,
  ow: number,
) => void;

/**
 * The exports of Antidote's WebAssembly SIMD kernels (`native/kernels.c`). Pointers are byte
 * offsets into TF.js's wasm memory; see the C source for each function's contract.
 */
export interface NativeKernels {
  transpose(a: number, out: number, batch: number, rows: number, cols: number): void;
  pad_nhwc(
    x: number,
    xp: number,
    n: number,
    h: number,
    w: number,
    c: number,
    top: number,
    bottom: number,
    left: number,
    right: number,
  ): void;
  conv2d_filter_grad(
    xp: number,
    dy: number,
    dw: number,
    n: number,
    oh: number,
    ow: number,
    kh: number,
    kw: number,
    ci: number,
    co: number,
  ): void;
  conv2d_input_grad_dot(
    dyp: number,
    wt: number,
    dx: number,
    n: number,
    h: number,
    w: number,
    kh: number,
    kw: number,
    ci: number,
    co: number,
  ): void;
  conv2d_tiled(
    xp: number,
    wt: number,
    bias: number,
    y: number,
    n: number,
    oh: number,
    ow: number,
    kh: number,
    kw: number,
    ci: number,
    co: number,
    relu: number,
  ): void;
  max_pool_grad_2x2: PoolGrad2x2;
  /** Absent from builds before it (a baseline in `bench/engine.mjs`'s A/B). */
  max_pool_relu_grad_2x2?: PoolGrad2x2;
  max_pool_2x2(
    x: number,
    y: number,
    n: number,
    h: number,
    w: number,
    c: number,
    oh: number,
    ow: number,
  ): void;
  sum_rows(x: number, out: number, rows: number, cols: number): void;
  matmul(
    a: number,
    b: number,
    bias: number,
    c: number,
    m: number,
    k: number,
    n: number,
    relu: number,
  ): void;
  relu_grad(h: number, dh: number, dx: number, count: number): void;
  add_into(dst: number, src: number, count: number): void;
  adam(
    g: number,
    w: number,
    m: number,
    v: number,
    out: number,
    count: number,
    beta1: number,
    beta2: number,
    c1: number,
    c2: number,
    lr: number,
    eps: number,
  ): void;
}

/** The WebAssembly API (TypeScript's ES libraries without the DOM do not declare it). */
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: unknown };
}
const WA = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

/** The parts of TF.js's wasm backend the native kernels need. */
interface WasmBackendLike {
  wasm: {
    asm: { memory: object };
    _malloc(bytes: number): number;
    _free(ptr: number): void;
    HEAPF32: Float32Array;
  };
  dataIdMap: { get(dataId: object): { memoryOffset: number } | undefined };
  makeOutput(shape: number[], dtype: 'float32'): TensorInfo;
}

/** Native kernels bound to one wasm backend's memory, with the helpers to call them. */
export interface NativeContext {
  readonly k: NativeKernels;
  /** Byte offset of `t`'s data in the backend's memory. */
  ptr(t: TensorInfo): number;
  /** A new float32 tensor (uninitialised). */
  output(shape: number[]): TensorInfo;
  /** `bytes` of scratch memory in the backend's heap; give it back with {@link free}. */
  malloc(bytes: number): number;
  free(ptr: number): void;
  /** A view of the backend's heap as float32 (valid until the heap grows). */
  heap(): Float32Array;
}

let moduleCache: object | null | undefined;
let contexts = new WeakMap<object, NativeContext | null>();

/**
 * Binds backends from now on to another build of the kernels module (`bytes`, a kernels.wasm with
 * the same exports), or again to the shipped one (no argument). For benchmarks that compare two
 * builds in one process, interleaved (`bench/engine.mjs --baseline-kernels`); call it between
 * training runs, never during one.
 */
export function useKernelsModule(bytes?: Uint8Array): void {
  moduleCache = bytes ? new WA.Module(bytes) : undefined;
  contexts = new WeakMap();
}

/**
 * The native kernels for `backend` when it is TF.js's wasm backend and WebAssembly SIMD works
 * here, else undefined (callers then use their TF.js compositions). Instantiated once per
 * backend, synchronously, on TF.js's own memory.
 */
export function nativeKernels(
  backendName: string,
  backend: KernelBackend,
): NativeContext | undefined {
  if (backendName !== 'wasm' || process.env.ANTIDOTE_NATIVE_KERNELS === '0') return undefined;
  const cached = contexts.get(backend);
  if (cached !== undefined) return cached ?? undefined;
  let ctx: NativeContext | null = null;
  try {
    moduleCache ??= new WA.Module(Buffer.from(KERNELS_WASM_BASE64, 'base64'));
    const b = backend as unknown as WasmBackendLike;
    const instance = new WA.Instance(moduleCache, { env: { memory: b.wasm.asm.memory } });
    const k = instance.exports as unknown as NativeKernels;
    ctx = {
      k,
      ptr: (t) => {
        const entry = b.dataIdMap.get(t.dataId);
        if (!entry) throw new Error('native kernels: tensor is not in wasm memory');
        return entry.memoryOffset;
      },
      output: (shape) => b.makeOutput(shape, 'float32'),
      malloc: (bytes) => b.wasm._malloc(bytes),
      free: (p) => b.wasm._free(p),
      heap: () => b.wasm.HEAPF32,
    };
  } catch {
    moduleCache = null;
    ctx = null;
  }
  contexts.set(backend, ctx);
  return ctx ?? undefined;
}
