import type { MonitorSnapshot } from '../registry/model-registry.js';
import { esc } from './escape.js';

/**
 * The dashboard's monitoring charts: one small SVG panel per kind of metric, each with its own
 * value axis (a PSI of 9.36 never shares the 0–100% axis of a rejection rate) and a real time
 * axis (snapshots placed at their timestamps, ticks at round UTC times), plus a line of the
 * latest values (counts as integers, rates as percentages). Plain inline SVG scaled to the
 * width of its container, no script.
 */

/** How a panel formats its values. */
type Unit = 'rate' | 'psi' | 'count' | 'bits';

interface Panel {
  readonly id: string;
  readonly title: string;
  readonly unit: Unit;
  readonly series: readonly (readonly [metric: string, color: string])[];
}

/** The panels, in order; a panel with no value in any snapshot is left out. */
const PANELS: readonly Panel[] = [
  {
    id: 'strip',
    title: 'STRIP rejections (share of probed records)',
    unit: 'rate',
    series: [['stripRejectRate', '#c0392b']],
  },
  {
    id: 'drift',
    title: 'Drift (PSI: < 0.1 stable, > 0.25 major shift)',
    unit: 'psi',
    series: [
      ['inputPsiMax', '#7d3c98'],
      ['predictionPsi', '#2874a6'],
    ],
  },
  {
    id: 'errors',
    title: 'Error rate (failed requests)',
    unit: 'rate',
    series: [['errorRate', '#b9770e']],
  },
  {
    id: 'traffic',
    title: 'Traffic (cumulative counts)',
    unit: 'count',
    series: [
      ['requests', '#1f618d'],
      ['records', '#117a65'],
      ['failed', '#922b21'],
    ],
  },
];

/** Metrics counted in whole units (shown without decimals). */
const COUNTS = new Set(['requests', 'records', 'failed']);

/** A panel's SVG box (user units; it scales to the column) and the margins around its plot. */
const BOX = { W: 480, H: 170, LEFT: 56, RIGHT: 22, TOP: 12, BOTTOM: 30 } as const;
const { W, H, LEFT, RIGHT, TOP, BOTTOM } = BOX;

/** A metric value for display: integer counts, rates in %, other values with 3 decimals. */
export function formatMetric(name: string, v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (COUNTS.has(name)) return String(Math.round(v));
  if (/Rate$/.test(name)) return `${(v * 100).toFixed(1)}%`;
  return v.toFixed(3);
}

/** The smallest 1–2–5 step ≥ `span / maxTicks`. */
function niceStep(span: number, maxTicks: number): number {
  const raw = span / maxTicks;
  const mag = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 5, 10]) if (m * mag >= raw) return m * mag;
  return 10 * mag;
}

/** Value-axis ticks from 0 to a round maximum covering `max`. */
function valueTicks(unit: Unit, max: number): number[] {
  let top = max > 0 ? max : 1;
  if (unit === 'rate') top = Math.min(1, top);
  let step = niceStep(top, 4);
  if (unit === 'count') step = Math.max(1, Math.round(step));
  const n = Math.max(1, Math.ceil(top / step - 1e-9));
  return Array.from({ length: n + 1 }, (_, i) => i * step);
}

function tickLabel(unit: Unit, v: number): string {
  if (unit === 'rate') return `${Number((v * 100).toFixed(1))}%`;
  if (unit === 'count') return String(Math.round(v));
  return String(Number(v.toFixed(3)));
}

const TIME_STEPS_S = [
  0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200,
  86400, 172800, 604800, 2592000,
];

/** Round UTC times between `t0` and `t1` (ms), at most about 5, and how to label them. */
function timeTicks(t0: number, t1: number): { at: number[]; label: (t: number) => string } {
  const span = (t1 - t0) / 1000;
  const step = (TIME_STEPS_S.find((s) => s >= span / 5) ?? 2592000) * 1000;
  const at: number[] = [];
  for (let t = Math.ceil(t0 / step) * step; t <= t1; t += step) at.push(t);
  const iso = (t: number) => new Date(t).toISOString();
  const label =
    span > 2 * 86400
      ? (t: number) => iso(t).slice(5, 10)
      : span > 600
        ? (t: number) => iso(t).slice(11, 16)
        : span > 5
          ? (t: number) => iso(t).slice(11, 19)
          : (t: number) => iso(t).slice(11, 23);
  return { at, label };
}

/** One panel's SVG. */
function panelSvg(
  p: Panel,
  snaps: readonly MonitorSnapshot[],
  times: readonly number[],
  t0: number,
  t1: number,
): string {
  let max = 0;
  for (const s of snaps) for (const [k] of p.series) max = Math.max(max, s.metrics[k] ?? 0);
  const ticks = valueTicks(p.unit, max);
  const top = ticks[ticks.length - 1]!;
  const x = (t: number) => LEFT + ((t - t0) / (t1 - t0)) * (W - LEFT - RIGHT);
  const y = (v: number) => H - BOTTOM - (Math.min(v, top) / top) * (H - TOP - BOTTOM);
  const grid = ticks
    .map(
      (v) =>
        `<line x1="${LEFT}" x2="${W - RIGHT}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#e3e6ea"/><text x="${LEFT - 4}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end" font-size="13">${tickLabel(p.unit, v)}</text>`,
    )
    .join('');
  const tt = timeTicks(t0, t1);
  const xAxis = tt.at
    .map(
      (t) =>
        `<line x1="${x(t).toFixed(1)}" x2="${x(t).toFixed(1)}" y1="${H - BOTTOM}" y2="${H - BOTTOM + 4}" stroke="#888"/><text x="${x(t).toFixed(1)}" y="${H - BOTTOM + 16}" text-anchor="middle" font-size="13">${tt.label(t)}</text>`,
    )
    .join('');
  const lines = p.series
    .map(([k, color]) => {
      const pts: string[] = [];
      snaps.forEach((s, i) => {
        const v = s.metrics[k];
        if (v !== undefined && Number.isFinite(v))
          pts.push(`${x(times[i]!).toFixed(1)},${y(v).toFixed(1)}`);
      });
      if (pts.length === 0) return '';
      const dots =
        pts.length === 1
          ? `<circle cx="${pts[0]!.split(',')[0]}" cy="${pts[0]!.split(',')[1]}" r="3" fill="${color}"/>`
          : '';
      return `<polyline fill="none" stroke="${color}" stroke-width="2" points="${pts.join(' ')}"><title>${k}</title></polyline>${dots}`;
    })
    .join('');
  const legend = p.series
    .map(
      ([k, color]) =>
        `<span class="key"><svg width="12" height="10" aria-hidden="true"><rect width="12" height="10" rx="2" fill="${color}"/></svg> ${k}</span>`,
    )
    .join('');
  return `<figure class="panel" data-panel="${p.id}"><figcaption>${p.title}</figcaption>
<svg class="chart" viewBox="0 0 ${W} ${H}" role="img" aria-label="${p.title} over time" preserveAspectRatio="xMidYMid meet">
<rect x="${LEFT}" y="${TOP}" width="${W - LEFT - RIGHT}" height="${H - TOP - BOTTOM}" fill="none" stroke="#ccc"/>
${grid}${xAxis}${lines}<text x="${W - RIGHT}" y="${H - 2}" text-anchor="end" font-size="10" fill="#666">time (UTC)</text></svg>
<div class="legend">${legend}</div></figure>`;
}

/**
 * The monitoring panels of a model's snapshots (oldest first), with a summary line; a note when
 * there are none.
 */
export function monitorChart(snaps: readonly MonitorSnapshot[]): string {
  if (snaps.length === 0) return '<p class="empty">no monitoring data yet</p>';
  const times = snaps.map((s) => Date.parse(s.at));
  let t0 = Math.min(...times);
  let t1 = Math.max(...times);
  if (!(t1 > t0)) {
    t0 -= 30_000;
    t1 += 30_000;
  }
  const panels = PANELS.filter((p) =>
    snaps.some((s) => p.series.some(([k]) => s.metrics[k] !== undefined)),
  )
    .map((p) => panelSvg(p, snaps, times, t0, t1))
    .join('');
  const first = snaps[0]!;
  const last = snaps[snaps.length - 1]!;
  const latest = Object.entries(last.metrics)
    .map(([k, v]) => `${esc(k)}=${formatMetric(k, Number(v))}`)
    .join(', ');
  return `<div id="monitor-chart" class="panels">${panels}</div>
<p class="muted" id="monitor-summary">${snaps.length} snapshots, ${esc(first.at)} to ${esc(last.at)}; latest: ${latest}</p>`;
}
