import type { Dataset } from '../data/dataset.js';
import type { MergedScan } from '../defenses/scan.js';

/** The file of the flagged records that `antidote audit` writes beside `report.json`. */
export const SUSPICIOUS_CSV_FILE = 'suspicious.csv';

/** A CSV field, quoted when it holds a comma, a quote or a line break (RFC 4180). */
const field = (v: string) => (/[",\n\r]/.test(v) ? `"${v.replaceAll('"', '""')}"` : v);

/**
 * The records the scan flagged, as CSV (issue 16, item 5): `id,label[,source],flagged_by,suspicion`
 * — `source` only when the dataset records one, `flagged_by` the detectors that flagged the record
 * (`;`-separated; empty for a record flagged on its class's corroborated finding alone),
 * `suspicion` the mean percentile rank over the detectors (4 decimals). Most suspicious first;
 * a header line alone when nothing was flagged. `ds` is the dataset the scan read (its records in
 * the order of `scan.flagged`).
 */
export function suspiciousRecordsCsv(
  ds: Pick<Dataset, 'ids' | 'y' | 'classes' | 'source'>,
  scan: Pick<MergedScan, 'flagged' | 'suspicion' | 'detectors' | 'reports'>,
): string {
  const source = ds.source;
  const rows: string[] = [];
  const flagged: number[] = [];
  for (let i = 0; i < scan.flagged.length; i++) if (scan.flagged[i]) flagged.push(i);
  flagged.sort((a, b) => scan.suspicion[b]! - scan.suspicion[a]! || a - b);
  for (const i of flagged) {
    const by = scan.detectors.filter((_, k) => scan.reports[k]?.flagged[i]).join(';');
    rows.push(
      [
        field(ds.ids[i] ?? String(i)),
        field(ds.classes[ds.y[i] ?? -1] ?? String(ds.y[i])),
        ...(source ? [field(source[i] ?? '')] : []),
        field(by),
        (scan.suspicion[i] ?? 0).toFixed(4),
      ].join(','),
    );
  }
  const header = ['id', 'label', ...(source ? ['source'] : []), 'flagged_by', 'suspicion'];
  return `${[header.join(','), ...rows].join('\n')}\n`;
}
