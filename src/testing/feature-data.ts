import type { Dataset } from '../data/dataset.js';
import type { TabularColumn } from '../data/datasets/tabular.js';
import { Rng } from '../util/rng.js';

/**
 * Small text and tabular datasets for the tests of text and tabular models: short film reviews
 * and a generated credit table, each learnable in a few epochs.
 */

/** `n` short texts: `good film i` labelled positive (odd `i`), `bad film i` negative. */
export function filmTexts(n: number): Dataset {
  return {
    x: new Float32Array(0),
    shape: [n, 0],
    y: Int32Array.from({ length: n }, (_, i) => i % 2),
    classes: ['negative', 'positive'],
    ids: Array.from({ length: n }, (_, i) => String(i)),
    text: Array.from({ length: n }, (_, i) => (i % 2 ? `good film ${i}` : `bad film ${i}`)),
  };
}

/** The columns of {@link creditTable}. */
export const CREDIT_COLUMNS: readonly TabularColumn[] = Object.freeze([
  { name: 'age', kind: 'numeric' },
  { name: 'housing', kind: 'categorical', levels: ['own', 'rent', 'free'] },
  { name: 'amount', kind: 'numeric' },
]);

/** A generated credit table: `bad` when the amount is high for the age, or housing is free. */
export function creditTable(n: number, seed: number): Dataset {
  const rng = new Rng(seed);
  const x = new Float32Array(n * 3);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const age = 20 + Math.floor(rng.next() * 50);
    const housing = Math.floor(rng.next() * 3);
    const amount = Math.round(rng.next() * 100) / 10;
    x.set([age, housing, amount], i * 3);
    y[i] = amount > age / 7 || housing === 2 ? 1 : 0;
  }
  return {
    x,
    shape: [n, 3],
    y,
    classes: ['good', 'bad'],
    ids: Array.from({ length: n }, (_, i) => String(i)),
  };
}
