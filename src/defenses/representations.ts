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

/**
 * Representations already computed, per model, per record array and layer: the detectors of one
 * scan read the same activations, so the forward pass runs once (issue 16's speed target). Held
 * weakly: an entry goes with its model or its records.
 */
const computed = new WeakMap<Classifier, WeakMap<Float32Array, Map<string, Representations>>>();

/**
 * Runs the model over `ds` in batches and collects the activations of one layer (default the
 * penultimate layer). Validates the model against the data first (see
 * {@link checkModelMatchesData}, {@link checkLayer}). The result is remembered for the same
 * model, record array and layer (records are never mutated in place), so several detectors of
 * one scan share one forward pass.
 */
export async function computeRepresentations(
  ds: Dataset,
  model: Classifier,
  options: RepresentationOptions = {},
): Promise<Representations> {
  checkModelMatchesData(ds, model);
  checkLayer(model, options.layer);
  const key = options.layer ?? '';
  const byRecords = computed.get(model) ?? new WeakMap();
  computed.set(model, byRecords);
  const byLayer = byRecords.get(ds.x) ?? new Map<string, Representations>();
  byRecords.set(ds.x, byLayer);
  const known = byLayer.get(key);
  if (known) {
    options.onProgress?.({ stage: 'activations', done: numRecords(ds), total: numRecords(ds) });
    return known;
  }
  const reps = await forwardPass(ds, model, options);
  byLayer.set(key, reps);
  return reps;
}

/** The batched forward pass of {@link computeRepresentations}. */
async function forwardPass(
  ds: Dataset,
  model: Classifier,
  options: RepresentationOptions,
): Promise<Representations> {
  const n = numRecords(ds);
  const size = recordSize(ds);
  const batch = options.batchSize ?? 1024;
  if (!Number.isInteger(batch) || batch < 1) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `batchSize must be a positive integer, got ${batch}`,
    );
  }
  let data: Float32Array | undefined;
  let dim = 0;
  for (let start = 0; start < n; start += batch) {
    const m = Math.min(batch, n - start);
    const out = await model.activations(
      ds.x.subarray(start * size, (start + m) * size),
      m,
      options.layer,
    );
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
    options.onProgress?.({ stage: 'activations', done: start + m, total: n });
  }
  return { data: data ?? new Float32Array(0), dim };
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
