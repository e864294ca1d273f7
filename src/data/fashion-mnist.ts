import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { AntidoteError } from '../errors.js';
import type { Dataset } from './dataset.js';
import { loadIdxPair, type MnistSplit } from './mnist.js';

/**
 * Fashion-MNIST (Xiao, Rasul & Vollgraf 2017, "Fashion-MNIST: a Novel Image Dataset for
 * Benchmarking Machine Learning Algorithms", arXiv:1708.07747): 70,000 28×28 grayscale images of
 * ten clothing classes in MNIST's IDX format, read from the Debian package
 * `dataset-fashion-mnist` (gzipped IDX files under `/usr/share/datasets/fashion-mnist`). It is a
 * built-in dataset (`--data fashion-mnist`, `fashion-mnist:test:500`) that Antidote was not
 * developed on: detectors tuned on MNIST are checked on it.
 */

/** Where the Debian package `dataset-fashion-mnist` puts the IDX files. */
export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

/** The Debian package that carries Fashion-MNIST. */
export const FASHION_MNIST_PACKAGE = 'dataset-fashion-mnist';

/** The ten Fashion-MNIST class names, in label order (label 0 = `T-shirt/top`). */
export const FASHION_MNIST_CLASSES: readonly string[] = Object.freeze([
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
]);

/** Options of {@link loadFashionMnist}. */
export interface FashionMnistOptions {
  /** Keep only the first `limit` records. */
  readonly limit?: number;
  /**
   * Folder holding the IDX files: `$ANTIDOTE_FASHION_MNIST`, else {@link FASHION_MNIST_DIR}.
   */
  readonly dir?: string;
}

/** The folder of the Fashion-MNIST IDX files (see {@link FashionMnistOptions.dir}). */
export function fashionMnistDir(
  env: Readonly<Record<string, string | undefined>> = process.env,
): string {
  return env.ANTIDOTE_FASHION_MNIST || FASHION_MNIST_DIR;
}

/** Paths of the gzipped IDX image and label files of a Fashion-MNIST split in `dir`. */
export function fashionMnistFiles(
  split: MnistSplit,
  dir: string = fashionMnistDir(),
): { images: string; labels: string } {
  const prefix = split === 'train' ? 'train' : 't10k';
  return {
    images: join(dir, `${prefix}-images-idx3-ubyte.gz`),
    labels: join(dir, `${prefix}-labels-idx1-ubyte.gz`),
  };
}

/**
 * Loads a Fashion-MNIST split: shape `[N, 28, 28, 1]`, float32 pixels in [0, 1], the ten
 * {@link FASHION_MNIST_CLASSES}, ids `fashion-mnist-train-00000` / `fashion-mnist-test-00000`,
 * source `'dataset-fashion-mnist'`.
 *
 * Errors: `INVALID_ARGUMENT` for a split other than train / test; `NOT_FOUND` naming
 * `apt-get install dataset-fashion-mnist` when the files are absent; the errors of
 * `loadIdxPair` for bad files.
 */
export async function loadFashionMnist(
  split: MnistSplit,
  options: FashionMnistOptions = {},
): Promise<Dataset> {
  if (split !== 'train' && split !== 'test') {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `Fashion-MNIST split must be train or test, got ${split}`,
    );
  }
  const dir = options.dir ?? fashionMnistDir();
  const files = fashionMnistFiles(split, dir);
  for (const path of [files.images, files.labels]) {
    if (!existsSync(path)) {
      throw new AntidoteError(
        'NOT_FOUND',
        `Fashion-MNIST is not installed: ${path} is missing (install the Debian package: apt-get install ${FASHION_MNIST_PACKAGE}; or set ANTIDOTE_FASHION_MNIST to a folder of its IDX files)`,
        { path, name: 'fashion-mnist' },
      );
    }
  }
  return loadIdxPair(files.images, files.labels, {
    classes: FASHION_MNIST_CLASSES,
    ...(options.limit !== undefined ? { limit: options.limit } : {}),
    idPrefix: `fashion-mnist-${split}-`,
    idWidth: 5,
    source: FASHION_MNIST_PACKAGE,
  });
}
