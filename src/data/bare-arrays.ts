import { stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { AntidoteError } from '../errors.js';
import { type Dataset, defaultIds, validateDataset } from './dataset.js';
import { type ImageLayout, toHwc } from './image-layout.js';
import { type NdArray, ndToFloat32, ndToInt32, ndToNumbers, readNpy } from './npy.js';
import { readNpz } from './npz.js';

/**
 * Bare NumPy arrays as a dataset, without a `dataset.json` (issue 21, item 1): an `.npz` archive
 * (`np.savez(f, x=x, y=y)`), or a pair of `.npy` files (`x.npy` + `y.npy`, or `x_train.npy` +
 * `y_train.npy`). Classes are the label values `0..K-1` unless named; image records are put in
 * HWC order (`image-layout.ts`), with a notice when their layout was inferred.
 */

/** Options for {@link loadNpzArrays} and {@link loadNpyArrays}. */
export interface BareArrayOptions {
  /** The features: an array name in an `.npz`, a `.npy` file stem in a folder (default `x`). */
  readonly xKey?: string;
  /**
   * The labels: an array name in an `.npz`; for `.npy` files the stem (or path, relative to the
   * features' folder) of the labels file (default `y`, or `y_train` beside `x_train.npy`).
   */
  readonly yKey?: string;
  /** The layout of image records (default: inferred, with a notice). */
  readonly layout?: ImageLayout;
  /** Class names in label order (default `0`..`K-1`, K = largest label + 1). */
  readonly classes?: readonly string[];
}

/** A dataset read from bare arrays, with what the reader noticed (an inferred layout). */
export interface BareArrays {
  readonly dataset: Dataset;
  readonly notices: readonly string[];
}

/**
 * Reads an `.npz` file's features and labels (arrays `x` and `y`, or `xKey`/`yKey`).
 * `INVALID_FORMAT` naming the arrays it holds (and a likely pair, `x_train`/`y_train`) when one
 * is missing; shape, dtype and label errors as in {@link arraysToDataset}.
 */
export async function loadNpzArrays(
  path: string,
  options: BareArrayOptions = {},
): Promise<BareArrays> {
  const arrays = await readNpz(path);
  const xKey = options.xKey ?? 'x';
  const yKey = options.yKey ?? 'y';
  for (const key of [xKey, yKey]) {
    if (!arrays.has(key)) {
      const names = [...arrays.keys()];
      const pair = names.find((k) => /^x_/.test(k) && arrays.has(`y_${k.slice(2)}`));
      const hint = pair ? ` (e.g. --x-key ${pair} --y-key y_${pair.slice(2)})` : '';
      throw new AntidoteError(
        'INVALID_FORMAT',
        `${path} has no array "${key}" (arrays: ${names.join(', ') || 'none'}): features must be "${xKey}" and labels "${yKey}", or name them with --x-key and --y-key${hint}`,
        { path, arrays: names },
      );
    }
  }
  return arraysToDataset(arrays.get(xKey)!, arrays.get(yKey)!, `${path}:${xKey}`, options);
}

/**
 * The labels file that goes with the `.npy` features `xPath`: `yKey` (a stem or a path,
 * relative to the features' folder) when given, else the features' name with its leading `x`
 * (or `X`) replaced by `y` (`x.npy` → `y.npy`, `X_train.npy` → `y_train.npy`).
 * `INVALID_ARGUMENT` when there is no such rule for the name.
 */
export function labelsPathFor(xPath: string, yKey?: string): string {
  if (yKey !== undefined) return join(dirname(xPath), yKey.endsWith('.npy') ? yKey : `${yKey}.npy`);
  const name = basename(xPath);
  if (!/^[xX]/.test(name)) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `${xPath}: cannot tell which file holds the labels (a features file named x….npy has them in y….npy): name it with --y-key FILE`,
      { path: xPath },
    );
  }
  return join(dirname(xPath), `y${name.slice(1)}`);
}

/**
 * Reads a `.npy` features file and its labels file ({@link labelsPathFor}). `NOT_FOUND` naming
 * the labels file when it is missing.
 */
export async function loadNpyArrays(
  xPath: string,
  options: BareArrayOptions = {},
): Promise<BareArrays> {
  const yPath = labelsPathFor(xPath, options.yKey);
  if (!(await isFile(yPath))) {
    throw new AntidoteError(
      'NOT_FOUND',
      `${xPath} holds features but its labels file ${yPath} does not exist: put the labels (integers, one per record) there with np.save, or name the file with --y-key`,
      { path: yPath },
    );
  }
  return arraysToDataset(await readNpy(xPath), await readNpy(yPath), xPath, options);
}

/** The `.npy` features file of a folder of bare arrays (`DIR/x.npy`, or `xKey`), if there is one. */
export async function npyFeaturesIn(dir: string, xKey = 'x'): Promise<string | undefined> {
  const path = join(dir, xKey.endsWith('.npy') ? xKey : `${xKey}.npy`);
  return (await isFile(path)) ? path : undefined;
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/**
 * Features and labels as a dataset: `x` of shape `[N, ...]` (any numeric dtype; image records
 * reordered to HWC), `y` of shape `[N]` or `[N, 1]` (integers, or floats with integer values).
 * `SHAPE_MISMATCH` for other shapes, `UNSUPPORTED_DTYPE` for fractional or negative labels.
 */
export function arraysToDataset(
  xa: NdArray,
  ya: NdArray,
  where: string,
  options: BareArrayOptions = {},
): BareArrays {
  if (xa.shape.length < 2) {
    throw new AntidoteError(
      'SHAPE_MISMATCH',
      `${where}: features must have shape [N, ...] (at least 2 dimensions), got [${xa.shape.join(', ')}]`,
      { path: where },
    );
  }
  const n = xa.shape[0]!;
  const flatY = ya.shape.length === 1 || (ya.shape.length === 2 && ya.shape[1] === 1);
  if (!flatY || ya.shape[0] !== n) {
    throw new AntidoteError(
      'SHAPE_MISMATCH',
      `${where}: labels must have shape [${n}] (one integer per record) to match features [${xa.shape.join(', ')}], got [${ya.shape.join(', ')}]`,
      { path: where },
    );
  }
  const y = labelsOf(ya, where);
  let max = -1;
  for (let i = 0; i < y.length; i++) {
    if (y[i]! < 0) {
      throw new AntidoteError(
        'LABEL_OUT_OF_RANGE',
        `${where}: record ${i} has label ${y[i]}: labels are class indices 0..K-1`,
        { path: where, record: i },
      );
    }
    if (y[i]! > max) max = y[i]!;
  }
  const classes = options.classes
    ? [...options.classes]
    : Array.from({ length: Math.max(max + 1, 1) }, (_, k) => String(k));
  const laid = toHwc(ndToFloat32(xa, where), xa.shape, where, options.layout);
  const dataset = validateDataset(
    { x: laid.x, shape: laid.shape, y, classes, ids: defaultIds(n) },
    { where },
  );
  return { dataset, notices: laid.notice ? [laid.notice] : [] };
}

/** Integer labels; float labels are accepted when every value is a whole number. */
function labelsOf(ya: NdArray, where: string): Int32Array {
  if (ya.dtype !== 'float32' && ya.dtype !== 'float64') return ndToInt32(ya, `${where} labels`);
  const values = ndToNumbers(ya, where);
  const y = new Int32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (!Number.isInteger(v) || Math.abs(v) > 2 ** 31 - 1) {
      throw new AntidoteError(
        'UNSUPPORTED_DTYPE',
        `${where}: label ${v} of record ${i} is not a whole number (labels are class indices 0..K-1)`,
        { path: where, record: i, dtype: ya.dtype },
      );
    }
    y[i] = v;
  }
  return y;
}
