import { classCounts, type Dataset, numRecords, recordShape } from './dataset.js';

/** A compact description of a dataset: what `antidote info` prints. */
export interface DatasetSummary {
  readonly records: number;
  readonly shape: readonly number[];
  readonly recordShape: readonly number[];
  /** Every class with its record count, in class order. */
  readonly classes: readonly { readonly name: string; readonly count: number }[];
  /** Distinct sources and the largest contributors (absent when records carry no source). */
  readonly sources?: {
    readonly distinct: number;
    readonly top: readonly { readonly source: string; readonly count: number }[];
  };
  /** True for text datasets (records carry raw text). */
  readonly text: boolean;
  /** Smallest and largest feature value (absent when there are no features). */
  readonly featureRange?: { readonly min: number; readonly max: number };
}

/** Summarises `ds`: shape, per-class counts, sources (top `topSources`, default 5), value range. */
export function summarizeDataset(ds: Dataset, topSources = 5): DatasetSummary {
  const counts = classCounts(ds);
  let sources: DatasetSummary['sources'];
  if (ds.source) {
    const bySource = new Map<string, number>();
    for (const s of ds.source) bySource.set(s, (bySource.get(s) ?? 0) + 1);
    const top = [...bySource]
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
      .slice(0, topSources)
      .map(([source, count]) => ({ source, count }));
    sources = { distinct: bySource.size, top };
  }
  let featureRange: DatasetSummary['featureRange'];
  if (ds.x.length > 0) {
    let min = Number.POSITIVE_INFINITY;
    let max = Number.NEGATIVE_INFINITY;
    for (const v of ds.x) {
      if (v < min) min = v;
      if (v > max) max = v;
    }
    featureRange = { min, max };
  }
  return {
    records: numRecords(ds),
    shape: [...ds.shape],
    recordShape: recordShape(ds),
    classes: ds.classes.map((name, k) => ({ name, count: counts[k]! })),
    ...(sources ? { sources } : {}),
    text: ds.text !== undefined,
    ...(featureRange ? { featureRange } : {}),
  };
}

/**
 * A short view of an attack record (any JSON): scalar fields as they are, arrays by their
 * length (`indices` → `indices: 600`), small objects (≤ 200 characters of JSON) as they are,
 * larger ones by their keys. The data layer knows no attack types; this works on any record.
 */
export function summarizeAttackRecord(record: unknown): Record<string, unknown> | undefined {
  if (record === undefined || record === null) return undefined;
  if (typeof record !== 'object' || Array.isArray(record)) return { value: shorten(record) };
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(record)) out[key] = shorten(value);
  return out;
}

function shorten(value: unknown): unknown {
  if (Array.isArray(value)) return `[${value.length} items]`;
  if (value !== null && typeof value === 'object') {
    const json = JSON.stringify(value);
    return json.length <= 200 ? value : `{${Object.keys(value).join(', ')}}`;
  }
  return value;
}
