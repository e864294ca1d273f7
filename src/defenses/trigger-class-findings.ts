import type { Dataset } from '../data/dataset.js';
import { type ClassFinding, type FindingValue, indicesByClass } from './detector.js';

/** A discovered trigger (a keyword, a feature value) and the label it pushes records to. */
export interface LabelledTrigger {
  /** The class the trigger pushes records to. */
  readonly label: number;
}

/** How {@link triggerClassFindings} words and grades one class. */
export interface TriggerClassWording<T extends LabelledTrigger> {
  /** The class's strength on the shared scale (`ClassFinding.strength`). */
  readonly strength: (classIndex: number) => number;
  /** The reason of a class with triggers (`own` is never empty). */
  readonly found: (own: readonly T[]) => string;
  /** The reason of a class without one. */
  readonly none: string;
  /** The class's `stats` (the triggers' names and the threshold). */
  readonly stats: (own: readonly T[]) => Readonly<Record<string, FindingValue>>;
}

/**
 * The per-class findings of a trigger-discovery detector (keyword discovery for text, feature
 * trigger discovery for tabular data): a class is suspicious exactly when a discovered trigger
 * pushes records to it, and its flagged count is the flagged records carrying its label.
 */
export function triggerClassFindings<T extends LabelledTrigger>(
  ds: Pick<Dataset, 'y' | 'classes'>,
  flagged: Uint8Array,
  triggers: readonly T[],
  wording: TriggerClassWording<T>,
): ClassFinding[] {
  return indicesByClass(ds.y, ds.classes.length).map((idx, c) => {
    const own = triggers.filter((t) => t.label === c);
    let count = 0;
    for (const i of idx) count += flagged[i]!;
    return {
      classIndex: c,
      className: ds.classes[c]!,
      count: idx.length,
      flagged: count,
      suspicious: own.length > 0,
      strength: wording.strength(c),
      reason: own.length ? wording.found(own) : wording.none,
      stats: wording.stats(own),
    };
  });
}
