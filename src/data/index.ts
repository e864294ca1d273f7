/**
 * `antidote/data`: the Dataset type, loaders (MNIST IDX, Fashion-MNIST, NumPy .npy/.npz, CSV,
 * JSON/JSONL text, PNG folders), the dataset directory format, splits and the seeded RNG.
 */

export * from './csv.js';
export * from './dataset.js';
export * from './dataset-dir.js';
export * from './idx.js';
export * from './load.js';
export * from './mnist.js';
export * from './npy.js';
export * from './npz.js';
export * from './png-folder.js';
export * from './rng.js';
export * from './summary.js';
export * from './text.js';
export * from './transform.js';
export * from './zip.js';
