import type { Dataset } from '../data/dataset.js';
import { type MergedScan, topFindings } from '../defenses/scan.js';
import { principalComponents, projectRows } from '../numeric/pca.js';
import type { ReportChart, ReportImage, ReportTable } from '../report/audit-report.js';
import { chartLegend, type LineSeries, lineChartSvg, scatterChartSvg } from '../report/charts.js';
import { renderImageGrid } from '../report/image-grid.js';
import { Rng } from '../util/rng.js';
import type { VulnerabilityAssessment } from './vulnerability.js';

/** `v` as a percentage with `digits` decimals; `—` when missing or undefined (NaN, e.g. 0/0). */
export const pct = (v: number | null | undefined, digits = 2): string =>
  v === null || v === undefined || Number.isNaN(v) ? '—' : `${(v * 100).toFixed(digits)}%`;

/** A PNG (base64) of one HWC image, upscaled. */
export function imagePng(data: Float32Array, shape: readonly number[], scale = 4): string {
  return Buffer.from(renderImageGrid([[{ data, shape }]], { scale, padding: 0 })).toString(
    'base64',
  );
}

/**
 * What the suspicion number of a record means (shown with the records): the mean, over the
 * detectors, of the record's percentile rank by their scores (`MergedScan.suspicion`).
 */
export const SUSPICION_NOTE =
  'Suspicion: the mean, over the detectors, of the percentile rank of the record by their scores (100 = the most suspicious record of the dataset for every detector, 50 = typical).';

/** A suspicion in [0, 1] on the 0–100 scale of {@link SUSPICION_NOTE}. */
export const suspicionText = (s: number): string => (s * 100).toFixed(1);

/** Chart drawing width in px (the report's content width: the SVG scales to it). */
export const REPORT_CHART_WIDTH = 900;

/**
 * The most suspicious records as report images (image data only); each caption gives the
 * record, its label and its suspicion ({@link SUSPICION_NOTE}).
 */
export function suspiciousImages(ds: Dataset, scan: MergedScan, limit: number): ReportImage[] {
  const shape = ds.shape.slice(1);
  if (shape.length !== 3) return [];
  const size = shape.reduce((a, b) => a * b, 1);
  return topFindings(ds, scan, limit).map((f) => ({
    pngBase64: imagePng(ds.x.subarray(f.index * size, (f.index + 1) * size), shape),
    alt: `record ${f.id}, labelled ${f.label}, flagged by ${f.flaggedBy.join(', ') || 'no detector'}`,
    caption: `${f.id} · label ${f.label} · suspicion ${suspicionText(f.suspicion)}`,
  }));
}

/** Longest text excerpt shown per record. */
const EXCERPT = 120;

/**
 * The most suspicious records as a table (data that is not images: text records show an
 * excerpt of their text).
 */
export function suspiciousRecordsTable(ds: Dataset, scan: MergedScan, limit: number): ReportTable {
  const text = ds.text;
  const rows = topFindings(ds, scan, limit).map((f) => {
    const excerpt = text?.[f.index];
    return [
      f.id,
      f.label,
      f.flaggedBy.join(', ') || '—',
      suspicionText(f.suspicion),
      ...(text
        ? [excerpt && excerpt.length > EXCERPT ? `${excerpt.slice(0, EXCERPT)}…` : (excerpt ?? '')]
        : []),
    ];
  });
  return {
    caption: `The ${rows.length} most suspicious records`,
    columns: ['record', 'label', 'flagged by', 'suspicion', ...(text ? ['text'] : [])],
    rows,
  };
}

/** 2-D PCA of one class's representations, flagged vs unflagged records. */
export function projectionChart(
  ds: Dataset,
  scan: MergedScan,
  reps: { data: Float32Array; dim: number },
  classIndex: number,
  seed: number,
): ReportChart | undefined {
  const idx: number[] = [];
  for (let i = 0; i < ds.y.length; i++) if (ds.y[i] === classIndex) idx.push(i);
  if (idx.length < 3) return undefined;
  const pcs = principalComponents(reps.data, reps.dim, idx, 2, new Rng(seed));
  const proj = projectRows(reps.data, reps.dim, idx, pcs.mean, pcs.vectors, 2);
  const kept: [number, number][] = [];
  const flagged: [number, number][] = [];
  idx.forEach((i, r) => {
    const p: [number, number] = [
      Number(proj[2 * r]!.toFixed(3)),
      Number(proj[2 * r + 1]!.toFixed(3)),
    ];
    (scan.flagged[i] ? flagged : kept).push(p);
  });
  const name = ds.classes[classIndex];
  const groups = [
    { name: `kept (${kept.length})`, points: kept },
    { name: `flagged (${flagged.length})`, points: flagged, symbol: 'triangle' as const },
  ];
  const title = `Class ${name}: penultimate-layer representations (PCA)`;
  return {
    svg: scatterChartSvg(
      groups,
      { x: 'PC 1', y: 'PC 2' },
      { title, embedded: true, width: REPORT_CHART_WIDTH },
    ),
    title,
    legend: chartLegend(groups),
    description: `Two principal components of the representations of the ${idx.length} records labelled ${name}; ${flagged.length} flagged records form their own cluster.`,
  };
}

/**
 * The projection chart of the class with the most flagged records (none when nothing is
 * flagged or the representations have fewer than two dimensions).
 */
export function suspiciousClassProjection(
  ds: Dataset,
  scan: MergedScan,
  reps: { data: Float32Array; dim: number },
  seed: number,
): ReportChart | undefined {
  const top = scan.perClass.filter((c) => c.flagged > 0).sort((a, b) => b.flagged - a.flagged)[0];
  return top && reps.dim >= 2 ? projectionChart(ds, scan, reps, top.classIndex, seed) : undefined;
}

/**
 * One chart per simulated attack: ASR (backdoors) and accuracy against the poison rate, on a
 * logarithmic rate axis (the interesting rates, 0.1–1%, would be squashed on a linear one). The
 * clean victim (0% poison), which a log axis cannot place, is drawn as flat dashed lines.
 */
export function vulnerabilityCharts(v: VulnerabilityAssessment): ReportChart[] {
  return v.curves.map((c) => {
    const hasAsr = c.points.some((p) => p.attackSuccessRate !== null);
    const rates = c.points.map((p) => p.rate * 100).filter((r) => r > 0);
    const flat = (value: number): LineSeries['points'] =>
      rates.length
        ? [
            [Math.min(...rates), value],
            [Math.max(...rates), value],
          ]
        : [];
    const b = c.baseline;
    const series: LineSeries[] = [
      ...(hasAsr
        ? [
            {
              name: 'ASR',
              points: c.points.map(
                (p) => [p.rate * 100, (p.attackSuccessRate ?? 0) * 100] as const,
              ),
            },
          ]
        : []),
      {
        name: 'accuracy',
        points: c.points.map((p) => [p.rate * 100, p.accuracy * 100] as const),
      },
      ...(b && hasAsr && b.attackSuccessRate !== null
        ? [
            {
              name: 'ASR without poison',
              points: flat(b.attackSuccessRate * 100),
              dashed: true,
            },
          ]
        : []),
      ...(b
        ? [{ name: 'accuracy without poison', points: flat(b.accuracy * 100), dashed: true }]
        : []),
    ];
    const all = b ? [b, ...c.points] : c.points;
    return {
      svg: lineChartSvg(
        series,
        { x: 'poison rate (% of training set, log scale)', y: '%', yMax: 100, xLog: true },
        { title: c.description, embedded: true, width: REPORT_CHART_WIDTH },
      ),
      title: c.description,
      legend: chartLegend(series),
      description: `${c.description}: ${all.map((p) => `${pct(p.rate, 2)} → ${p.attackSuccessRate !== null ? `ASR ${pct(p.attackSuccessRate, 1)}, ` : ''}accuracy ${pct(p.accuracy, 1)}${p.excluded ? ' (left out)' : ''}`).join('; ')}.`,
    };
  });
}
