import { stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { AntidoteError } from '../errors.js';
import { type CsvOptions, loadCsv } from './csv.js';
import { DATA_FILE, type DatasetDir, isDatasetDir, readDatasetDir } from './dataset-dir.js';
import { loadNamedDataset, NAMED_DATASET_NAMES } from './datasets/registry.js';
import { loadMnist, type MnistSplit } from './mnist.js';
import { loadPngFolder, type PngFolderOptions, type ProgressCallback } from './png-folder.js';
import { loadTextDataset, type TextOptions } from './text.js';
import { takeFirst } from './transform.js';

/** The built-in dataset names {@link loadDataset} resolves (each also takes a `:N` limit suffix). */
export const BUILTIN_DATASETS: readonly string[] = ['mnist', 'mnist:train', 'mnist:test'];

/** Where a loaded dataset came from. */
export type DatasetKind = 'builtin' | 'named' | 'dataset-dir' | 'png-folder' | 'csv' | 'text';

/** A dataset resolved from a spec, with its attack record and metadata when it has them. */
export interface LoadedDataset extends DatasetDir {
  readonly kind: DatasetKind;
  /** The spec as given. */
  readonly spec: string;
}

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
}

const BUILTIN = /^mnist(?::(train|test))?(?::(\d+))?$/;

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
 * - a built-in name: `mnist` (= `mnist:train`), `mnist:train`, `mnist:test`, optionally with a
 *   record limit suffix (`mnist:test:500`);
 * - a dataset directory (`dataset.json` + `data.npz`; see `readDatasetDir`);
 * - a folder of class subfolders of PNG images (see `loadPngFolder`);
 * - a `.csv` file (see `loadCsv`) or a `.json` / `.jsonl` / `.ndjson` text file (see
 *   `loadTextDataset`).
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
    const split = (m[1] ?? 'train') as MnistSplit;
    const limits = [m[2] === undefined ? undefined : Number(m[2]), options.limit].filter(
      (v): v is number => v !== undefined,
    );
    const limit = limits.length ? Math.min(...limits) : undefined;
    const dataset = await loadMnist(split, limit === undefined ? {} : { limit });
    return { kind: 'builtin', spec, dataset };
  }
  let info: Awaited<ReturnType<typeof stat>>;
  try {
    info = await stat(spec);
  } catch {
    // Not a path: a registered text or tabular dataset (sentiment, spambase, …)?
    if ((NAMED_DATASET_NAMES as readonly string[]).includes(spec.split(':')[0])) {
      const named = await loadNamedDataset(
        spec,
        options.limit === undefined ? {} : { limit: options.limit },
      );
      return {
        kind: 'named',
        spec,
        dataset: named.dataset,
        meta: { dataset: named.info.name, type: named.kind },
      };
    }
    throw new AntidoteError(
      'NOT_FOUND',
      `no dataset "${spec}": not a built-in (${BUILTIN_DATASETS.join(', ')}, ${NAMED_DATASET_NAMES.join(', ')}, with an optional :N limit) and no such file or directory`,
      { path: spec, builtins: BUILTIN_DATASETS },
    );
  }
  const limited = (d: LoadedDataset): LoadedDataset =>
    options.limit === undefined ? d : { ...d, dataset: takeFirst(d.dataset, options.limit) };
  if (info.isDirectory()) {
    let hasData = false;
    try {
      hasData = (await stat(join(spec, DATA_FILE))).isFile();
    } catch {
      hasData = false;
    }
    if (hasData || (await isDatasetDir(spec))) {
      const dir = await readDatasetDir(spec, { checkFinite: options.checkFinite });
      return limited({ kind: 'dataset-dir', spec, ...dir });
    }
    const dataset = await loadPngFolder(spec, { ...options.png, onProgress: options.onProgress });
    return limited({ kind: 'png-folder', spec, dataset });
  }
  const ext = extname(spec).toLowerCase();
  if (ext === '.csv' || ext === '.tsv') {
    const csv = { ...(ext === '.tsv' ? { delimiter: '\t' } : {}), ...options.csv };
    const { dataset } = await loadCsv(spec, csv);
    return limited({ kind: 'csv', spec, dataset });
  }
  if (ext === '.json' || ext === '.jsonl' || ext === '.ndjson') {
    const dataset = await loadTextDataset(spec, options.text);
    return limited({ kind: 'text', spec, dataset });
  }
  throw new AntidoteError(
    'INVALID_ARGUMENT',
    `cannot tell what kind of dataset ${spec} is: expected a dataset directory, a PNG class folder, a .csv, .json or .jsonl file, or a built-in (${BUILTIN_DATASETS.join(', ')})`,
    { path: spec },
  );
}
