import type { SourceTrustReport } from '../defenses/source-trust.js';
import type { ReportSection } from '../report/audit-report.js';

const pc = (v: number) => `${(v * 100).toFixed(1)}%`;

/**
 * The audit report's "Sources" section: contamination per record source (contributor, host,
 * file) from the scan's {@link SourceTrustReport} — share of each source's records flagged, the
 * share of a class's flagged records it holds, and the sources to review (an exact test per
 * source and class, Holm-corrected; the provenance defence of Baracaldo et al. 2017). Undefined
 * when the records carry no source. Informational: it has no status of its own, so it never
 * changes the audit's verdict.
 */
export function sourceTrustSection(
  r: SourceTrustReport | undefined,
  rows = 15,
): ReportSection | undefined {
  if (!r) return undefined;
  const named = r.toReview.length
    ? `Sources to review: ${r.toReview.join(', ')}. Their flagged records in a class are more than chance explains (${r.test}, family-wise error ${r.alpha}); check everything they contributed, not only the flagged records.`
    : 'No source holds more flagged records than chance explains: nothing points at one contributor.';
  return {
    id: 'sources',
    title: 'Sources',
    paragraphs: [
      `${r.records.toLocaleString('en-US')} records from ${r.sourceCount.toLocaleString('en-US')} sources; ${r.flagged} flagged (${pc(r.overallShare)}).`,
      ...(r.note ? [r.note] : [named]),
    ],
    ...(r.toReview.length ? { bullets: r.toReview.map((s) => `Review source "${s}"`) } : {}),
    tables: [
      {
        caption: 'Sources, those to review and the most significant first',
        columns: [
          'source',
          'records',
          'flagged',
          'share flagged',
          'top class (share of its flagged)',
          'adjusted p',
          'to review',
        ],
        rows: r.sources.slice(0, rows).map((s) => {
          const top = s.classes[0];
          return [
            s.source,
            s.records,
            s.flagged,
            pc(s.shareFlagged),
            top ? `${top.className} (${pc(top.shareOfClassFlagged)})` : '—',
            Number(s.adjustedP.toPrecision(2)),
            s.toReview ? 'yes' : 'no',
          ];
        }),
      },
    ],
  };
}
