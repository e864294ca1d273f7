import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { SweepResult, SweepRow } from '../eval/sweep.js';
import { renderSweepChart, sweepChartSeries, writeSweepOutputs } from './sweep-chart.js';

const row = (
  seed: number,
  rate: number,
  trigger: string,
  accuracy: number,
  asr: number | null,
): SweepRow => ({
  seed,
  rate,
  trigger,
  poisoned: Math.round(rate * 100),
  cleanAccuracy: 0.99,
  accuracy,
  accuracyDrop: 0.99 - accuracy,
  attackSuccessRate: asr,
  robustAccuracy: asr === null ? null : 1 - asr,
});

const rows = [
  row(1, 0.1, 'pattern', 0.98, 0.9),
  row(2, 0.1, 'pattern', 0.96, 1),
  row(1, 0.01, 'pattern', 0.99, 0.5),
  row(2, 0.01, 'pattern', 0.97, 0.7),
];

describe('sweep chart', () => {
  it('averages over seeds, sorts by rate, one series per metric', () => {
    const s = sweepChartSeries(rows);
    expect(s.map((x) => x.name)).toEqual([
      'accuracy (pattern)',
      'ASR (pattern)',
      'clean-model accuracy',
    ]);
    expect(s[0]?.points[0]?.[0]).toBe(0.01);
    expect(s[0]?.points[0]?.[1]).toBeCloseTo(0.98, 12);
    expect(s[1]?.points[1]?.[1]).toBeCloseTo(0.95, 12);
    const flips = sweepChartSeries([row(1, 0.1, '', 0.9, null)]);
    expect(flips.map((x) => x.name)).toEqual(['accuracy', 'clean-model accuracy']);
  });
  it('renders an SVG with the legend and axes', () => {
    const svg = renderSweepChart({ rows, name: 'MNIST pattern', attack: { attack: 'none' } });
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('MNIST pattern');
    expect(svg).toContain('ASR (pattern)');
    expect(svg).toContain('poison rate (%)');
    expect(svg.match(/<path/g)?.length).toBeGreaterThan(5);
  });
  it('writes json, csv and svg', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'antidote-sweep-'));
    try {
      const result: SweepResult = {
        attack: { attack: 'none' },
        victim: { model: 'cnn' },
        rows,
        results: [],
      };
      const p = await writeSweepOutputs(join(dir, 'out'), result);
      expect(JSON.parse(await readFile(p.json, 'utf8')).rows).toEqual(rows);
      expect((await readFile(p.csv, 'utf8')).split('\r\n')[1]).toBe(
        '1,pattern,0.1,10,0.99,0.98,0.010000000000000009,0.9,0.09999999999999998',
      );
      expect(await readFile(p.svg, 'utf8')).toMatch(/^<svg/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
