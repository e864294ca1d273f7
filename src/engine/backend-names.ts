/**
 * The names of the TF.js backends, apart from `backend.ts` so that the CLI can offer them as
 * choices without loading TensorFlow.js (fast start, issue 15).
 */

/** The TF.js backends Antidote runs on: WebAssembly (default, XNNPACK) or plain JavaScript. */
export type BackendName = 'wasm' | 'cpu';

/** Every backend name, for CLI choices and validation. */
export const BACKEND_NAMES: readonly BackendName[] = ['wasm', 'cpu'];
