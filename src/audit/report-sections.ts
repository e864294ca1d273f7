import type { Dataset } from '../data/dataset.js';
import type { MergedScan } from '../defenses/scan.js';
import type { DetectionEvaluation } from '../eval/detection.js';
import type { RecordDiff } from '../integrity/manifest.js';
import type { Metric, ReportSection, ReportTable, Verdict } from '../report/audit-report.js';
import {
  pct,
  SUSPICION_NOTE,
  suspiciousClassProjection,
  suspiciousImages,
  suspiciousRecordsTable,
  vulnerabilityCharts,
} from './report-figures.js';
import { locateTrigger } from './trigger-location.js';
import type { VulnerabilityAssessment } from './vulnerability.js';

/*
 * The sections the audit's and the demo's reports share, each a small function of the findings
 * it shows. A section's status is decided by the caller (the audit's policy, the demo's checks).
 */

/**
 * The summary section: a few paragraphs and the key numbers (the report builder gives it the
 * report's verdict as its status).
 */
export function summarySection(
  paragraphs: readonly string[],
  metrics: readonly Metric[],
): ReportSection {
  return { id: 'summary', title: 'Summary', paragraphs: [...paragraphs], metrics: [...metrics] };
}

/** A table of the first `limit` label changes of a record-level diff. */
export function labelChangesTable(
  changes: RecordDiff['labelChanged'],
  caption: string,
  limit: number,
): ReportTable {
  return {
    caption,
    columns: ['record', 'label before', 'label after', 'features changed'],
    rows: changes
      .slice(0, limit)
      .map((c) => [c.id, String(c.from), String(c.to), c.featuresChanged ? 'yes' : 'no']),
  };
}

/** Detection quality per detector and for the merged decision, against the ground truth. */
function detectionTable(detection: Readonly<Record<string, DetectionEvaluation>>): ReportTable {
  return {
    caption:
      'Detection quality per detector (precision, recall, F1 over all records; FPR on classes that were not attacked)',
    columns: ['detector', 'flagged', 'precision', 'recall', 'F1', 'ROC AUC', 'FPR unattacked'],
    rows: Object.entries(detection).map(([method, e]) => [
      method === 'merged' ? 'merged (quorum)' : method,
      e.tp + e.fp,
      pct(e.precision),
      pct(e.recall),
      pct(e.f1),
      e.auc.toFixed(3),
      pct(e.unattackedFpr),
    ]),
  };
}

/** Per class: records, flagged records, detectors that judged it poisoned. */
function perClassTable(scan: MergedScan): ReportTable {
  return {
    caption: 'Findings per class',
    columns: ['class', 'records', 'flagged', 'judged poisoned by'],
    rows: scan.perClass.map((c) => [
      c.className,
      c.count,
      c.flagged,
      c.suspiciousBy.map((s) => s.method).join(', ') || '—',
    ]),
  };
}

/** Why each detector judged a class poisoned. */
function reasonsTable(scan: MergedScan): ReportTable {
  const reasons = scan.perClass.flatMap((c) =>
    c.suspiciousBy.map((s) => [c.className, s.method, s.reason]),
  );
  return {
    caption: 'Classes a detector judged poisoned, and why',
    columns: ['class', 'detector', 'reason'],
    rows: reasons.length ? reasons : [['—', '—', 'no class judged poisoned']],
  };
}

/** What the scan section shows. */
export interface ScanSectionInput {
  /** The records as the detectors saw them. */
  readonly ds: Dataset;
  readonly scan: MergedScan;
  /** Detection quality against the ground truth (empty when unknown). */
  readonly detection: Readonly<Record<string, DetectionEvaluation>>;
  readonly representations: { data: Float32Array; dim: number };
  readonly status: Verdict;
  /** Whose representations the detectors read, e.g. "the poisoned model's penultimate-layer". */
  readonly model: string;
  readonly seed: number;
}

/** How the merged decision flags a record, in words. */
function decisionRule(scan: MergedScan): string {
  const q = scan.quorum;
  return scan.methods.length > 1 && q > 1
    ? `a record is flagged when at least ${q} agree, or when one flags it in a class that ${q} judged poisoned and the others rank it in the top 10% of that class`
    : `a record is flagged when at least ${q} ${q === 1 ? 'flags' : 'agree on'} it`;
}

/**
 * The scan section: detectors and decision rule, findings per class and why, detection quality
 * against the ground truth when known, the PCA of the most suspicious class, and the most
 * suspicious records (images, or a table for other data).
 */
export function scanSection(s: ScanSectionInput): ReportSection {
  const scored = Object.keys(s.detection).length > 0;
  const projection = suspiciousClassProjection(s.ds, s.scan, s.representations, s.seed);
  const images = suspiciousImages(s.ds, s.scan, 16);
  return {
    id: 'scan',
    title: 'Scan findings',
    status: s.status,
    paragraphs: [
      `Detectors: ${s.scan.methods.join(', ')} on ${s.model} representations; ${decisionRule(s.scan)}.${scored ? " Scored against the attack's ground truth (which the detectors never saw)." : ''}`,
      `The most suspicious records are shown below${images.length ? ' (record · label · suspicion)' : ''}. ${SUSPICION_NOTE}`,
    ],
    tables: [
      perClassTable(s.scan),
      reasonsTable(s.scan),
      ...(scored ? [detectionTable(s.detection)] : []),
      ...(images.length ? [] : [suspiciousRecordsTable(s.ds, s.scan, 16)]),
    ],
    ...(projection ? { charts: [projection] } : {}),
    ...(images.length ? { images } : {}),
  };
}

/**
 * The vulnerability section: the simulated attacks, the poison rates at which the backdoor
 * reaches 50% and 90% ASR, one chart per attack. Where the assessment states limitations, the
 * section says so instead of a rate and has no status (`status` undefined: not assessed); victims
 * left out of the rates are named with the reason.
 */
export function vulnerabilitySection(
  v: VulnerabilityAssessment,
  status: Verdict | undefined,
): ReportSection {
  const bd = v.curves.find((c) => c.attack === 'backdoor');
  const victim = typeof v.victim.model === 'string' ? v.victim.model : v.victim.model.arch;
  const excluded = bd?.points.filter((p) => p.excluded) ?? [];
  const none = excluded.length ? 'no tested rate read' : 'no tested rate';
  const at = (rate: number | null) => (rate === null ? none : `${pct(rate)} of the training set`);
  const baselineAsr = bd?.baseline?.attackSuccessRate;
  return {
    id: 'vulnerability',
    title: 'Vulnerability',
    ...(status ? { status } : {}),
    paragraphs: [
      `Simulated attacks on ${v.trainRecords.toLocaleString('en-US')} training records (${v.testRecords.toLocaleString('en-US')} held out; victim ${victim}, ${v.victim.epochs ?? 2} epoch(s)); clean accuracy ${pct(v.cleanAccuracy, 1)}${baselineAsr != null ? `, trigger ASR without poison ${pct(baselineAsr, 1)}` : ''}.`,
      ...(v.limitations.length
        ? [
            `Limitation — no poison rate is stated and the policy's rate check is not applied: ${v.limitations.join('; ')}.`,
          ]
        : bd
          ? [
              `The backdoor passes 50% ASR at ${at(bd.asr50Rate)} and 90% at ${at(bd.asr90Rate)}: the lower, the more exposed the pipeline.`,
            ]
          : []),
      ...(excluded.length
        ? [
            `Left out of the rates: ${excluded.map((p) => `${pct(p.rate)}, as ${p.excluded}`).join('; ')}.`,
          ]
        : []),
    ],
    charts: vulnerabilityCharts(v),
  };
}

/** A section for a stage that did not run, saying why (no status: nothing was checked). */
export function skippedSection(id: string, title: string, why: string): ReportSection {
  return { id, title, paragraphs: [`Skipped: ${why}.`] };
}

/** The recommendations section. */
export function recommendationsSection(bullets: readonly string[]): ReportSection {
  return { id: 'recommendations', title: 'Recommendations', bullets: [...bullets] };
}

/** The most frequent key of `counts` (the first on ties). */
function mostCommon<K>(counts: Map<K, number>): [K, number] | undefined {
  return [...counts.entries()].sort((a, b) => b[1] - a[1])[0];
}

/**
 * Whether `source` names contributors (people, feeds, batches) rather than the records' own
 * files: at least two distinct sources, each shared by several records on average (PNG class
 * folders record each file as its own source; MNIST one feed for all).
 */
export function sourcesAreContributors(ids: readonly string[], source: readonly string[]): boolean {
  const distinct = new Set(source);
  if (distinct.size < 2 || distinct.size * 2 > source.length) return false;
  return !source.every((s, i) => s === ids[i]);
}

/**
 * The contributor to review: the source holding most of the flagged records, when the sources
 * are contributors ({@link sourcesAreContributors}), with its share of the flagged records and
 * of the data.
 */
function contributorFinding(ds: Dataset, flaggedIdx: readonly number[]): string | undefined {
  const source = ds.source;
  if (!source || !sourcesAreContributors(ds.ids, source)) return undefined;
  const bySource = new Map<string, number>();
  for (const i of flaggedIdx) bySource.set(source[i]!, (bySource.get(source[i]!) ?? 0) + 1);
  const [src, cnt] = mostCommon(bySource)!;
  const supplied = source.filter((s) => s === src).length;
  return `${cnt} of the ${flaggedIdx.length} flagged records came from the contributor "${src}" (which supplied ${supplied} of the ${source.length} records): review that contributor's data before accepting more.`;
}

/** Recommendations that follow from the scan (trigger location, labels, contributors). */
export function scanRecommendations(ds: Dataset, scan: MergedScan): string[] {
  const flaggedIdx: number[] = [];
  for (let i = 0; i < scan.flagged.length; i++) if (scan.flagged[i]) flaggedIdx.push(i);
  if (flaggedIdx.length === 0) {
    return [
      'No records were flagged by enough detectors to act on; keep scanning each new data drop.',
    ];
  }
  const out: string[] = [];
  const byLabel = new Map<number, number>();
  for (const i of flaggedIdx) byLabel.set(ds.y[i]!, (byLabel.get(ds.y[i]!) ?? 0) + 1);
  const [topLabel, topCount] = mostCommon(byLabel)!;
  const examples = flaggedIdx.slice(0, 3).map((i) => ds.ids[i]);
  const where = locateTrigger(ds, scan.flagged);
  const trigger = where
    ? ` and look like they carry a trigger: a ${where.brighter ? 'bright' : 'dark'} patch in the ${where.where} (rows ${where.rows[0]}–${where.rows[1]}, columns ${where.cols[0]}–${where.cols[1]})`
    : '';
  out.push(
    `${flaggedIdx.length} records (e.g. ${examples.join(', ')}) were flagged${trigger}; ${topCount} of ${flaggedIdx.length} carry the label ${ds.classes[topLabel]}. Quarantine them and retrain without them.`,
  );
  const contributor = contributorFinding(ds, flaggedIdx);
  if (contributor) out.push(contributor);
  return out;
}
