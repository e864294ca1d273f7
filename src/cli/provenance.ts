import { statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { datasetCacheDir, namedDatasetInfo } from '../data/datasets/registry.js';
import { sentimentFixtureDir } from '../data/datasets/sentiment.js';
import type { LoadedDataset } from '../data/load.js';
import { mnistDataDir } from '../data/mnist.js';
import { sha256File } from '../integrity/hash.js';
import type { DatasetInput } from '../integrity/lineage.js';
import { createManifest, hashRecords } from '../integrity/manifest.js';
import { datasetRecords } from './commands/manifest.js';

/**
 * What a training run's provenance records about its dataset: the digest of the files it came
 * from (a directory's manifest root, or a single file's SHA-256) and the Merkle root of its
 * records as loaded (so a `:N` limit or a relabelled record changes it).
 */
export async function datasetProvenance(loaded: LoadedDataset): Promise<DatasetInput> {
  const builtin = loaded.kind === 'builtin' || loaded.kind === 'named';
  const path = builtin ? builtinPath(loaded) : loaded.spec;
  const rootDigest = statSync(path).isDirectory()
    ? (await createManifest(path)).rootDigest
    : (await sha256File(path)).digest;
  return {
    name: builtin ? loaded.spec : basename(path),
    rootDigest,
    recordsRoot: hashRecords(datasetRecords(loaded.dataset)).merkleRoot,
    uri: builtin ? `antidote:${loaded.spec}` : path,
  };
}

/** The files a built-in or named dataset is read from. */
function builtinPath(loaded: LoadedDataset): string {
  if (loaded.kind === 'builtin') return mnistDataDir();
  const info = namedDatasetInfo(loaded.spec.split(':')[0] ?? '');
  return info.name === 'sentiment'
    ? sentimentFixtureDir()
    : join(datasetCacheDir(), info.name, info.file);
}
