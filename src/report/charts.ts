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
  readonly width?: number;
  readonly height?: number;
}

// A palette that stays distinguishable in grayscale print and for common colour blindness.
const PALETTE = ['#0b5cad', '#d1495b', '#2e933c', '#edae49', '#6a4c93', '#00798c', '#8d6e63'];

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
      color: PALETTE,
      textStyle: { fontFamily: 'Helvetica, Arial, sans-serif' },
      title: { text: options.title, left: 'center', textStyle: { fontSize: 14, fontWeight: 600 } },
      ...setup,
    });
    return chart.renderToSVGString();
  } finally {
    chart.dispose();
  }
}

/**
 * A line chart as SVG markup (ECharts' server-side SVG renderer: no DOM, no script, no fonts to
 * fetch), e.g. ASR and clean accuracy against the poison rate.
 */
export function lineChartSvg(
  series: readonly LineSeries[],
  axes: { x: string; y: string; yMax?: number },
  options: ChartOptions,
): string {
  return render(options, {
    legend: { top: 26 },
    grid: { left: 64, right: 28, top: 72, bottom: 56 },
    xAxis: { type: 'value', name: axes.x, nameLocation: 'middle', nameGap: 32, scale: true },
    yAxis: {
      type: 'value',
      name: axes.y,
      min: 0,
      ...(axes.yMax !== undefined ? { max: axes.yMax } : {}),
    },
    series: series.map((s) => ({
      type: 'line',
      name: s.name,
      data: s.points.map((p) => [p[0], p[1]]),
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
    grid: { left: 64, right: 28, top: 64, bottom: 48 },
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
    grid: { left: 64, right: 28, top: 72, bottom: 40 },
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
