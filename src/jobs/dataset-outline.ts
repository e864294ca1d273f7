/**
 * A dataset's outline: everything a distributed scan's coordinator reads of an image dataset but
 * the record values (issue 22) — shape, labels, class names, ids, sources, the attack record, and
 * the values' range as the scan's range check measured it. The coordinator of `scan --queue`
 * keeps it in the cache of verified digests (`digest-cache.ts`), keyed like the shards' digests
 * by the identity of the files it was read from; a later scan of the same, unchanged files whose
 * shards went out on those digests reads the outline instead of the data: its workers read and
 * check the records, and the coordinator, which only reads labels and the forward pass's
 * outputs, no longer spends a core's second decoding, checking and measuring 47 million values
 * while they work. Its record array is a stand-in that refuses to be read
 * (`data/withheld-records.ts`). Design notes: `../shared/DESIGN.md`.
 */
import { z } from 'zod';
import type { Dataset } from '../data/dataset.js';
import type { DatasetKind, LoadedDataset } from '../data/load.js';
import { type RangeInfo, rememberValueRange } from '../data/range.js';
import { withheldRecords } from '../data/withheld-records.js';
import { canonicalJson } from '../integrity/canonical-json.js';
import { fastRecordArrays } from '../util/record-arrays.js';
import { type CacheSubject, readCacheEntry, writeCacheEntry } from './digest-cache.js';

/** What a scan read of an image dataset, but the record values (see the module comment). */
export interface DatasetOutline {
  readonly kind: DatasetKind;
  readonly spec: string;
  /** The loader's notices, shown again when the outline stands in for a read. */
  readonly notices: readonly string[];
  readonly shape: readonly number[];
  readonly y: Int32Array;
  readonly classes: readonly string[];
  readonly ids: readonly string[];
  readonly source?: readonly string[];
  readonly attack?: unknown;
  readonly meta?: Record<string, unknown>;
  /** The values' range as read (before any division by 255). */
  readonly min: number;
  readonly max: number;
  /** Whether the scan read the values as 0–255 and divided them by 255. */
  readonly divideBy255: boolean;
  /** The range check's notice when it divided. */
  readonly rangeNotice?: string;
}

/**
 * The outline of `loaded` as the scan read it (`range`, `rangeNotice`: its range check, on the
 * values as loaded); undefined unless it holds images (`[N, height, width, channels]`, no text,
 * no columns) and at least one record.
 */
export function datasetOutline(
  loaded: LoadedDataset,
  range: RangeInfo,
  rangeNotice: string | undefined,
): DatasetOutline | undefined {
  const ds = loaded.dataset;
  const images = ds.shape.length === 4 && !ds.text && !loaded.columns;
  if (!images || ds.y.length === 0 || !Number.isFinite(range.min) || !Number.isFinite(range.max)) {
    return undefined;
  }
  return {
    kind: loaded.kind,
    spec: loaded.spec,
    notices: [...(loaded.notices ?? [])],
    shape: [...ds.shape],
    y: ds.y,
    classes: [...ds.classes],
    ids: [...ds.ids],
    ...(ds.source ? { source: [...ds.source] } : {}),
    ...(loaded.attack !== undefined ? { attack: loaded.attack } : {}),
    ...(loaded.meta ? { meta: loaded.meta } : {}),
    min: range.min,
    max: range.max,
    divideBy255: rangeNotice !== undefined,
    ...(rangeNotice !== undefined ? { rangeNotice } : {}),
  };
}

/**
 * The dataset the outline describes, as the scan reads it, with a record array that refuses to
 * be read ({@link withheldRecords}) whose range is known (so `tt`'s plan need not read it).
 */
export function outlinedDataset(outline: DatasetOutline): LoadedDataset {
  const x = withheldRecords(outline.spec);
  const lo = outline.divideBy255 ? Math.fround(outline.min / 255) : outline.min;
  const hi = outline.divideBy255 ? Math.fround(outline.max / 255) : outline.max;
  rememberValueRange(x, lo, hi);
  const dataset: Dataset = {
    x,
    shape: outline.shape,
    y: outline.y,
    classes: outline.classes,
    ids: outline.ids,
    ...(outline.source ? { source: outline.source } : {}),
  };
  return {
    kind: outline.kind,
    spec: outline.spec,
    dataset,
    ...(outline.attack !== undefined ? { attack: outline.attack } : {}),
    ...(outline.meta ? { meta: outline.meta } : {}),
    ...(outline.notices.length > 0 ? { notices: outline.notices } : {}),
  };
}

const KINDS = [
  'builtin',
  'named',
  'dataset-dir',
  'png-folder',
  'csv',
  'text',
  'arrays',
] as const satisfies readonly DatasetKind[];

const OutlineEntrySchema = z.strictObject({
  key: z.string(),
  identity: z.string(),
  kind: z.enum(KINDS),
  spec: z.string(),
  notices: z.array(z.string()),
  shape: z.array(z.number().int().positive()).length(4),
  y: z.string().base64(),
  classes: z.array(z.string()).min(1),
  ids: fastRecordArrays.strings,
  source: fastRecordArrays.strings.optional(),
  attack: z.unknown().optional(),
  meta: z.record(z.string(), z.unknown()).optional(),
  min: z.number(),
  max: z.number(),
  divideBy255: z.boolean(),
  rangeNotice: z.string().optional(),
});

/** The cache key of `subject`'s outline (beside its shards' digests, under another key). */
function outlineKey(subject: CacheSubject): string {
  return canonicalJson({ outline: subject.key });
}

/**
 * Keeps `outline` for `subject` when its files still have the identity taken before they were
 * read (else nothing). Best effort; returns whether it was written.
 */
export async function storeDatasetOutline(
  subject: CacheSubject,
  outline: DatasetOutline,
  dir?: string,
): Promise<boolean> {
  const { y, ...rest } = outline;
  const bytes = Buffer.alloc(y.length * 4);
  for (let i = 0; i < y.length; i++) bytes.writeInt32LE(y[i]!, i * 4);
  return writeCacheEntry(
    outlineKey(subject),
    subject.files,
    subject.identity,
    { ...rest, y: bytes.toString('base64') },
    dir,
  );
}

/**
 * The outline kept for `subject`, when its files have the identity they had when it was read and
 * the entry is whole (labels, ids and sources one per record, labels among the classes);
 * undefined otherwise.
 */
export async function cachedDatasetOutline(
  subject: CacheSubject,
  dir?: string,
): Promise<DatasetOutline | undefined> {
  const key = outlineKey(subject);
  const e = await readCacheEntry(key, OutlineEntrySchema, dir);
  if (!e || e.key !== key || e.identity !== subject.identity) return undefined;
  const bytes = Buffer.from(e.y, 'base64');
  const n = e.shape[0]!;
  if (bytes.length !== n * 4 || e.ids.length !== n || (e.source && e.source.length !== n)) {
    return undefined;
  }
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) y[i] = bytes.readInt32LE(i * 4);
  if (y.some((c) => c < 0 || c >= e.classes.length)) return undefined;
  if (!(Number.isFinite(e.min) && Number.isFinite(e.max) && e.min <= e.max)) return undefined;
  const { key: _key, identity: _identity, y: _y, ...rest } = e;
  return { ...rest, y } as DatasetOutline;
}
