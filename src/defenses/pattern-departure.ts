import { AntidoteError } from '../errors.js';

/** What {@link consistentDeparture} finds. */
export interface Departure {
  /** Matched moved probes over all probes. */
  readonly share: number;
  /**
   * Per source class, the destination its matched cell sends it to, where that cell holds most of
   * the source's probes (the pattern moves the source: its own attack success rate above ½);
   * −1 elsewhere.
   */
  readonly map: Int32Array;
}

/**
 * The share of probes a pattern moves out of their own class consistently, one destination per
 * source class (issue 16, trigger transfer's confirmation of all-to-all backdoors;
 * docs/detectors.md, "Trigger transfer on all-to-all"). An all-to-all trigger (Gu et al. 2017,
 * "BadNets", §3: a record of class k with the trigger is labelled k + 1) pasted on a record of
 * class k moves it to f(k) = k + 1, a different destination for every source; a natural
 * sub-style's strokes pasted on other classes move few records, or move them all to the one
 * class the strokes resemble.
 *
 * `before` holds each probe's predicted class as it is (its source), `after` with the pattern
 * added, both below `numClasses`. Moves into `exclude` (the candidate's own class, which the
 * transfer statistic already judges) are not counted. The moved probes are counted in a source ×
 * destination table, and the cells are matched greedily, largest first, each source and each
 * destination used at most once (a maximal matching: a trigger's map k → f(k) is one-to-one);
 * the share is the matched count over all probes. `SHAPE_MISMATCH` when the two predictions
 * differ in length.
 */
export function consistentDeparture(
  before: Int32Array,
  after: Int32Array,
  exclude: number,
  numClasses: number,
): Departure {
  if (before.length !== after.length) {
    throw new AntidoteError(
      'SHAPE_MISMATCH',
      `consistentDeparture: ${before.length} predictions before, ${after.length} after`,
    );
  }
  const n = before.length;
  const map = new Int32Array(numClasses).fill(-1);
  if (n === 0) return { share: 0, map };
  const perSource = new Int32Array(numClasses);
  const cells = new Map<number, number>();
  for (let r = 0; r < n; r++) {
    const s = before[r]!;
    const d = after[r]!;
    perSource[s]!++;
    if (d === s || d === exclude) continue;
    const key = s * numClasses + d;
    cells.set(key, (cells.get(key) ?? 0) + 1);
  }
  // Largest cell first; ties by source then destination (deterministic).
  const order = [...cells.entries()].sort((a, b) => b[1] - a[1] || a[0] - b[0]);
  const usedDestination = new Set<number>();
  let matched = 0;
  for (const [key, count] of order) {
    const s = Math.floor(key / numClasses);
    const d = key % numClasses;
    if (map[s] !== -1 || usedDestination.has(d)) continue;
    map[s] = d;
    usedDestination.add(d);
    matched += count;
  }
  // The map keeps the sources the pattern moves, most of their probes to one destination.
  for (let s = 0; s < numClasses; s++) {
    const d = map[s]!;
    if (d >= 0 && 2 * cells.get(s * numClasses + d)! <= perSource[s]!) map[s] = -1;
  }
  return { share: matched / n, map };
}

/**
 * Whether two departure maps ({@link Departure.map}) agree: of the sources both move, at least
 * two and a majority go to the same destination. An all-to-all trigger is one pattern, so the
 * candidates of two of its classes move the other classes' probes alike.
 */
export function departureMapsAgree(a: Int32Array, b: Int32Array): boolean {
  let common = 0;
  let same = 0;
  for (let s = 0; s < Math.min(a.length, b.length); s++) {
    if (a[s]! < 0 || b[s]! < 0) continue;
    common++;
    if (a[s] === b[s]) same++;
  }
  return same >= 2 && 2 * same > common;
}
