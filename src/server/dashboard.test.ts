import { describe, expect, it } from 'vitest';
import type { Alert, ModelVersion, MonitorSnapshot } from '../registry/model-registry.js';
import { alertsPage, auditPage, modelPage } from './dashboard.js';
import { formatMetric, monitorChart } from './monitor-chart.js';

const T0 = Date.parse('2026-01-05T10:00:00Z');

function snap(id: number, minutes: number, metrics: Record<string, number>): MonitorSnapshot {
  return {
    id,
    name: 'm',
    versionId: 'm@1',
    at: new Date(T0 + minutes * 60_000).toISOString(),
    metrics,
  };
}

/** The y-axis tick labels of one chart panel. */
function ticks(html: string, panel: string): string[] {
  const svg = html.split(`data-panel="${panel}"`)[1]!.split('</svg>')[0]!;
  return [...svg.matchAll(/text-anchor="end" font-size="13">([^<]*)</g)].map((m) => m[1]!);
}

describe('monitoring chart', () => {
  const snaps = [
    snap(1, 0, {
      requests: 50,
      records: 50,
      failed: 0,
      stripRejectRate: 0.05,
      predictionPsi: 0.02,
    }),
    snap(2, 10, { requests: 80, records: 80, failed: 1, stripRejectRate: 0.1, inputPsiMax: 0.3 }),
    snap(3, 40, {
      requests: 106,
      records: 212,
      failed: 2,
      stripRejectRate: 0.9,
      inputPsiMax: 9.36,
    }),
  ];
  const html = monitorChart(snaps);

  it('draws one panel per kind of metric, each on its own axis', () => {
    expect([...html.matchAll(/data-panel="(\w+)"/g)].map((m) => m[1])).toEqual([
      'strip',
      'drift',
      'traffic',
    ]);
    // The rate axis stays a 0–100% axis; the PSI of 9.36 gets its own.
    expect(ticks(html, 'strip')).toEqual(['0%', '50%', '100%']);
    expect(ticks(html, 'drift').at(-1)).toBe('10');
    expect(ticks(html, 'traffic').every((t) => /^\d+$/.test(t))).toBe(true);
  });

  it('places snapshots on a real time axis', () => {
    const xs = [...html.split('data-panel="traffic"')[1]!.matchAll(/points="([^"]*)"/g)][0]![1]!
      .split(' ')
      .map((p) => Number(p.split(',')[0]));
    // 0, 10 and 40 minutes: the gaps are in the ratio 10 : 30, not evenly spaced.
    expect((xs[2]! - xs[1]!) / (xs[1]! - xs[0]!)).toBeCloseTo(3, 5);
    expect(html).toContain('>10:00<');
    expect(html).toContain('>10:30<');
    expect(html).toContain('time (UTC)');
  });

  it('shows counts as integers, rates as percentages', () => {
    expect(html).toMatch(/requests=106,/);
    expect(html).not.toMatch(/106\.0/);
    expect(html).toContain('stripRejectRate=90.0%');
    expect(formatMetric('inputPsiMax', 9.36)).toBe('9.360');
    expect(formatMetric('failed', 2.0000001)).toBe('2');
    expect(monitorChart([])).toContain('no monitoring data yet');
    // One snapshot: a point, not an empty chart.
    expect(monitorChart(snaps.slice(0, 1))).toContain('<circle');
  });
});

describe('dashboard pages', () => {
  const version: ModelVersion = {
    id: 'm@1',
    name: 'm',
    version: 1,
    stage: 'staging',
    dir: 'models/m',
    rootDigest: 'sha256:'.padEnd(71, 'a'),
    registeredAt: '2026-01-05T09:00:00.000Z',
    info: { signed: true },
  } as unknown as ModelVersion;
  const prod = { ...version, id: 'm@2', version: 2, stage: 'production' } as ModelVersion;
  const render = (readOnly: boolean) =>
    modelPage('m', [version, prod], new Map(), [], [], [], [], undefined, new Map(), { readOnly });

  it('hides the token box and every action on a read-only server', () => {
    const rw = render(false);
    expect(rw).toContain('id="token"');
    expect(rw).toContain('data-action="promote"');
    expect(rw).toContain('data-action="rollback"');
    const ro = render(true);
    expect(ro).not.toContain('id="token"');
    expect(ro).not.toContain('data-action');
    expect(ro).toContain('read-only server');
  });

  it('shows 13 alerts of one burst as one row ×13', () => {
    const alerts: Alert[] = Array.from({ length: 13 }, (_, i) => ({
      id: 13 - i,
      name: 'm',
      versionId: 'm@2',
      monitor: 'strip',
      severity: 'critical' as const,
      message: `STRIP rejected ${90 - i}% <b>`,
      details: {},
      at: new Date(T0 + (12 - i) * 250).toISOString(),
    }));
    const html = alertsPage(alerts);
    expect(html.match(/<tr>/g)).toHaveLength(2); // head + one group
    expect(html).toContain('×13');
    expect(html).toContain('2026-01-05T10:00:00.000Z');
    expect(html).toContain('2026-01-05T10:00:03.000Z');
    expect(html).toContain('STRIP rejected 90% &lt;b&gt;');
  });

  it('keeps the whole JSON of an audit entry (folded, never cut)', () => {
    const details = { note: 'x'.repeat(300), end: 'THE-END' };
    const html = auditPage([{ seq: 1, time: 't', actor: 'a', action: 'do', details } as never], {
      ok: true,
      entries: 1,
    });
    expect(html).toContain('THE-END');
    expect(html).toContain('<details class="json">');
  });
});
