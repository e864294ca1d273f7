/**
 * A worker's warm-up (issue 22): the per-class phases of the default detectors that run on the
 * workers without the model (`ac`, `ss`: clustering, PCA, robust covariances), run once on a small
 * synthetic, seeded set of representations when an `antidote worker` starts, before it reports
 * ready. A fresh process runs these numeric loops slowly the first time (V8 compiles them as they
 * get hot: measured ≈ 3 s more CPU in a cold worker's class jobs of a 60,000-record scan than in
 * a warm one's); paid at start, the first scan's class jobs find them compiled. What it computes
 * is thrown away: no job reads it, and nothing it touches outlives it.
 */
import type { Dataset } from '../data/dataset.js';
import { classPhasedDetector, plainOptions } from '../defenses/class-phases.js';
import { parseDetectorOptions } from '../defenses/detector-entry.js';
import { detectorEntry } from '../defenses/registry.js';
import { Rng } from '../util/rng.js';

/** The class-phased detectors a worker warms up (those that do not run the model). */
export const WARM_UP_METHODS: readonly string[] = Object.freeze(['ac', 'ss']);

/** Options of {@link warmUpClassPhases}. */
export interface WarmUpOptions {
  /** Synthetic records per class (default 2,000). */
  readonly records?: number;
  /** Their dimension (default 128, a CNN's penultimate layer). */
  readonly dim?: number;
  readonly seed?: number;
}

/**
 * Runs the per-class phase of each of {@link WARM_UP_METHODS} (default options) on two classes of
 * seeded Gaussian representations, the first with a planted cluster (10 % of its records shifted
 * along a few dimensions) so that the clustering's every step runs.
 */
export async function warmUpClassPhases(o: WarmUpOptions = {}): Promise<void> {
  const perClass = o.records ?? 2000;
  const dim = o.dim ?? 128;
  const seed = o.seed ?? 1;
  const rng = new Rng(seed);
  const n = 2 * perClass;
  const x = new Float32Array(n * dim);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    y[i] = i % 2;
    const planted = y[i] === 0 && i % 20 === 0;
    for (let k = 0; k < dim; k++) x[i * dim + k] = rng.normal() + (planted && k < 8 ? 4 : 0);
  }
  const ds: Dataset = {
    x,
    shape: [n, dim],
    y,
    classes: ['a', 'b'],
    ids: Array.from({ length: n }, (_, i) => `w${i}`),
  };
  for (const name of WARM_UP_METHODS) {
    const d = classPhasedDetector(name);
    if (!d) continue;
    const options = plainOptions(
      d.options(parseDetectorOptions(detectorEntry(name), {}), { seed }, ds),
    );
    for (let c = 0; c < ds.classes.length; c++) {
      const indices = Int32Array.from({ length: perClass }, (_, r) => 2 * r + c);
      const data = new Float32Array(perClass * dim);
      indices.forEach((i, r) => {
        data.set(x.subarray(i * dim, (i + 1) * dim), r * dim);
      });
      const rows = Int32Array.from({ length: perClass }, (_, r) => r);
      await d.perClass({ data, dim }, rows, indices, c, options);
      // Lets the worker's connection breathe between the synchronous phases.
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
}
