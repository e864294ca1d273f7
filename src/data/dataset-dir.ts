import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { AntidoteError } from '../errors.js';
import { readBytes, writeDirAtomic, writeFileAtomic } from '../util/fs.js';
import { parseJson, parseWith } from '../util/schema.js';
import { type Dataset, defaultIds, validateDataset } from './dataset.js';
import { ndarray, ndToFloat32, ndToInt32 } from './npy.js';
import { decodeNpz, encodeNpz } from './npz.js';

/**
 * The dataset directory: the on-disk format every Antidote command reads and writes, so that
 * commands chain (`attack` → `detect` → `train`):
 *
 * ```
 * DIR/data.npz      x: float32 [N, ...], y: int32 [N]   (np.savez-compatible)
 * DIR/dataset.json  { format, version, shape, classes, ids, sources?, texts?, attack?, meta? }
 * ```
 *
 * A NumPy user makes one with `np.savez('DIR/data.npz', x=x, y=y)` and a `dataset.json` holding
 * just `{"classes": [...]}`: on read, `x` may have any numeric dtype (converted to float32), `y`
 * any integer dtype (int32 or int64 typically), ids default to `0`..`N-1` zero-padded and the
 * shape is taken from `x`.
 */

/** File name of the arrays in a dataset directory. */
export const DATA_FILE = 'data.npz';
/** File name of the description in a dataset directory. */
export const DESCRIPTION_FILE = 'dataset.json';
/** The `format` tag of `dataset.json`. */
export const DATASET_FORMAT = 'antidote-dataset';
/** The current `version` of `dataset.json`. */
export const DATASET_VERSION = 1;

/** Schema of `dataset.json`; only `classes` is required. Unknown keys are refused. */
export const DatasetJsonSchema = z
  .object({
    format: z.literal(DATASET_FORMAT).optional(),
    version: z.literal(DATASET_VERSION).optional(),
    shape: z.array(z.number().int().nonnegative()).min(2).optional(),
    classes: z.array(z.string()).min(1),
    ids: z.array(z.string()).optional(),
    sources: z.array(z.string()).optional(),
    texts: z.array(z.string()).optional(),
    attack: z.unknown().optional(),
    meta: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();

/** The content of `dataset.json`. */
export type DatasetJson = z.infer<typeof DatasetJsonSchema>;

/** A dataset read from (or to be written to) a dataset directory, with its records of origin. */
export interface DatasetDir {
  readonly dataset: Dataset;
  /** The attack record of a poisoned dataset (JSON), as written by the attack that made it. */
  readonly attack?: unknown;
  /** Free-form JSON metadata (origin, command line, notes). */
  readonly meta?: Record<string, unknown>;
}

/** Options for {@link readDatasetDir}. */
export interface ReadDatasetDirOptions {
  /** Check every feature is finite (default true). */
  readonly checkFinite?: boolean;
}

/** Options for {@link writeDatasetDir}. */
export interface WriteDatasetDirOptions {
  /** Replace an existing directory (default false: `ALREADY_EXISTS`). */
  readonly overwrite?: boolean;
  /** Deflate `data.npz` like `np.savez_compressed` (default false). */
  readonly compress?: boolean;
}

/** True when `dir` holds a `dataset.json` (i.e. looks like a dataset directory). */
export async function isDatasetDir(dir: string): Promise<boolean> {
  try {
    return (await stat(join(dir, DESCRIPTION_FILE))).isFile();
  } catch {
    return false;
  }
}

function parseDescription(text: string, where: string): DatasetJson {
  const json = parseJson(text, where, { head: `${where}: malformed JSON` });
  return parseWith(DatasetJsonSchema, json, where, {
    head: `${where}: not a valid dataset description`,
    allIssues: true,
  });
}

/**
 * Reads a dataset directory and validates it (`validateDataset`): shape vs values, one label, id,
 * source and text per record, labels in range, finite features.
 *
 * Errors: `NOT_FOUND` for a missing directory or file; `INVALID_FORMAT` for a malformed
 * `dataset.json`/`data.npz` or a missing `x`/`y`; `UNSUPPORTED_DTYPE` for float labels;
 * `SHAPE_MISMATCH`, `LABEL_OUT_OF_RANGE`, `NON_FINITE_VALUE` from validation, each naming the
 * directory and the record.
 */
export async function readDatasetDir(
  dir: string,
  options: ReadDatasetDirOptions = {},
): Promise<DatasetDir> {
  let isDir = false;
  try {
    isDir = (await stat(dir)).isDirectory();
  } catch {
    throw new AntidoteError('NOT_FOUND', `dataset directory ${dir} does not exist`, { path: dir });
  }
  if (!isDir) {
    throw new AntidoteError('INVALID_FORMAT', `${dir} is not a directory`, { path: dir });
  }
  const jsonPath = join(dir, DESCRIPTION_FILE);
  const npzPath = join(dir, DATA_FILE);
  const desc = parseDescription(new TextDecoder().decode(await readBytes(jsonPath)), jsonPath);
  const arrays = decodeNpz(await readBytes(npzPath), npzPath);
  const xa = arrays.get('x');
  const ya = arrays.get('y');
  for (const [name, a] of [
    ['x', xa],
    ['y', ya],
  ] as const) {
    if (!a) {
      throw new AntidoteError(
        'INVALID_FORMAT',
        `${npzPath} has no array "${name}" (arrays: ${[...arrays.keys()].join(', ') || 'none'})`,
        { path: npzPath },
      );
    }
  }
  if (xa!.shape.length < 2) {
    throw new AntidoteError(
      'SHAPE_MISMATCH',
      `${npzPath}: x must have shape [N, ...] with at least 2 dimensions, got [${xa!.shape.join(', ')}]`,
      { path: npzPath },
    );
  }
  const n = xa!.shape[0]!; // rank ≥ 2 checked above
  if (ya!.shape.length !== 1 || ya!.shape[0] !== n) {
    throw new AntidoteError(
      'SHAPE_MISMATCH',
      `${npzPath}: y must have shape [${n}] to match x [${xa!.shape.join(', ')}], got [${ya!.shape.join(', ')}]`,
      { path: npzPath },
    );
  }
  if (desc.shape && desc.shape.join(',') !== xa!.shape.join(',')) {
    throw new AntidoteError(
      'SHAPE_MISMATCH',
      `${jsonPath} says shape [${desc.shape.join(', ')}] but x in ${DATA_FILE} has shape [${xa!.shape.join(', ')}]`,
      { path: jsonPath },
    );
  }
  const dataset: Dataset = {
    x: ndToFloat32(xa!, `${npzPath}:x`),
    shape: [...xa!.shape],
    y: ndToInt32(ya!, `${npzPath}:y`),
    classes: desc.classes,
    ids: desc.ids ?? defaultIds(n),
    ...(desc.sources ? { source: desc.sources } : {}),
    ...(desc.texts ? { text: desc.texts } : {}),
  };
  validateDataset(dataset, { where: dir, checkFinite: options.checkFinite });
  return {
    dataset,
    ...(desc.attack !== undefined ? { attack: desc.attack } : {}),
    ...(desc.meta !== undefined ? { meta: desc.meta } : {}),
  };
}

/** The `dataset.json` object {@link writeDatasetDir} writes for `ds` (keys in a fixed order). */
export function describeDataset(
  ds: Dataset,
  extras: { attack?: unknown; meta?: Record<string, unknown> } = {},
): DatasetJson {
  return {
    format: DATASET_FORMAT,
    version: DATASET_VERSION,
    shape: [...ds.shape],
    classes: [...ds.classes],
    ids: [...ds.ids],
    ...(ds.source ? { sources: [...ds.source] } : {}),
    ...(ds.text ? { texts: [...ds.text] } : {}),
    ...(extras.attack !== undefined ? { attack: extras.attack } : {}),
    ...(extras.meta !== undefined ? { meta: extras.meta } : {}),
  };
}

/**
 * Writes `ds` (validated first) as a dataset directory, atomically: the directory appears complete
 * or not at all. `x` is written as float32, `y` as int32. Equal inputs give byte-identical files.
 *
 * Errors: `ALREADY_EXISTS` unless `overwrite`; validation errors as in `validateDataset`;
 * `INVALID_ARGUMENT` when `attack`/`meta` are not JSON-serialisable.
 */
export async function writeDatasetDir(
  dir: string,
  ds: Dataset,
  extras: { attack?: unknown; meta?: Record<string, unknown> } = {},
  options: WriteDatasetDirOptions = {},
): Promise<void> {
  validateDataset(ds, { where: dir });
  const desc = describeDataset(ds, extras);
  let json: string;
  try {
    json = `${JSON.stringify(desc, null, 2)}\n`;
  } catch (e) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `the attack record or metadata is not JSON-serialisable: ${(e as Error).message}`,
      { path: dir },
    );
  }
  const check = DatasetJsonSchema.safeParse(JSON.parse(json));
  if (!check.success) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `invalid dataset description: ${check.error.message}`,
      {
        path: dir,
      },
    );
  }
  const npz = encodeNpz(
    {
      x: ndarray('float32', ds.shape, ds.x),
      y: ndarray('int32', [ds.y.length], ds.y),
    },
    { compress: options.compress ?? false },
  );
  await writeDirAtomic(
    dir,
    async (tmp) => {
      await writeFileAtomic(join(tmp, DATA_FILE), npz);
      await writeFileAtomic(join(tmp, DESCRIPTION_FILE), json);
    },
    { overwrite: options.overwrite },
  );
}
