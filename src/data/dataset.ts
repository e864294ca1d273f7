import { AntidoteError } from '../errors.js';

/**
 * N labelled records of one shape, features stored row-major in one `Float32Array`.
 *
 * - images: `shape = [N, H, W, C]` (HWC, values usually in [0, 1]);
 * - tabular / text features: `shape = [N, D]`.
 *
 * Datasets are treated as immutable values: attacks and transforms return new ones.
 */
export interface Dataset {
  /** Features, row-major, `shape.reduce(*)` values. */
  readonly x: Float32Array;
  /** `[N, ...recordShape]`. */
  readonly shape: readonly number[];
  /** Labels in `[0, classes.length)`, one per record. */
  readonly y: Int32Array;
  /** Class names; `classes[y[i]]` is record i's label. */
  readonly classes: readonly string[];
  /** Stable record ids (unique), used for hashing, lineage and reports. */
  readonly ids: readonly string[];
  /** Provenance per record (contributor, file, feed), when known. */
  readonly source?: readonly string[];
  /** Raw text per record, for text datasets. */
  readonly text?: readonly string[];
}

/** Number of records in `ds`. */
export function numRecords(ds: Pick<Dataset, 'shape'>): number {
  return ds.shape[0]!;
}

/** Shape of one record (`shape` without the leading N). */
export function recordShape(ds: Pick<Dataset, 'shape'>): number[] {
  return ds.shape.slice(1);
}

/** Number of feature values in one record. */
export function recordSize(ds: Pick<Dataset, 'shape'>): number {
  let s = 1;
  for (let i = 1; i < ds.shape.length; i++) s *= ds.shape[i]!;
  return s;
}

/** Per-class record counts, indexed by class. */
export function classCounts(ds: Pick<Dataset, 'y' | 'classes'>): number[] {
  const counts = new Array<number>(ds.classes.length).fill(0);
  for (let i = 0; i < ds.y.length; i++) counts[ds.y[i]!]!++;
  return counts;
}

/** Options for {@link validateDataset}. */
export interface ValidateOptions {
  /** Where the dataset came from, for error messages. */
  readonly where?: string;
  /** Check every feature is finite (O(N·D)); default true. */
  readonly checkFinite?: boolean;
}

/**
 * Checks the invariants of a {@link Dataset}: shape vs feature count, one label, id (unique),
 * source and text per record, labels in range, finite features. Throws an `AntidoteError` naming
 * the first offending record; returns the dataset unchanged otherwise.
 */
export function validateDataset<T extends Dataset>(ds: T, options: ValidateOptions = {}): T {
  const where = options.where ? ` in ${options.where}` : '';
  const details = options.where ? { path: options.where } : {};
  if (ds.shape.length < 2 || ds.shape.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new AntidoteError(
      'SHAPE_MISMATCH',
      `dataset shape must be [N, ...] with non-negative integer dimensions, got [${ds.shape.join(', ')}]${where}`,
      details,
    );
  }
  const n = ds.shape[0]!;
  const size = recordSize(ds);
  if (ds.x.length !== n * size) {
    throw new AntidoteError(
      'SHAPE_MISMATCH',
      `features hold ${ds.x.length} values but shape [${ds.shape.join(', ')}] needs ${n * size}${where}`,
      details,
    );
  }
  for (const [name, len] of [
    ['labels', ds.y.length],
    ['ids', ds.ids.length],
    ['sources', ds.source?.length ?? n],
    ['texts', ds.text?.length ?? n],
  ] as const) {
    if (len !== n) {
      throw new AntidoteError(
        'SHAPE_MISMATCH',
        `dataset has ${n} records but ${len} ${name}${where}`,
        details,
      );
    }
  }
  if (ds.classes.length === 0) {
    throw new AntidoteError('INVALID_FORMAT', `dataset has no classes${where}`, details);
  }
  const k = ds.classes.length;
  for (let i = 0; i < n; i++) {
    const label = ds.y[i]!;
    if (label < 0 || label >= k) {
      throw new AntidoteError(
        'LABEL_OUT_OF_RANGE',
        `record ${i} (id ${ds.ids[i]}) has label ${label}, outside [0, ${k})${where}`,
        { ...details, record: i, id: ds.ids[i] },
      );
    }
  }
  const seen = new Set<string>();
  for (let i = 0; i < n; i++) {
    if (seen.has(ds.ids[i]!)) {
      throw new AntidoteError('INVALID_FORMAT', `record id "${ds.ids[i]}" appears twice${where}`, {
        ...details,
        record: i,
      });
    }
    seen.add(ds.ids[i]!);
  }
  if (options.checkFinite !== false) {
    for (let j = 0; j < ds.x.length; j++) {
      if (!Number.isFinite(ds.x[j])) {
        const record = Math.floor(j / Math.max(size, 1));
        throw new AntidoteError(
          'NON_FINITE_VALUE',
          `record ${record} (id ${ds.ids[record]}) has a non-finite feature (${ds.x[j]}) at offset ${j % size}${where}`,
          { ...details, record, id: ds.ids[record] },
        );
      }
    }
  }
  return ds;
}

/** Default record ids: `prefix` + zero-padded index. */
export function defaultIds(n: number, prefix = ''): string[] {
  const width = String(Math.max(n - 1, 0)).length;
  return Array.from({ length: n }, (_, i) => prefix + String(i).padStart(width, '0'));
}

/**
 * The records at `indices` (in that order) as a new dataset. Provenance and text follow their
 * records.
 */
export function selectRecords(ds: Dataset, indices: ArrayLike<number>): Dataset {
  const size = recordSize(ds);
  const n = indices.length;
  const x = new Float32Array(n * size);
  const y = new Int32Array(n);
  const ids = new Array<string>(n);
  const source = ds.source ? new Array<string>(n) : undefined;
  const text = ds.text ? new Array<string>(n) : undefined;
  const total = numRecords(ds);
  for (let i = 0; i < n; i++) {
    const j = indices[i]!;
    if (!Number.isInteger(j) || j < 0 || j >= total) {
      throw new AntidoteError('INVALID_ARGUMENT', `record index ${j} is outside [0, ${total})`);
    }
    x.set(ds.x.subarray(j * size, (j + 1) * size), i * size);
    y[i] = ds.y[j]!;
    ids[i] = ds.ids[j]!;
    if (source) source[i] = ds.source![j]!;
    if (text) text[i] = ds.text![j]!;
  }
  return {
    x,
    shape: [n, ...recordShape(ds)],
    y,
    classes: ds.classes,
    ids,
    ...(source ? { source } : {}),
    ...(text ? { text } : {}),
  };
}
