import { AntidoteError } from '../errors.js';
import type { Rng } from '../util/rng.js';
import { type Dataset, numRecords, recordShape, recordSize, selectRecords } from './dataset.js';

/** Record indices of each class: `byClass[k]` lists the records labelled `k`, ascending. */
export function indicesByClass(ds: Pick<Dataset, 'y' | 'classes'>): Int32Array[] {
  const counts = new Array<number>(ds.classes.length).fill(0);
  for (const k of ds.y) counts[k]!++;
  const out = counts.map((c) => new Int32Array(c));
  const fill = new Array<number>(ds.classes.length).fill(0);
  for (let i = 0; i < ds.y.length; i++) out[ds.y[i]!]![fill[ds.y[i]!]!++] = i;
  return out;
}

/** Result of {@link stratifiedSplit}. */
export interface Split {
  readonly train: Dataset;
  readonly test: Dataset;
  /** Indices into the input of the training records, ascending. */
  readonly trainIndices: Int32Array;
  /** Indices into the input of the test records, ascending. */
  readonly testIndices: Int32Array;
}

/**
 * Splits `ds` into train and test sets keeping class proportions: in each class,
 * `round(count · testFraction)` records drawn with `rng` go to the test set. Both sets keep the
 * input's record order. Same seed, same split.
 */
export function stratifiedSplit(ds: Dataset, testFraction: number, rng: Rng): Split {
  if (!(testFraction > 0 && testFraction < 1)) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `testFraction must be in (0, 1), got ${testFraction}`,
    );
  }
  const isTest = new Uint8Array(numRecords(ds));
  for (const members of indicesByClass(ds)) {
    const k = Math.round(members.length * testFraction);
    for (const j of rng.sample(members.length, k)) isTest[members[j]!] = 1;
  }
  const testIndices = Int32Array.from(indexWhere(isTest, 1));
  const trainIndices = Int32Array.from(indexWhere(isTest, 0));
  return {
    train: selectRecords(ds, trainIndices),
    test: selectRecords(ds, testIndices),
    trainIndices,
    testIndices,
  };
}

function* indexWhere(flags: Uint8Array, value: number): Generator<number> {
  for (let i = 0; i < flags.length; i++) if (flags[i] === value) yield i;
}

/** The records at `indices`, in that order (an alias of `selectRecords`). */
export function subset(ds: Dataset, indices: ArrayLike<number>): Dataset {
  return selectRecords(ds, indices);
}

/** The first `n` records (all of them when `n` ≥ N). */
export function takeFirst(ds: Dataset, n: number): Dataset {
  if (!Number.isInteger(n) || n < 0) {
    throw new AntidoteError(
      'INVALID_ARGUMENT',
      `record count must be a non-negative integer, got ${n}`,
    );
  }
  const m = Math.min(n, numRecords(ds));
  return selectRecords(
    ds,
    Int32Array.from({ length: m }, (_, i) => i),
  );
}

/** The records for which `keep(i)` is true, in order. */
export function filterRecords(ds: Dataset, keep: (index: number) => boolean): Dataset {
  const idx: number[] = [];
  for (let i = 0; i < numRecords(ds); i++) if (keep(i)) idx.push(i);
  return selectRecords(ds, idx);
}

/** `k` records drawn uniformly without replacement with `rng`, kept in input order. */
export function sampleRecords(ds: Dataset, k: number, rng: Rng): Dataset {
  const idx = rng.sample(numRecords(ds), k).sort();
  return selectRecords(ds, idx);
}

/** All records in an order drawn with `rng` (Fisher–Yates). */
export function shuffleRecords(ds: Dataset, rng: Rng): Dataset {
  return selectRecords(ds, rng.permutation(numRecords(ds)));
}

/**
 * Concatenates datasets record-wise. They must share class names (same order) and record shape;
 * ids must stay unique. Sources and texts are kept when every part has them; when only some parts
 * have sources, the others' records get `''`. Mixing text and non-text datasets is refused.
 *
 * Errors: `INVALID_ARGUMENT` for different classes, duplicate ids, mixed text; `SHAPE_MISMATCH`
 * for different record shapes.
 */
export function concatDatasets(parts: readonly Dataset[]): Dataset {
  if (parts.length === 0) {
    throw new AntidoteError('INVALID_ARGUMENT', 'concatDatasets needs at least one dataset');
  }
  const first = parts[0]!;
  const shape = recordShape(first);
  const size = recordSize(first);
  const withText = parts.filter((p) => p.text).length;
  if (withText !== 0 && withText !== parts.length) {
    throw new AntidoteError('INVALID_ARGUMENT', 'cannot concatenate text and non-text datasets');
  }
  parts.forEach((p, i) => {
    if (
      p.classes.length !== first.classes.length ||
      p.classes.some((c, k) => c !== first.classes[k])
    ) {
      throw new AntidoteError(
        'INVALID_ARGUMENT',
        `dataset ${i} has classes [${p.classes.join(', ')}], dataset 0 has [${first.classes.join(', ')}]`,
      );
    }
    const rs = recordShape(p);
    if (rs.length !== shape.length || rs.some((d, k) => d !== shape[k])) {
      throw new AntidoteError(
        'SHAPE_MISMATCH',
        `dataset ${i} has records of shape [${rs.join(', ')}], dataset 0 has [${shape.join(', ')}]`,
      );
    }
  });
  const n = parts.reduce((s, p) => s + numRecords(p), 0);
  const x = new Float32Array(n * size);
  const y = new Int32Array(n);
  const ids: string[] = [];
  const seen = new Map<string, number>();
  const anySource = parts.some((p) => p.source);
  const source: string[] | undefined = anySource ? [] : undefined;
  const text: string[] | undefined = withText ? [] : undefined;
  let o = 0;
  parts.forEach((p, i) => {
    const m = numRecords(p);
    x.set(p.x.subarray(0, m * size), o * size);
    y.set(p.y, o);
    for (let r = 0; r < m; r++) {
      const id = p.ids[r]!;
      const prev = seen.get(id);
      if (prev !== undefined) {
        throw new AntidoteError(
          'INVALID_ARGUMENT',
          `record id "${id}" appears in dataset ${prev} and dataset ${i}: ids must stay unique`,
          { id },
        );
      }
      seen.set(id, i);
      ids.push(id);
      source?.push(p.source ? p.source[r]! : '');
      text?.push(p.text![r]!);
    }
    o += m;
  });
  return {
    x,
    shape: [n, ...shape],
    y,
    classes: first.classes,
    ids,
    ...(source ? { source } : {}),
    ...(text ? { text } : {}),
  };
}
