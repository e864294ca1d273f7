/**
 * German Credit (Hofmann 1994, Statlog, UCI Machine Learning Repository, CC BY 4.0): 1,000 loan
 * applicants × 20 attributes (7 numeric, 13 categorical), labelled good / bad credit risk; the
 * stand-in for fraud: a "bad" applicant scored "good" is the loss. Antidote reads Weka's ARFF
 * copy (Debian `weka`, GPL-3; `examples/credit-g.arff`), fetched with `antidote datasets fetch
 * german-credit` (apt-get download).
 */
import { loadArff, parseArff } from './arff.js';
import type { TabularData } from './tabular.js';

/** Parses `credit-g.arff`: class attribute `class` (levels good, bad). */
export function parseGermanCredit(text: string, where = '<credit-g.arff>'): TabularData {
  return parseArff(text, { classAttribute: 'class', idPrefix: 'credit-' }, where);
}

/** Reads `credit-g.arff` (see {@link parseGermanCredit}). */
export async function loadGermanCredit(path: string): Promise<TabularData> {
  return loadArff(path, { classAttribute: 'class', idPrefix: 'credit-' });
}
