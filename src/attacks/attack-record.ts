/**
 * Reading an attack record back (from a dataset directory's `dataset.json`, written by the attack
 * that poisoned it — see {@link AttackRecord}) and the ground truth it gives: which records of a
 * dataset are poisoned. The one home of both, used by `scan`, `audit` and `evaluate`.
 */
import type { AttackRecord } from './attack.js';

/**
 * The fields of a stored attack record that Antidote reads back, each present only when it has
 * the right type (a record is any JSON: written by another version, or edited by hand).
 */
export interface StoredAttackRecord {
  /** The attack's name (`AttackRecord.attack`). */
  readonly attack?: string;
  /** The options the attack ran with (`AttackRecord.params`), when a JSON object. */
  readonly params?: Readonly<Record<string, unknown>>;
  /** Ids of the poisoned records (`AttackRecord.ids`); entries that are not strings are dropped. */
  readonly ids?: readonly string[];
}

/**
 * Parses a stored attack record leniently (see {@link StoredAttackRecord}); `undefined` when it
 * is not a JSON object (no record).
 */
export function parseAttackRecord(raw: unknown): StoredAttackRecord | undefined {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return undefined;
  const r = raw as Partial<Record<keyof AttackRecord, unknown>>;
  const params = r.params;
  return {
    ...(typeof r.attack === 'string' ? { attack: r.attack } : {}),
    ...(typeof params === 'object' && params !== null && !Array.isArray(params)
      ? { params: params as Record<string, unknown> }
      : {}),
    ...(Array.isArray(r.ids)
      ? { ids: r.ids.filter((v: unknown): v is string => typeof v === 'string') }
      : {}),
  };
}

/**
 * The ground truth an attack record gives for a dataset whose record ids are `ids`: one byte per
 * record, 1 = poisoned, matched by record id (`AttackRecord.ids`). `undefined` when there is no
 * record or it lists no ids.
 *
 * Ids, not positions: `AttackRecord.indices` are positions in the poisoned dataset as the attack
 * wrote it, and stop matching once records are reordered, subset or merged; ids survive that.
 */
export function attackGroundTruth(raw: unknown, ids: readonly string[]): Uint8Array | undefined {
  const poisoned = parseAttackRecord(raw)?.ids;
  if (!poisoned) return undefined;
  const set = new Set(poisoned);
  return Uint8Array.from(ids, (id) => (set.has(id) ? 1 : 0));
}
