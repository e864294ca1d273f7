import { createHash } from 'node:crypto';
import * as echarts from 'echarts';

/** A named series of `[x, y]` points. */
export interface LineSeries {
  readonly name: string;
  readonly points: ReadonlyArray<readonly [number, number]>;
  readonly dashed?: boolean;
}

/** Options shared by the charts. */
export interface ChartOptions {
  readonly title: string;
  /** Width of the drawing in px (default 640; the SVG scales to its container). */
  readonly width?: number;
  readonly height?: number;
  /**
   * Leave the title and the legend out of the SVG (default false): the page draws them around
   * the plot (the audit report does, from {@link chartLegend}), so they can never overlap it.
   */
  readonly embedded?: boolean;
}

/**
 * A palette that stays distinguishable in grayscale print and for common colour blindness; the
 * n-th series of a chart gets the n-th colour.
 */
export const CHART_PALETTE: readonly string[] = [
  '#0b5cad',
  '#d1495b',
  '#2e933c',
  '#edae49',
  '#6a4c93',
  '#00798c',
  '#8d6e63',
];

/**
 * The legend of a chart whose series are `series` (in order), for a page that draws it itself
 * ({@link ChartOptions.embedded}): each name with its series' colour.
 */
export function chartLegend(
  series: ReadonlyArray<{ readonly name: string; readonly dashed?: boolean }>,
): { name: string; color: string; dashed?: boolean }[] {
  return series.map((s, i) => ({
    name: s.name,
    color: CHART_PALETTE[i % CHART_PALETTE.length]!,
    ...(s.dashed ? { dashed: true } : {}),
  }));
}

/** The grid's top margin: room for the title and the legend when the SVG draws them. */
const top = (options: ChartOptions, withTitle: number): number =>
  options.embedded ? 24 : withTitle;

/**
 * The SVG with zrender's instance-numbered class and id prefixes (`zr0-`, `zr1-`, …, a process-
 * wide counter) replaced by one derived from the chart's content: the same chart gives the same
 * bytes in any process (reports are reproducible), and two different charts on one page still
 * have distinct class names for their embedded styles.
 */
function stableIds(svg: string): string {
  // zrender numbers instances (`zr3-`) and style classes (`cls-7`) process-wide: renumber each
  // distinct name in order of first appearance, then tag with the content's hash.
  const names = new Map<string, string>();
  const normal = svg.replace(/\bzr\d+-([A-Za-z]+)-?(\d+)\b/g, (m, kind: string) => {
    let n = names.get(m);
    if (n === undefined) {
      n = `zr-${kind}-${names.size}`;
      names.set(m, n);
    }
    return n;
  });
  const tag = createHash('sha256').update(normal).digest('hex').slice(0, 10);
  return normal.replace(/\bzr-/g, `c${tag}-`);
}

function render(options: ChartOptions, setup: Record<string, unknown>): string {
  const chart = echarts.init(null, null, {
    renderer: 'svg',
    ssr: true,
    width: options.width ?? 640,
    height: options.height ?? 360,
  });
  try {
    chart.setOption({
      animation: false,
      color: [...CHART_PALETTE],
      textStyle: { fontFamily: 'Helvetica, Arial, sans-serif' },
      ...(options.embedded
        ? {}
        : {
            title: {
              text: options.title,
              left: 'center',
              textStyle: { fontSize: 14, fontWeight: 600 },
            },
          }),
      ...setup,
      ...(options.embedded ? { legend: { show: false } } : {}),
    });
    return stableIds(chart.renderToSVGString());
  } finally {
    chart.dispose();
  }
}

/** Axes of {@link lineChartSvg}. */
export interface LineAxes {
  readonly x: string;
  readonly y: string;
  readonly yMax?: number;
  /**
   * A base-10 logarithmic x axis (e.g. poison rates from 0.1% to 10%, which a linear axis
   * squashes): points at x ≤ 0 cannot be drawn on it and are left out.
   */
  readonly xLog?: boolean;
}

/** A tick label of a logarithmic axis: `0.1`, `1`, `10` (no float noise). */
const logTick = (v: number): string => String(Number(v.toPrecision(3)));

/**
 * A line chart as SVG markup (ECharts' server-side SVG renderer: no DOM, no script, no fonts to
 * fetch), e.g. ASR and clean accuracy against the poison rate.
 */
export function lineChartSvg(
  series: readonly LineSeries[],
  axes: LineAxes,
  options: ChartOptions,
): string {
  const keep = (p: readonly [number, number]) => !axes.xLog || p[0] > 0;
  const xs = series.flatMap((s) => s.points.filter(keep).map((p) => p[0]));
  const xAxis = axes.xLog
    ? {
        type: 'log',
        logBase: 10,
        // Whole decades around the data, so 0.1%, 1% and 10% sit on ticks.
        ...(xs.length
          ? {
              min: 10 ** Math.floor(Math.log10(Math.min(...xs))),
              max: 10 ** Math.ceil(Math.log10(Math.max(...xs))),
            }
          : {}),
        axisLabel: { formatter: logTick },
        minorTick: { show: true },
        minorSplitLine: { show: true, lineStyle: { opacity: 0.35 } },
      }
    : { type: 'value', scale: true };
  return render(options, {
    legend: { top: 26 },
    grid: { left: 64, right: 28, top: top(options, 72), bottom: 56 },
    xAxis: { ...xAxis, name: axes.x, nameLocation: 'middle', nameGap: 32 },
    yAxis: {
      type: 'value',
      name: axes.y,
      min: 0,
      ...(axes.yMax !== undefined ? { max: axes.yMax } : {}),
    },
    series: series.map((s) => ({
      type: 'line',
      name: s.name,
      data: s.points.filter(keep).map((p) => [p[0], p[1]]),
      symbolSize: 7,
      lineStyle: { type: s.dashed ? 'dashed' : 'solid', width: 2 },
    })),
  });
}

/** A named group of 2-D points for {@link scatterChartSvg}. */
export interface ScatterGroup {
  readonly name: string;
  readonly points: ReadonlyArray<readonly [number, number]>;
  readonly symbol?: 'circle' | 'triangle' | 'diamond' | 'rect';
}

/** A scatter chart as SVG markup, e.g. a 2-D projection of one class's representations. */
export function scatterChartSvg(
  groups: readonly ScatterGroup[],
  axes: { x: string; y: string },
  options: ChartOptions,
): string {
  return render(options, {
    legend: { top: 26 },
    grid: { left: 64, right: 28, top: top(options, 64), bottom: 48 },
    xAxis: { type: 'value', name: axes.x, nameLocation: 'middle', nameGap: 28, scale: true },
    yAxis: { type: 'value', name: axes.y, nameLocation: 'middle', nameGap: 36, scale: true },
    series: groups.map((g) => ({
      type: 'scatter',
      name: g.name,
      symbol: g.symbol ?? 'circle',
      symbolSize: 5,
      data: g.points.map((p) => [p[0], p[1]]),
    })),
  });
}

/** A grouped bar chart as SVG markup (e.g. clean accuracy and ASR before/after mitigation). */
export function barChartSvg(
  categories: readonly string[],
  series: ReadonlyArray<{ name: string; values: readonly number[] }>,
  axes: { y: string; yMax?: number },
  options: ChartOptions,
): string {
  return render(options, {
    legend: { top: 26 },
    grid: { left: 64, right: 28, top: top(options, 72), bottom: 40 },
    xAxis: { type: 'category', data: [...categories] },
    yAxis: {
      type: 'value',
      name: axes.y,
      min: 0,
      ...(axes.yMax !== undefined ? { max: axes.yMax } : {}),
    },
    series: series.map((s) => ({
      type: 'bar',
      name: s.name,
      data: [...s.values],
      label: {
        show: true,
        position: 'top',
        formatter: (p: { value: number }) => p.value.toFixed(1),
      },
    })),
  });
}
