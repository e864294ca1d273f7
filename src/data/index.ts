/**
 * `antidote/data`: the Dataset type, loaders (MNIST IDX, Fashion-MNIST, NumPy .npy/.npz, CSV,
 * JSON/JSONL text, PNG folders), the dataset directory format, splits and the seeded RNG.
 */

// `readBytes` moved to util/fs (the one home of NOT_FOUND/IO_ERROR reads); still exported here.
export { readBytes } from '../util/fs.js';
export * from '../util/rng.js';
export * from './bare-arrays.js';
export * from './csv.js';
export * from './dataset.js';
export * from './dataset-dir.js';
export * from './datasets/arff.js';
export * from './datasets/fetch.js';
export * from './datasets/german-credit.js';
export * from './datasets/imdb.js';
export * from './datasets/rdata.js';
export * from './datasets/registry.js';
export * from './datasets/sentiment.js';
export * from './datasets/spam-assassin.js';
export * from './datasets/spambase.js';
export * from './datasets/tabular.js';
export * from './fashion-mnist.js';
export * from './idx.js';
export * from './image-layout.js';
export * from './load.js';
export * from './mnist.js';
export * from './npy.js';
export * from './npz.js';
export * from './png-folder.js';
export * from './range.js';
export * from './record-view.js';
export * from './summary.js';
export * from './text.js';
export * from './text-vectorize.js';
export * from './tokenizer.js';
export * from './transform.js';
export * from './zip.js';
