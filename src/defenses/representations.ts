import { type Dataset, numRecords, recordShape, recordSize } from '../data/dataset.js';
import type { Classifier } from '../engine/classifier.js';
import { AntidoteError } from '../errors.js';
import type { DetectionProgress } from './detector.js';

/**
 * Representations (activations of one layer) of every record of a dataset, row-major `[n, dim]`.
 * Detectors that need only the representations take this instead of a model, so they can be
 * tested and benchmarked without a forward pass.
 */
export interface Representations {
  /** `[n, dim]`, row-major. */
  readonly data: Float32Array;
  /** Features per record. */
  readonly dim: number;
}

/** Options for {@link computeRepresentations}. */
export interface RepresentationOptions {
  /** Layer to read (must be one of `model.layerNames`); default: the model's penultimate layer. */
  readonly layer?: string;
  /** Records per forward pass; default 1024. */
  readonly batchSize?: number;
  /** Progress per batch. */
  readonly onProgress?: (p: DetectionProgress) => void;
}

/**
 * Throws `SHAPE_MISMATCH` when the model's input shape differs from the dataset's record shape,
 * and `INVALID_ARGUMENT` when the model has fewer outputs than the dataset has classes.
 */
export function checkModelMatchesData(ds: Dataset, model: Classifier): void {
  const rs = recordShape(ds);
  const is = model.inputShape;
  const same = rs.length === is.length && rs.every((d, i) => d === is[i]);
  // A model declaring [D] can still read [H, W, C] records of the same size when flattening is
  // explicit; we do not guess: the shapes must match exactly.
  if (!same) {
    throw new AntidoteError(
      'SHAPE_MISMATCH',
      `model expects records of shape [${is.join(', ')}] but the dataset's records have shape [${rs.join(', ')}]`,
    );
  }
  if (model.numClasses < ds.classes.length) {
    throw new AntidoteError(
      'SHAPE_MISMATCH',
      `model has ${model.numClasses} outputs but the dataset has ${ds.classes.length} classes`,
    );
  }
}

/**
 * Checks that `layer` (when given) is one of the model's layers; throws `NOT_FOUND` naming the
 * layers that do exist.
 */
export function checkLayer(model: Classifier, layer: string | undefined): void {
  if (layer !== undefined && !model.layerNames.includes(layer)) {
    throw new AntidoteError(
      'NOT_FOUND',
      `layer "${layer}" does not exist in the model; its layers are: ${model.layerNames.join(', ')}`,
      { layer },
    );
  }
}

/** What one model's forward passes over one record array gave: representations per layer, probabilities. */
interface ForwardCache {
  readonly reps: Map<string, Representations>;
  probabilities?: Float32Array;
}

/**
 * Representations and class probabilities already computed, per model and record array (and
 * layer): the detectors of one scan read the same forward pass, so it runs once (issue 16's speed
 * target), and with a classifier that gives both from one pass (`activationsAndProba`) the
 * arbitrary-label test reads the probabilities of the pass that gave the representations.
 * Held weakly: an entry goes with its model or its records.
 */
const computed = new WeakMap<Classifier, WeakMap<Float32Array, ForwardCache>>();

function cacheOf(model: Classifier, x: Float32Array): ForwardCache {
  const byRecords = computed.get(model) ?? new WeakMap<Float32Array, ForwardCache>();
  computed.set(model, byRecords);
  let cache = byRecords.get(x);
  if (!cache) {
    cache = { reps: new Map() };
    byRecords.set(x, cache);
  }
  return cache;
}

/**
 * Runs the model over `ds` in batches and collects the activations of one layer (default the
 * penultimate layer). Validates the model against the data first (see
 * {@link checkModelMatchesData}, {@link checkLayer}). The result is remembered for the same
 * model, record array and layer (records are never mutated in place), so several detectors of
 * one scan share one forward pass; a classifier with `activationsAndProba` gives the class
 * probabilities from the same pass, remembered for {@link computeProbabilities}.
 */
export async function computeRepresentations(
  ds: Dataset,
  model: Classifier,
  options: RepresentationOptions = {},
): Promise<Representations> {
  checkModelMatchesData(ds, model);
  checkLayer(model, options.layer);
  const cache = cacheOf(model, ds.x);
  const known = cache.reps.get(options.layer ?? '');
  if (known) {
    options.onProgress?.({ stage: 'activations', done: numRecords(ds), total: numRecords(ds) });
    return known;
  }
  return (await forwardPass(ds, model, options)).reps;
}

/** Options of {@link computeProbabilities}. */
export interface ProbabilityOptions {
  /** Records per `predictProba` call when the probabilities need a pass of their own; default 2048. */
  readonly batchSize?: number;
  /** Progress per batch. */
  readonly onProgress?: (p: DetectionProgress) => void;
}

/**
 * The model's class probabilities on every record of `ds`, `[n, K]` row-major: remembered from a
 * forward pass that already gave them ({@link computeRepresentations} with a classifier that has
 * `activationsAndProba`, or {@link rememberForwardPass}), else computed, with the default layer's
 * representations when the classifier gives both from one pass. Throws `SHAPE_MISMATCH` when the
 * model does not match the data or has another number of classes than the dataset.
 */
export async function computeProbabilities(
  ds: Dataset,
  model: Classifier,
  options: ProbabilityOptions = {},
): Promise<Float32Array> {
  checkModelMatchesData(ds, model);
  if (model.numClasses !== ds.classes.length) {
    throw new AntidoteError(
      'SHAPE_MISMATCH',
      `model has ${model.numClasses} classes but the dataset has ${ds.classes.length}`,
    );
  }
  const cache = cacheOf(model, ds.x);
  if (cache.probabilities) return cache.probabilities;
  if (model.activationsAndProba) {
    const { probabilities } = await forwardPass(ds, model, {
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    });
    if (probabilities) return probabilities;
  }
  const n = numRecords(ds);
  const size = recordSize(ds);
  const k = model.numClasses;
  const batch = checkBatch(options.batchSize ?? 2048);
  const out = new Float32Array(n * k);
  for (let s = 0; s < n; s += batch) {
    const m = Math.min(batch, n - s);
    out.set(await model.predictProba(ds.x.subarray(s * size, (s + m) * size), m), s * k);
    options.onProgress?.({ stage: 'probabilities', done: s + m, total: n });
  }
  cache.probabilities = out;
  return out;
}

/**
 * Remembers a forward pass computed elsewhere (the shards of a distributed scan,
 * `jobs/scan-jobs.ts`) as this model's on `ds`: {@link computeRepresentations} for `layer` and
 * {@link computeProbabilities} then answer from it. Throws `SHAPE_MISMATCH` when a part does not
 * hold one row per record.
 */
export function rememberForwardPass(
  ds: Dataset,
  model: Classifier,
  pass: {
    readonly layer?: string;
    readonly representations?: Representations;
    readonly probabilities?: Float32Array;
  },
): void {
  const n = numRecords(ds);
  const cache = cacheOf(model, ds.x);
  if (pass.representations) {
    const r = pass.representations;
    if (!(r.dim >= 1) || r.data.length !== n * r.dim) {
      throw new AntidoteError(
        'SHAPE_MISMATCH',
        `representations hold ${r.data.length} values of dimension ${r.dim}, not ${n} records`,
      );
    }
    cache.reps.set(pass.layer ?? '', r);
  }
  if (pass.probabilities) {
    if (pass.probabilities.length !== n * model.numClasses) {
      throw new AntidoteError(
        'SHAPE_MISMATCH',
        `probabilities hold ${pass.probabilities.length} values, not [${n}, ${model.numClasses}]`,
      );
    }
    cache.probabilities = pass.probabilities;
  }
}

/** `batch`, checked to be a positive integer (`INVALID_ARGUMENT`). */
function checkBatch(batch: number): number {
  if (!Number.isInteger(batch) || batch < 1) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `batchSize must be a positive integer, got ${batch}`,
    );
  }
  return batch;
}

/**
 * The batched forward pass of {@link computeRepresentations} (and the probabilities of the same
 * pass, when the classifier gives both and they are not known yet), remembered in the cache.
 */
async function forwardPass(
  ds: Dataset,
  model: Classifier,
  options: RepresentationOptions,
): Promise<{ reps: Representations; probabilities?: Float32Array }> {
  const n = numRecords(ds);
  const size = recordSize(ds);
  const batch = checkBatch(options.batchSize ?? 1024);
  const cache = cacheOf(model, ds.x);
  const both =
    model.activationsAndProba !== undefined &&
    cache.probabilities === undefined &&
    model.numClasses === ds.classes.length;
  const k = model.numClasses;
  const probabilities = both ? new Float32Array(n * k) : undefined;
  let data: Float32Array | undefined;
  let dim = 0;
  for (let start = 0; start < n; start += batch) {
    const m = Math.min(batch, n - start);
    const x = ds.x.subarray(start * size, (start + m) * size);
    const out: { data: Float32Array; dim: number; probabilities?: Float32Array } = both
      ? await model.activationsAndProba!(x, m, options.layer)
      : await model.activations(x, m, options.layer);
    if (data === undefined) {
      dim = out.dim;
      data = new Float32Array(n * dim);
    }
    if (out.dim !== dim || out.data.length !== m * dim) {
      throw new AntidoteError(
        'ENGINE_ERROR',
        `model returned ${out.data.length} activation values for ${m} records of dimension ${out.dim} (expected ${m * dim})`,
      );
    }
    data.set(out.data, start * dim);
    if (probabilities) {
      const p = out.probabilities;
      if (p?.length !== m * k) {
        throw new AntidoteError(
          'ENGINE_ERROR',
          `model returned ${p?.length ?? 0} probabilities for ${m} records of ${k} classes`,
        );
      }
      probabilities.set(p, start * k);
    }
    options.onProgress?.({ stage: 'activations', done: start + m, total: n });
  }
  const reps = { data: data ?? new Float32Array(0), dim };
  cache.reps.set(options.layer ?? '', reps);
  if (probabilities) cache.probabilities = probabilities;
  return { reps, ...(probabilities ? { probabilities } : {}) };
}

/** Checks a {@link Representations} against a record count; throws `SHAPE_MISMATCH`. */
export function checkRepresentations(reps: Representations, n: number): void {
  if (!Number.isInteger(reps.dim) || reps.dim < 1 || reps.data.length !== n * reps.dim) {
    throw new AntidoteError(
      'SHAPE_MISMATCH',
      `representations hold ${reps.data.length} values of dimension ${reps.dim}, but ${n} records need ${n * reps.dim}`,
    );
  }
  for (let i = 0; i < reps.data.length; i++) {
    if (!Number.isFinite(reps.data[i])) {
      throw new AntidoteError(
        'NON_FINITE_VALUE',
        `representation of record ${Math.floor(i / reps.dim)} has a non-finite value (${reps.data[i]})`,
        { record: Math.floor(i / reps.dim) },
      );
    }
  }
}
