import { join } from 'node:path';
import * as echarts from 'echarts';
import type { SweepResult, SweepRow } from '../eval/sweep.js';
import { sweepToCsv } from '../eval/sweep.js';
import { writeFileAtomic } from '../util/fs.js';

/** One line of the sweep chart: mean over seeds at each poison rate. */
export interface SweepSeries {
  /** Legend name, e.g. `accuracy (pattern)` or `ASR (pattern)`. */
  readonly name: string;
  readonly metric: 'accuracy' | 'attackSuccessRate' | 'cleanAccuracy';
  readonly trigger: string;
  /** `[rate, mean value]`, ascending rate. */
  readonly points: [number, number][];
}

const METRIC_LABEL = {
  accuracy: 'accuracy',
  attackSuccessRate: 'ASR',
  cleanAccuracy: 'clean-model accuracy',
} as const;

/**
 * Aggregates sweep rows into chart series: per trigger, the poisoned model's accuracy and (for
 * backdoors) ASR against the poison rate, plus the clean model's accuracy, each averaged over
 * seeds. Metrics absent from every row (ASR for label flips) give no series.
 */
export function sweepChartSeries(rows: readonly SweepRow[]): SweepSeries[] {
  const triggers = [...new Set(rows.map((r) => r.trigger))];
  const out: SweepSeries[] = [];
  for (const trigger of triggers) {
    for (const metric of ['accuracy', 'attackSuccessRate', 'cleanAccuracy'] as const) {
      const byRate = new Map<number, number[]>();
      for (const r of rows) {
        const v = r[metric];
        if (r.trigger !== trigger || v === null) continue;
        const list = byRate.get(r.rate) ?? [];
        list.push(v);
        byRate.set(r.rate, list);
      }
      if (byRate.size === 0) continue;
      if (metric === 'cleanAccuracy' && trigger !== triggers[0]) continue; // one baseline is enough
      const points = [...byRate.entries()]
        .sort((a, b) => a[0] - b[0])
        .map(([rate, vs]) => [rate, vs.reduce((a, b) => a + b, 0) / vs.length] as [number, number]);
      const suffix = trigger && metric !== 'cleanAccuracy' ? ` (${trigger})` : '';
      out.push({ name: `${METRIC_LABEL[metric]}${suffix}`, metric, trigger, points });
    }
  }
  return out;
}

/** Options of {@link renderSweepChart}. */
export interface SweepChartOptions {
  readonly width?: number;
  readonly height?: number;
  readonly title?: string;
}

/**
 * The sweep as an SVG line chart (accuracy and ASR in % against the poison rate in %), rendered
 * server-side by ECharts' SVG renderer (no DOM, no animation).
 */
export function renderSweepChart(
  result: Pick<SweepResult, 'rows' | 'name' | 'attack'>,
  options: SweepChartOptions = {},
): string {
  const width = options.width ?? 720;
  const height = options.height ?? 420;
  const chart = echarts.init(null, null, { renderer: 'svg', ssr: true, width, height });
  try {
    const series = sweepChartSeries(result.rows);
    chart.setOption({
      animation: false,
      title: {
        text: options.title ?? result.name ?? `${result.attack.attack} sweep`,
        left: 'center',
        textStyle: { fontSize: 14 },
      },
      legend: { top: 28, type: 'plain' },
      grid: { left: 60, right: 24, top: 80, bottom: 50 },
      xAxis: { type: 'value', name: 'poison rate (%)', nameLocation: 'middle', nameGap: 28 },
      yAxis: { type: 'value', name: '%', min: 0, max: 100 },
      series: series.map((s) => ({
        type: 'line',
        name: s.name,
        data: s.points.map(([r, v]) => [+(r * 100).toFixed(4), +(v * 100).toFixed(4)]),
        symbolSize: 6,
        lineStyle: {
          type:
            s.metric === 'accuracy'
              ? 'solid'
              : s.metric === 'attackSuccessRate'
                ? 'dashed'
                : 'dotted',
        },
      })),
    });
    return chart.renderToSVGString();
  } finally {
    chart.dispose();
  }
}

/** Paths written by {@link writeSweepOutputs}. */
export interface SweepOutputPaths {
  readonly json: string;
  readonly csv: string;
  readonly svg: string;
}

/**
 * Writes a sweep to `dir`: `sweep.json` (rows and every experiment result), `sweep.csv` (the
 * rows) and `sweep.svg` (the chart), each atomically.
 */
export async function writeSweepOutputs(
  dir: string,
  result: SweepResult,
  options: SweepChartOptions = {},
): Promise<SweepOutputPaths> {
  const paths = {
    json: join(dir, 'sweep.json'),
    csv: join(dir, 'sweep.csv'),
    svg: join(dir, 'sweep.svg'),
  };
  const svg = renderSweepChart(result, options);
  await writeFileAtomic(paths.json, `${JSON.stringify(result, null, 2)}\n`);
  await writeFileAtomic(paths.csv, sweepToCsv(result.rows));
  await writeFileAtomic(paths.svg, svg);
  return paths;
}
