import { type LoadedDataset, loadDataset } from '../data/load.js';
import type { OutputOptions } from './output.js';
import { createProgressBar, progressEnabled } from './progress.js';

/**
 * Loads a `DATA` argument: a dataset directory, a CSV / JSON(L) / PNG-folder path, or a built-in
 * name (`mnist`, `mnist:train`, `mnist:test`, `mnist:train:1000`), with a progress bar for slow
 * loaders.
 */
export async function loadDataArg(
  spec: string,
  options: OutputOptions & { limit?: number } = {},
): Promise<LoadedDataset> {
  const enabled = progressEnabled(options);
  let bar: ReturnType<typeof createProgressBar> | undefined;
  try {
    return await loadDataset(spec, {
      ...(options.limit !== undefined ? { limit: options.limit } : {}),
      onProgress: (done, total) => {
        bar ??= createProgressBar(`load ${spec}`, total, enabled);
        bar.update(done);
      },
    });
  } finally {
    bar?.stop();
  }
}
