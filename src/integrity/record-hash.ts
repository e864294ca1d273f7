import { createHash } from 'node:crypto';
import { canonicalJson } from './canonical-json.js';

/**
 * One dataset record as integrity sees it, independent of how the data layer stores it.
 * `label` should be the class NAME (not its index), so re-ordering the class list is detected.
 */
export interface RecordInput {
  /** Stable, unique record id. */
  readonly id: string;
  /** The record's features. Float32 values are canonicalised (-0 → 0, one NaN pattern). */
  readonly features: Float32Array | Uint8Array;
  /** The label, preferably the class name. */
  readonly label: string | number;
  /** Provenance of the record (contributor, file, feed), when known. */
  readonly source?: string;
  /** Raw text of a text record, when it is part of the record's content. */
  readonly text?: string;
}

/** The per-record hashes a manifest stores, enough to tell a label change from a feature change. */
export interface RecordDigest {
  readonly id: string;
  /** The label as hashed (class name or number). */
  readonly label: string | number;
  /** Provenance, when known. */
  readonly source?: string;
  /** Hex SHA-256 of the canonical feature encoding (and text, when present). */
  readonly features: string;
  /** Hex SHA-256 of the canonical JSON of the fields above: the Merkle leaf content. */
  readonly digest: string;
}

const F32_TAG = Buffer.from('antidote:f32le\0', 'utf8');
const U8_TAG = Buffer.from('antidote:u8\0', 'utf8');
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

function bswap32(x: number): number {
  return (((x & 0xff) << 24) | ((x & 0xff00) << 8) | ((x >>> 8) & 0xff00) | (x >>> 24)) >>> 0;
}

const TEXT_TAG = Buffer.from('\0antidote:text\0', 'utf8');

/**
 * Hex SHA-256 of a canonical feature encoding: a dtype tag, then the values little-endian. For
 * float32, `-0` is written as `+0` and every NaN as `0x7fc00000`, so equal values hash equally.
 */
export function featureDigest(features: Float32Array | Uint8Array, text?: string): string {
  const h = createHash('sha256');
  if (features instanceof Float32Array) {
    h.update(F32_TAG);
    const u = new Uint32Array(features.length);
    u.set(new Uint32Array(features.buffer, features.byteOffset, features.length));
    for (let i = 0; i < u.length; i++) {
      const b = u[i]!;
      if (b === 0x80000000) u[i] = 0;
      else if ((b & 0x7f800000) === 0x7f800000 && (b & 0x7fffff) !== 0) u[i] = 0x7fc00000;
    }
    if (!LITTLE_ENDIAN) for (let i = 0; i < u.length; i++) u[i] = bswap32(u[i]!);
    h.update(new Uint8Array(u.buffer));
  } else {
    h.update(U8_TAG);
    h.update(features);
  }
  if (text !== undefined) {
    h.update(TEXT_TAG);
    h.update(text, 'utf8');
  }
  return h.digest('hex');
}

/** The digest of a record given its parts: SHA-256 of the canonical JSON of id, label, source, features. */
export function recordDigestOf(parts: Omit<RecordDigest, 'digest'>): string {
  return createHash('sha256')
    .update(
      canonicalJson({
        id: parts.id,
        label: parts.label,
        source: parts.source,
        features: parts.features,
      }),
    )
    .digest('hex');
}

/** Hashes one record: features, label (by name), id and source. */
export function hashRecord(r: RecordInput): RecordDigest {
  const features = featureDigest(r.features, r.text);
  const base = {
    id: r.id,
    label: r.label,
    ...(r.source !== undefined ? { source: r.source } : {}),
    features,
  };
  return { ...base, digest: recordDigestOf(base) };
}
