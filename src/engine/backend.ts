import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
// tfjs-layers' Node bundle registers every op's gradient with tfjs-core (tfjs-core's own does not).
import '@tensorflow/tfjs-layers';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { AntidoteError } from '../errors.js';
import { setMatMulAccelerator } from '../numeric/accelerator.js';
import { BACKEND_NAMES, type BackendName } from './backend-names.js';
import { registerCustomKernels } from './kernels/register.js';

export { BACKEND_NAMES, type BackendName };

let wasmPathsSet = false;
let initialised: Promise<BackendName> | undefined;
let initialisedWith: BackendName | undefined;
let startedWith: BackendName | undefined;

/**
 * Initialises TensorFlow.js once: production mode (no banners or warnings), the custom kernels
 * registered, and the requested backend active — `wasm` by default, falling back to `cpu` when the
 * WebAssembly backend cannot start. Idempotent; asking for another backend later switches to it.
 *
 * The backend can also be chosen with the `ANTIDOTE_BACKEND` environment variable.
 */
export async function initEngine(options: { backend?: BackendName } = {}): Promise<BackendName> {
  const envBackend = process.env.ANTIDOTE_BACKEND;
  if (envBackend !== undefined && !BACKEND_NAMES.includes(envBackend as BackendName)) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `ANTIDOTE_BACKEND must be one of ${BACKEND_NAMES.join(', ')}, got "${envBackend}"`,
    );
  }
  const wanted = options.backend ?? (envBackend as BackendName | undefined) ?? 'wasm';
  if (!BACKEND_NAMES.includes(wanted)) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `unknown backend "${wanted}" (expected ${BACKEND_NAMES.join(', ')})`,
    );
  }
  if (initialised && (initialisedWith === wanted || options.backend === undefined))
    return initialised;
  initialisedWith = wanted;
  initialised = start(wanted);
  return initialised;
}

async function start(wanted: BackendName): Promise<BackendName> {
  tf.enableProdMode();
  if (!wasmPathsSet) {
    const require = createRequire(import.meta.url);
    const wasmDist = join(
      dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')),
      'dist',
    );
    setWasmPaths(`${wasmDist}/`);
    wasmPathsSet = true;
  }
  registerCustomKernels();
  if (wanted === 'wasm') {
    try {
      if (await tf.setBackend('wasm')) {
        await tf.ready();
        startedWith = 'wasm';
        return 'wasm';
      }
    } catch {
      // fall through to the cpu backend
    }
  }
  if (!(await tf.setBackend('cpu'))) {
    throw new AntidoteError(
      'ENGINE_ERROR',
      'neither the wasm nor the cpu TensorFlow.js backend could start',
    );
  }
  await tf.ready();
  startedWith = 'cpu';
  return 'cpu';
}

/**
 * True when {@link initEngine} has finished and the wasm backend is active: numeric code outside
 * the engine (e.g. the detectors' covariance matrices) may then hand large products to it.
 */
export function wasmEngineActive(): boolean {
  return startedWith === 'wasm' && tf.getBackend() === 'wasm';
}

/** The name of the active backend (after {@link initEngine}). */
export function activeBackend(): BackendName {
  return tf.getBackend() as BackendName;
}

/**
 * The wasm engine's matrix product (XNNPACK, SIMD), lent to numeric/ (covariances and projections
 * of the detectors) while {@link wasmEngineActive}: numeric/ sits below the engine and cannot
 * import it, so the engine registers the product when this module loads.
 */
setMatMulAccelerator({
  active: wasmEngineActive,
  matMul(a, b, m, k, n) {
    const product = tf.tidy(() => tf.matMul(tf.tensor2d(a, [m, k]), tf.tensor2d(b, [k, n])));
    const out = product.dataSync() as Float32Array;
    product.dispose();
    return out;
  },
});
