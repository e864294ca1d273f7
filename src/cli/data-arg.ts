import { type Command, Option } from 'commander';
import type { CsvOptions } from '../data/csv.js';
import { IMAGE_LAYOUTS, type ImageLayout } from '../data/image-layout.js';
import type { LoadDatasetOptions, LoadedDataset } from '../data/load.js';
import type { OutputOptions } from './output.js';
import { createProgressBar, progressEnabled } from './progress.js';

/** The flags {@link addDataOptions} adds: how to read a CSV file or bare NumPy arrays. */
export interface DataCliOptions {
  /** CSV: the label column (name or 0-based index). */
  label?: string;
  /** CSV: the record id column. */
  id?: string;
  /** CSV: categorical columns (one-hot encoded by the tabular models). */
  categorical?: string[];
  /** CSV: columns to leave out. */
  ignore?: string[];
  /**
   * CSV: the column naming each record's source (contributor, host, file). Not one of the shared
   * flags (`attack label-flip --source` names a class): `scan --source COLUMN` sets it.
   */
  sourceColumn?: string;
  /** `.npz` / `.npy`: the features array (or file stem). */
  xKey?: string;
  /** `.npz` / `.npy`: the labels array (or file stem). */
  yKey?: string;
  /** Class names in label order. */
  classes?: string[];
  /** Layout of image records in NumPy arrays. */
  dataLayout?: ImageLayout;
}

const list = (value: string, previous: string[] | undefined): string[] => [
  ...(previous ?? []),
  ...value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== ''),
];

/**
 * Adds the flags that say how to read `--data` when it is a CSV file (`--label`, `--id`,
 * `--categorical`, `--ignore`) or bare NumPy arrays (`--x-key`, `--y-key`, `--data-layout`), and
 * `--classes` (issue 21, item 1; docs/datasets.md).
 */
export function addDataOptions(cmd: Command): Command {
  return cmd
    .option(
      '--label <column>',
      'CSV: the label column, by name or 0-based index (default: "label", else the last)',
    )
    .option('--id <column>', 'CSV: the column of record ids')
    .option(
      '--categorical <columns>',
      'CSV: categorical columns, comma-separated (one-hot encoded by the tabular models)',
      list,
    )
    .option('--ignore <columns>', 'CSV: columns to leave out, comma-separated', list)
    .option('--x-key <name>', '.npz: the features array (default x); .npy: the features file stem')
    .option(
      '--y-key <name>',
      '.npz: the labels array (default y); .npy: the labels file (default y….npy beside x….npy)',
    )
    .option(
      '--classes <names>',
      'class names in label order, comma-separated (default 0..K-1)',
      list,
    )
    .addOption(
      new Option(
        '--data-layout <layout>',
        'layout of image records in NumPy arrays (default: inferred, with a notice)',
      ).choices([...IMAGE_LAYOUTS]),
    );
}

/** A CSV column flag: a 0-based index when it is all digits, else a header name. */
const column = (c: string): string | number => (/^\d+$/.test(c) ? Number(c) : c);

/** The loader options the flags of {@link addDataOptions} ask for. */
export function dataLoadOptions(o: DataCliOptions): Pick<LoadDatasetOptions, 'csv' | 'arrays'> {
  const csv: CsvOptions = {
    ...(o.label !== undefined ? { label: column(o.label) } : {}),
    ...(o.id !== undefined ? { id: column(o.id) } : {}),
    ...(o.categorical ? { categorical: o.categorical.map(column) } : {}),
    ...(o.ignore ? { ignore: o.ignore.map(column) } : {}),
    ...(o.sourceColumn !== undefined ? { source: column(o.sourceColumn) } : {}),
    ...(o.classes ? { classes: o.classes } : {}),
  };
  return {
    csv,
    arrays: {
      ...(o.xKey !== undefined ? { xKey: o.xKey } : {}),
      ...(o.yKey !== undefined ? { yKey: o.yKey } : {}),
      ...(o.classes ? { classes: o.classes } : {}),
      ...(o.dataLayout ? { layout: o.dataLayout } : {}),
    },
  };
}

/**
 * Loads a `DATA` argument: a dataset directory, a CSV / JSON(L) / PNG-folder / `.npz` / `.npy`
 * path, or a built-in name (`mnist`, `mnist:train`, `mnist:test`, `mnist:train:1000`), with a
 * progress bar for slow loaders, read as the flags of {@link addDataOptions} say. The loader's
 * notices (an inferred image layout) go to stderr as `notice: …` unless `--quiet`.
 */
export async function loadDataArg(
  spec: string,
  options: OutputOptions & DataCliOptions & { limit?: number } = {},
): Promise<LoadedDataset> {
  const enabled = progressEnabled(options);
  let bar: ReturnType<typeof createProgressBar> | undefined;
  let loaded: LoadedDataset;
  try {
    // Loaded here, not with this module: `scan --queue`'s early start reads only the data flags
    // (`scan-early.ts`), and the loaders (PNG, CSV, archives) cost ≈ 0.1 s of CPU to load.
    const { loadDataset } = await import('../data/load.js');
    loaded = await loadDataset(spec, {
      ...dataLoadOptions(options),
      ...(options.limit !== undefined ? { limit: options.limit } : {}),
      onProgress: (done, total) => {
        bar ??= createProgressBar(`load ${spec}`, total, enabled);
        bar.update(done);
      },
    });
  } finally {
    bar?.stop();
  }
  if (!options.quiet) {
    for (const n of loaded.notices ?? []) process.stderr.write(`notice: ${n}\n`);
  }
  return loaded;
}
